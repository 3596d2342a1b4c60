"""Prefect events the package emits, for automations and deployment triggers."""

from __future__ import annotations

from typing import Any, Literal

from prefect.events import emit_event

from piktid_prefect.runtime.results import GenerationResult, GenerationSpec, UploadedImage
from piktid_prefect.wire.errors import redact

__all__ = ["emit_credits_low_event", "emit_generation_event", "emit_image_rejected_event"]


def emit_generation_event(
    outcome: Literal["completed", "failed"],
    image: UploadedImage,
    spec: GenerationSpec,
    *,
    result: GenerationResult | None = None,
    error: BaseException | None = None,
) -> None:
    """Emit ``piktid.generation.completed`` / ``.failed`` for automations."""
    resource = {
        "prefect.resource.id": f"piktid.image.{image.image_id}",
        "prefect.resource.name": image.name,
        "piktid.kind": spec.kind,
        "piktid.keyword": ",".join(f"{k}={v}" for k, v in spec.keyword.items()),
    }
    if spec.person_id is not None:
        resource["piktid.person"] = str(spec.person_id)
    payload: dict[str, Any] = {"keyword": spec.keyword, "seed": spec.seed}
    if result is not None:
        payload.update(link=result.link, seconds=round(result.seconds, 3))
    if error is not None:
        payload.update(error_type=type(error).__name__, error=redact(str(error)))
    emit_event(event=f"piktid.generation.{outcome}", resource=resource, payload=payload)


def emit_credits_low_event(account_key: str, balance: float, threshold: float, spent: int) -> None:
    """Emit ``piktid.credits.low``: the balance fell under the threshold the user set.

    The resource is the account (its secret-free key), so an automation can match one
    account: ``{"prefect.resource.id": "piktid.account.<key>"}``.
    """
    emit_event(
        event="piktid.credits.low",
        resource={"prefect.resource.id": f"piktid.account.{account_key}"},
        payload={"balance": balance, "threshold": threshold, "spent_by_run": spent},
    )


def emit_image_rejected_event(image: str, sha256: str, reason: str) -> None:
    """Emit ``piktid.image.rejected``: a source image was skipped (nothing was paid for it)."""
    emit_event(
        event="piktid.image.rejected",
        resource={"prefect.resource.id": f"piktid.source.{sha256}", "prefect.resource.name": image},
        payload={"image": image, "reason": redact(reason)},
    )
