"""Small Prefect-facing helpers shared by tasks and flows: credentials, retries, events."""

from __future__ import annotations

import threading
from typing import Any, Literal, Union, cast

from prefect.client.schemas.objects import State, TaskRun
from prefect.events import emit_event

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.runtime.results import GenerationResult, GenerationSpec, UploadedImage
from piktid_prefect.wire.errors import is_transient, redact

__all__ = [
    "CredentialsLike",
    "emit_generation_event",
    "resolve_credentials",
    "retry_on_transient",
]

# A block, the name of a saved block, or None for the PIKTID_* environment variables.
CredentialsLike = Union[PiktidCredentials, str, None]  # noqa: UP007 - Prefect parameter schema

_loaded: dict[str, PiktidCredentials] = {}
_loaded_lock = threading.Lock()


def resolve_credentials(credentials: CredentialsLike) -> PiktidCredentials:
    """Turn a block, a saved block's name, or None (environment) into a block."""
    if isinstance(credentials, PiktidCredentials):
        return credentials
    if credentials is None:
        return PiktidCredentials.from_env()
    with _loaded_lock:
        block = _loaded.get(credentials)
        if block is None:
            block = _loaded[credentials] = cast(
                PiktidCredentials, PiktidCredentials.load(credentials)
            )
        return block


def retry_on_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry only 429/5xx/transport failures."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


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
