"""A local PiktID emulator: a real HTTP server speaking the PiktID v1 wire format.

It answers under ``http://HOST:PORT/api`` like ``https://api.piktid.com/api``: tokens, uploads
with real face detection, asynchronous person/background generations that end in
notifications, result files under ``/files``, the poll rate limit, and injectable faults.
It also speaks the products a result is chained into: SuperID upscales (x2/x4, charged in
fractions of a credit) and consistent-identity face swaps (``docs/chain-api.md``).
Durations are in API-seconds on a virtual clock (``time_scale``, ``advance()``).

Example:
    ```python
    from piktid_prefect.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(time_scale=0.01)) as emulator:
        account = emulator.create_account(credits=100)
        ...  # point a client at account.base_url with account.access_token
        print(emulator.stats(account.email).credits_charged)
    ```
"""

from piktid_prefect.emulator.config import EmulatorConfig, FaultConfig
from piktid_prefect.emulator.server import EmulatorAccount, EmulatorServer, serve
from piktid_prefect.emulator.stats import EmulatorStats, GenerationKey, GenerationRecord

__all__ = [
    "EmulatorAccount",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorStats",
    "FaultConfig",
    "GenerationKey",
    "GenerationRecord",
    "serve",
]
