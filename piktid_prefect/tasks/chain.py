"""Tasks chained after a variation: ``upscale``, ``swap_identity``, and ``create_identity``.

Each takes the previous result (a variation's :class:`GenerationResult` or a step's
:class:`StepResult`) and passes its *link* on: nothing is downloaded between steps. Each
is cached on the chain's identity (the variation's output identity, then every step so
far; :func:`~piktid_prefect.runtime.chain_models.chain_identity`), so a re-run, or a run
killed mid-chain and re-run, pays only for the steps not yet delivered; a step started
by the killed run is found in the journal and waited for, not paid again.

Example:
    ```python
    from prefect import flow
    from piktid_prefect.tasks import create_identity, generate_output, swap_identity, upscale

    @flow
    def variation_then_chain(image, spec):
        name = create_identity(None, "face.jpg", "ada")
        variation = generate_output(None, image, spec)
        return swap_identity(None, upscale(None, variation, 2), name)
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from prefect.context import TaskRunContext
from prefect.logging import get_run_logger

from piktid_prefect.credentials import CredentialsLike, resolve_credentials
from piktid_prefect.runtime import chain, credits, generation
from piktid_prefect.runtime.chain_models import (
    IdentityStep,
    StepResult,
    UpscaleStep,
    chain_identity,
)
from piktid_prefect.runtime.notifications import DEFAULT_TIMEOUT_SECONDS
from piktid_prefect.runtime.results import GenerationResult
from piktid_prefect.tasks._twins import declared_task
from piktid_prefect.tasks.steps import retry_on_transient
from piktid_prefect.wire.images import load_image
from piktid_prefect.wire.models_chain import OutputFormat

__all__ = ["chain_cache_key", "create_identity", "step_cache_key", "swap_identity", "upscale"]

ChainInput = GenerationResult | StepResult


def _step_of(parameters: dict[str, Any]) -> UpscaleStep | IdentityStep:
    if "identity_name" in parameters:
        return IdentityStep(
            identity_name=parameters["identity_name"], options=parameters.get("options") or {}
        )
    return UpscaleStep(
        scale_factor=parameters.get("scale_factor", 2),
        fast=parameters.get("fast", False),
        output_format=parameters.get("output_format", "PNG"),
    )


def chain_cache_key(identity: str) -> str:
    """The cache key of the step whose chain identity is ``identity``."""
    return "piktid-chain-" + identity


def step_cache_key(context: TaskRunContext | None, parameters: dict[str, Any]) -> str:
    """The chain's identity up to this step (the variation's identity already names the
    account; an identity name is the account's own)."""
    previous: ChainInput = parameters["previous"]
    return chain_cache_key(chain_identity(previous.identity, _step_of(parameters)))


_CACHED: dict[str, Any] = {
    "cache_key_fn": step_cache_key,
    "persist_result": True,
    "cache_result_in_memory": False,  # as generate_output: Prefect's LRU is not thread-safe
    "retry_condition_fn": retry_on_transient,
}


def _run(
    credentials: CredentialsLike,
    previous: ChainInput,
    step: UpscaleStep | IdentityStep,
    timeout_seconds: float,
    budget: credits.CreditBudget | None,
) -> StepResult:
    account = resolve_credentials(credentials)
    place = previous.steps_so_far + 1 if isinstance(previous, StepResult) else 1
    with credits.charged_to(budget):
        result = chain.run_step(
            account,
            previous.link,
            chain_identity(previous.identity, step),
            step,
            steps_so_far=place,
            timeout_seconds=timeout_seconds,
        )
    get_run_logger().info("Finished %s in %.1f s", result.job, result.seconds)
    return result


@declared_task(name="piktid-upscale", task_run_name="upscale x{scale_factor}", **_CACHED)
def upscale(
    credentials: CredentialsLike,
    previous: ChainInput,
    scale_factor: Literal[2, 4] = 2,
    *,
    fast: bool = False,
    output_format: OutputFormat = "PNG",
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    budget: credits.CreditBudget | None = None,
) -> StepResult:
    """Upscale a result with SuperID; cached on the chain's identity.

    Args:
        credentials: Block, block name, or None for the environment.
        previous: A variation (``generate_output``) or a step before this one.
        scale_factor: 2 or 4.
        fast: The fast upscaler.
        output_format: PNG or JPEG.
        timeout_seconds: How long to wait for the ``superid`` notification.
        budget: The run whose ``max_credits`` the (fractional) price counts against.
    """
    step = UpscaleStep(scale_factor=scale_factor, fast=fast, output_format=output_format)
    return _run(credentials, previous, step, timeout_seconds, budget)


@declared_task(name="piktid-swap-identity", task_run_name="identity {identity_name}", **_CACHED)
def swap_identity(
    credentials: CredentialsLike,
    previous: ChainInput,
    identity_name: str,
    *,
    options: dict[str, Any] | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    budget: credits.CreditBudget | None = None,
) -> StepResult:
    """Put a saved identity's face (see :func:`create_identity`) on a result's first face;
    cached on the chain's identity.

    Args:
        credentials: Block, block name, or None for the environment.
        previous: A variation (``generate_output``) or a step before this one.
        identity_name: The identity to swap in.
        options: ``IdentitySwapOptions`` (``seed``, ``prompt_strength``, ``transfer_hair``).
        timeout_seconds: How long to wait for the ``download`` notification.
        budget: The run whose ``max_credits`` the swap counts against.
    """
    step = IdentityStep(identity_name=identity_name, options=options or {})
    return _run(credentials, previous, step, timeout_seconds, budget)


def _identity_cache_key(context: TaskRunContext | None, parameters: dict[str, Any]) -> str:
    account = resolve_credentials(parameters.get("credentials")).account_key
    face = load_image(parameters["face_image"]).sha256
    return f"piktid-identity-{account}-{face}-{parameters['identity_name']}"


@declared_task(
    name="piktid-create-identity",
    task_run_name="identity {identity_name}",
    cache_key_fn=_identity_cache_key,
    persist_result=True,
    retry_condition_fn=retry_on_transient,
)
def create_identity(
    credentials: CredentialsLike, face_image: str | Path | bytes, identity_name: str
) -> str:
    """Save a face as an identity to swap in (free; cached on the face's content and name).

    Returns:
        The identity name to give :func:`swap_identity`.
    """
    client = generation.client_for(resolve_credentials(credentials))
    return client.upload_face(face_image, identity_name=identity_name)
