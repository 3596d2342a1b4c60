"""How long a lost start answer holds one output up, against a fast emulator.

Three cases, each one output whose first start answer is lost:
- a 502 before the server did anything (not charged): the ledger settles it;
- the answer lost after the start was charged: the ledger says "charged", its result comes;
- a 502 with ``GET /me`` failing too (no ledger): the settle window ends the wait.

Prints seconds per case, the credits charged, and what the old rule (wait the whole
notification timeout) would have cost. Run: ``python benchmarks/lost_starts.py``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorConfig, EmulatorServer, FaultConfig
from piktid_prefect.runtime import generation
from piktid_prefect.runtime.journal import JobJournal
from piktid_prefect.runtime.results import GenerationSpec

TIME_SCALE = 0.05
TIMEOUT_SECONDS = 600.0 * TIME_SCALE * 10  # 300 s: far longer than any case may take
WINDOW_SECONDS = 10.0


def _unfault_after_first_start(emulator: EmulatorServer, email: str, keep: FaultConfig) -> None:
    def watch() -> None:
        while emulator.stats(email).requests.get("POST /edit/generate", 0) < 1:
            time.sleep(0.005)
        emulator.set_faults(keep)

    threading.Thread(target=watch, daemon=True).start()


def one_case(emulator: EmulatorServer, faults: FaultConfig, keep: FaultConfig) -> tuple[float, int]:
    account = emulator.create_account(credits=100)
    creds = PiktidCredentials(
        base_url=account.base_url,
        email=account.email,
        password=account.password,
        poll_interval_seconds=3.0 * TIME_SCALE,
    )
    photo = next(p for p in sample_images() if p.stem == "astronaut")
    image = generation.upload(creds, str(photo))
    spec = GenerationSpec(
        kind="person", person_id=0, keyword={"Location": "Oceania"}, options={"seed": 1}
    )
    emulator.set_faults(faults)
    _unfault_after_first_start(emulator, account.email, keep)
    began = time.monotonic()
    generation.generate(
        creds, image, spec, timeout_seconds=TIMEOUT_SECONDS, journal=JobJournal(tempfile.mkdtemp())
    )
    seconds = time.monotonic() - began
    emulator.set_faults(FaultConfig())
    return seconds, emulator.stats(account.email).credits_charged


def main() -> None:
    os.environ["PIKTID_LOST_START_WINDOW_SECONDS"] = str(WINDOW_SECONDS)
    on_start = ("/edit/generate",)
    # name: (faults until the first start, faults after it, what the old rule waited)
    cases = {
        "502 before processing (not charged), ledger": (
            FaultConfig(http_502=1.0, endpoints=on_start),
            FaultConfig(),
            f">= {TIMEOUT_SECONDS:g} s",
        ),
        "answer lost after a charged start, ledger": (
            FaultConfig(lose_response_after_start=1.0, endpoints=on_start),
            FaultConfig(),
            "the same (its notification came)",
        ),
        f"502, /me failing too: the {WINDOW_SECONDS:g} s window": (
            FaultConfig(http_502=1.0, http_500=1.0, endpoints=(*on_start, "/me")),
            FaultConfig(http_500=1.0, endpoints=("/me",)),
            f">= {TIMEOUT_SECONDS:g} s",
        ),
    }
    generation_seconds = 8.0 * TIME_SCALE
    print(
        f"emulator time scale {TIME_SCALE}: one generation {generation_seconds:.2f} s; "
        f"notification timeout {TIMEOUT_SECONDS:g} s"
    )
    with EmulatorServer(EmulatorConfig(time_scale=TIME_SCALE, seed=0)) as emulator:
        for name, (faults, keep, old) in cases.items():
            seconds, charged = one_case(emulator, faults, keep)
            print(f"{name:52s} {seconds:6.2f} s  credits {charged}  (old rule: {old})")


if __name__ == "__main__":
    main()
