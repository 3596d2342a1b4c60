"""What the chained steps of a run will cost, checked before the first start (issue 24).

The preflight (:mod:`.preflight`) prices the variations at one credit each. The steps
after them (``RunSettings.then``) have their own prices: an upscale's comes from
``/superid_info`` (fractional; asked once per source image and scale, on a free upload
of the source, whose size the variation keeps), an identity swap costs
:data:`~piktid_prefect.runtime.chain.IDENTITY_SWAP_CREDITS`. A step whose result is in
Prefect's cache (its chain identity's key) costs nothing. The run is refused before any
start when the variations and the steps together do not fit the balance or
``max_credits``; with ``allow_partial`` it goes on and the run's budget stops the steps
that no longer fit, mid-chain.
"""

from __future__ import annotations

from typing import Any

from prefect.logging import get_run_logger
from prefect.results import get_result_store

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.execution.preflight import Preflight, read_balance
from piktid_prefect.execution.settings import RunSettings
from piktid_prefect.runtime import chain, credits, generation
from piktid_prefect.runtime.blocking import run_async
from piktid_prefect.runtime.chain_models import UpscaleStep, chain_identity
from piktid_prefect.runtime.results import UploadedImage
from piktid_prefect.tasks.chain import chain_cache_key, upscale
from piktid_prefect.wire.errors import NotEnoughCredits

__all__ = ["chain_credits_needed", "check_chain_credits"]


def chain_credits_needed(
    credentials: PiktidCredentials, check: Preflight, settings: RunSettings
) -> float:
    """Credits the steps of every variation to run need (cached steps cost nothing)."""
    store = run_async(get_result_store().aupdate_for_task, upscale)
    prices: dict[tuple[str, int], float] = {}
    needed = 0.0
    for image, spec in check.to_run:
        previous = generation.identity(credentials, image, spec)
        for step in settings.then:
            previous = chain_identity(previous, step)
            if _cached(store, previous):
                continue
            if isinstance(step, UpscaleStep):
                needed += _upscale_price(credentials, image, step.scale_factor, prices)
            else:
                needed += chain.IDENTITY_SWAP_CREDITS
    return round(needed, 12)


def check_chain_credits(
    credentials: PiktidCredentials, check: Preflight, settings: RunSettings
) -> None:
    """Refuse the run when its variations and their steps do not fit (see above)."""
    if not settings.then or not check.to_run:
        return
    steps = chain_credits_needed(credentials, check, settings)
    needed = check.paid * credits.CREDITS_PER_OUTPUT + steps
    balance = check.balance if check.balance is not None else read_balance(credentials)
    cap = settings.max_credits
    short = (balance is not None and needed > balance) or (cap is not None and needed > cap)
    if not short:
        return
    has = f"the account has {credits.format_credits(balance)}" if balance is not None else ""
    limit = f"max_credits is {cap}" if cap is not None and needed > cap else has
    message = f"needs {credits.format_credits(needed)} credits with the chained steps, {limit}"
    if settings.allow_partial:
        get_run_logger().warning("%s: the steps that do not fit will not be started", message)
        return
    reason = "max_credits" if limit.startswith("max_credits") else "balance"
    raise NotEnoughCredits(f"{message}; nothing was started", reason=reason)


def _cached(store: Any, identity: str) -> bool:
    try:
        return bool(store.exists(chain_cache_key(identity)))
    except Exception:  # unreadable: count it as paid (the conservative side)
        return False


def _upscale_price(
    credentials: PiktidCredentials,
    image: UploadedImage,
    scale: int,
    prices: dict[tuple[str, int], float],
) -> float:
    key = (image.sha256, scale)
    if key not in prices:
        if image.source is None:
            # No file to ask /superid_info with (an image given as bytes): a credit, as an edit.
            prices[key] = 1.0
        else:
            client = generation.client_for(credentials)
            upload = client.upscale_upload(image.source)
            prices[key] = client.superid_info(upload, scale).required_credits
    return prices[key]
