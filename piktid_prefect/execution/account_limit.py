"""The account-wide cap of a flow run: a Prefect global concurrency limit, checked once.

Every generation holds one slot of the named limit (``runtime/generation.py``). Prefect's
``concurrency(..., strict=False)`` only warns when the limit does not exist, once per
generation: 13 identical warnings for a 13-output run, and nothing capped. A flow
therefore looks the limit up once when it starts, and when it is missing says so once
(with the command that creates it) and runs its generations without a limit.
"""

from __future__ import annotations

__all__ = ["DEFAULT_ACCOUNT_LIMIT", "existing_concurrency_limit"]

# The limit every shipped entry point names (deployments/prefect.yaml, deployments/serve.py,
# the README's Dask example). Created by the user: `prefect gcl create piktid-account ...`.
DEFAULT_ACCOUNT_LIMIT = "piktid-account"


def existing_concurrency_limit(name: str | None) -> str | None:
    """``name`` if that global concurrency limit exists on the Prefect server, else None.

    Call it once per flow run, from the flow body; a missing limit logs one warning.
    """
    # Imported here: the command line names DEFAULT_ACCOUNT_LIMIT before Prefect is imported.
    from prefect import get_run_logger
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    if not name:
        return None
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            get_run_logger().warning(
                "Global concurrency limit %r does not exist: this run's generations are not"
                " capped account-wide. Create it with `prefect gcl create %s --limit N`"
                " (or pass concurrency_limit=None to run without a cap).",
                name,
                name,
            )
            return None
    return name
