"""The per-person stagger: follow-up generations start a while after the person's first.

PiktID builds a person's masks on the first ``/edit/generate`` call for that person;
calls made in parallel each build them again and all run slower, so the docs advise
waiting 15 s before the follow-ups. The wait is measured from the moment the first
start was actually sent (not from when the flow submitted it), which is what the API's
warm-up depends on.

Everything about the stagger is here:

- :func:`in_stagger_order` gives each person output its :class:`StaggerPlan` and puts
  every person's first generation ahead (all masks warm up at once);
- :func:`wait_turn` holds a follow-up until the stagger after its first's start;
- :func:`mark_started` records the first's start (or its failure: follow-ups then go);
- :func:`release` opens the gate of a first that never starts here (its output was
  cached) once it is done; a follow-up never waits longer than ``max_wait_seconds``
  either, in case the first runs in another worker process.

A gate per (run, account, image, person) lives in this process's registry.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from piktid_prefect.runtime import registry
from piktid_prefect.runtime.results import GenerationSpec, UploadedImage

__all__ = [
    "DEFAULT_STAGGER_SECONDS",
    "Planned",
    "StaggerPlan",
    "in_stagger_order",
    "mark_started",
    "release",
    "wait_turn",
]


# PiktID's docs: "A 15 second timeout is encouraged due to internal API limitations".
DEFAULT_STAGGER_SECONDS = 15.0


class StaggerPlan(BaseModel):
    """Where an output stands in its person's stagger."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Gate key: run, account, image hash and person.")
    first: bool = Field(description="True for the person's first generation.")
    seconds: float = Field(description="Delay of follow-ups after the first start.")

    @property
    def max_wait_seconds(self) -> float:
        """A follow-up's longest wait when the first runs in another process."""
        return 2.0 * self.seconds


Planned = tuple[UploadedImage, GenerationSpec, "StaggerPlan | None"]


class _Gate:
    """Opened once with the time the first generation started (epoch seconds)."""

    def __init__(self) -> None:
        self._opened = threading.Event()
        self._started_at = 0.0

    def open(self, started_at: float | None) -> None:
        # First call wins; ``None`` means "no stagger needed".
        if not self._opened.is_set():
            self._started_at = started_at if started_at is not None else float("-inf")
            self._opened.set()

    def wait(self, stagger_seconds: float, *, max_wait_seconds: float) -> float:
        began = time.monotonic()
        self._opened.wait(timeout=max_wait_seconds)
        if self._opened.is_set():
            remaining = self._started_at + stagger_seconds - time.time()
            budget = max_wait_seconds - (time.monotonic() - began)
            if remaining > 0 and budget > 0:
                time.sleep(min(remaining, budget))
        return time.monotonic() - began


def _gate(plan: StaggerPlan) -> _Gate:
    return registry.shared("stagger-gate", plan.key, _Gate)


def in_stagger_order(
    work: Sequence[tuple[UploadedImage, GenerationSpec]],
    *,
    account_key: str,
    stagger_seconds: float,
) -> list[Planned]:
    """Each person's first generation first, then backgrounds, then the follow-ups.

    Submitting the firsts ahead lets every person's mask warm-up start at once, so no
    follow-up waits behind a queue of other persons' firsts.
    """
    run_id = uuid.uuid4().hex[:8]
    firsts: list[Planned] = []
    backgrounds: list[Planned] = []
    follow_ups: list[Planned] = []
    seen: set[str] = set()
    for image, spec in work:
        if spec.kind != "person" or stagger_seconds <= 0:
            (backgrounds if spec.kind == "background" else firsts).append((image, spec, None))
            continue
        key = f"{run_id}:{account_key}:{image.sha256}:{spec.person_id}"
        plan = StaggerPlan(key=key, first=key not in seen, seconds=stagger_seconds)
        seen.add(key)
        (firsts if plan.first else follow_ups).append((image, spec, plan))
    return firsts + backgrounds + follow_ups


def wait_turn(plan: StaggerPlan | None) -> float:
    """Hold a follow-up until ``plan.seconds`` after its first started; seconds waited."""
    if plan is None or plan.first:
        return 0.0
    return _gate(plan).wait(plan.seconds, max_wait_seconds=plan.max_wait_seconds)


def mark_started(plan: StaggerPlan | None, started_at: float | None) -> None:
    """Record the first's start time (``None``: it failed, follow-ups need not wait)."""
    if plan is not None and plan.first:
        _gate(plan).open(started_at)


def release(plan: StaggerPlan | None) -> None:
    """The first is done (made, cached or failed): no follow-up waits for it any more."""
    if plan is not None and plan.first:
        _gate(plan).open(None)
