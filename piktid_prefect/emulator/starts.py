"""What every product's handlers share: reading ``options``, and a paid start.

A start is the same for every product: charge, roll the job's faults, schedule it. The
charge comes first and is all-or-nothing (402 takes nothing); a start that is charged
is scheduled, and drawing its result begins at once (see ``EmulatorEngine.prerender``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from starlette.requests import Request

from piktid_prefect.emulator.bodies import unknown_options, wire_options
from piktid_prefect.emulator.config import FaultKind
from piktid_prefect.emulator.engine import EmulatorEngine
from piktid_prefect.emulator.faults import api_path
from piktid_prefect.emulator.state import Generation, ImageRecord

__all__ = ["JOB_FAULTS", "request_options", "start_generation"]

# Faults that shape how a started job ends (the others act on the HTTP exchange).
JOB_FAULTS: tuple[FaultKind, ...] = (
    "lose_notification",
    "duplicate_notification",
    "error_notification",
)


def request_options(
    engine: EmulatorEngine, request: Request, email: str, value: Any, model: type[BaseModel]
) -> dict[str, Any]:
    """An ``options`` field checked by ``model``; its unknown names counted in the statistics."""
    options = wire_options(value, model)
    unknown = unknown_options(options, model)
    if unknown:
        engine.recorder.unknown_options(email, api_path(request.url.path), unknown)
    return options


def start_generation(
    engine: EmulatorEngine,
    request: Request,
    email: str,
    *,
    kind: str,
    image: ImageRecord,
    credits: float,
    person_id: int | None = None,
    keyword: dict[str, str] | None = None,
    keyword_json: str | None = None,
    prompt: str = "",
    options: dict[str, Any] | None = None,
    duration_seconds: float | None = None,
    payload: dict[str, Any] | None = None,
) -> Generation:
    """Charge ``credits`` to ``email`` (402 if short) and schedule the job."""
    path = api_path(request.url.path)
    engine.accounts.charge(email, credits)
    engine.recorder.charged(email, credits, path)
    faults = frozenset(kind_ for kind_ in JOB_FAULTS if engine.faults.fires(kind_, path, email))
    options = options or {}
    generation = engine.store.schedule(
        owner=email,
        kind=kind,
        image=image,
        person_id=person_id,
        keyword=keyword,
        keyword_json=keyword_json,
        prompt=prompt,
        seed=options.get("seed"),
        options=options,
        files_url=str(request.base_url).rstrip("/"),
        faults=faults,
        duration_seconds=duration_seconds,
        payload=payload,
    )
    engine.prerender(generation)
    engine.wake()
    return generation
