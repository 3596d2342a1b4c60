"""Prefect events the package emits, for automations and deployment triggers."""

from __future__ import annotations

from typing import Any, Literal

from prefect.events import emit_event

from piktid_prefect.runtime.results import GenerationResult, GenerationSpec, UploadedImage
from piktid_prefect.wire.errors import redact

__all__ = [
    "CREDITS_LOW_EVENT",
    "OUTPUTS_FAILED_EVENT",
    "emit_credits_low_event",
    "emit_generation_event",
    "emit_image_rejected_event",
    "emit_outputs_failed_event",
]

CREDITS_LOW_EVENT = "piktid.credits.low"
OUTPUTS_FAILED_EVENT = "piktid.run.outputs-failed"
# Errors named in the event: enough to act on, and an event stays far below the server's
# size limit however many outputs failed.
_ERRORS_IN_EVENT = 5


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


def emit_credits_low_event(
    account_key: str, balance: float, threshold: float, spent: float
) -> None:
    """Emit ``piktid.credits.low``: the balance fell under the threshold the user set.

    The resource is the account (its secret-free key), so an automation can match one
    account: ``{"prefect.resource.id": "piktid.account.<key>"}``.
    """
    emit_event(
        event=CREDITS_LOW_EVENT,
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


def emit_outputs_failed_event(
    *, failed: int, not_started: int, total: int, delivered: int, where: str, errors: list[str]
) -> None:
    """Emit ``piktid.run.outputs-failed``: a run ends with outputs it did not deliver.

    The resource is the flow run (``piktid.run.<id>``, named after it), so one run gives
    one event however many of its outputs failed.
    """
    from prefect.runtime import flow_run

    run_id, run_name = flow_run.get_id(), flow_run.get_name()
    emit_event(
        event=OUTPUTS_FAILED_EVENT,
        resource={
            "prefect.resource.id": f"piktid.run.{run_id or 'none'}",
            "prefect.resource.name": run_name or "piktid run",
        },
        payload={
            "failed": failed,
            "not_started": not_started,
            "total": total,
            "delivered": delivered,
            "where": where,
            "errors": "; ".join(redact(e) for e in errors[:_ERRORS_IN_EVENT]),
        },
    )
