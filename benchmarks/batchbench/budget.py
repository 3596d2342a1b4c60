"""Where a batch's makespan goes, slot by slot (API-seconds).

With ``k`` generations in flight at most, a run's span (first start to the last result
seen by a poll) is ``k`` slots x span slot-seconds, and every slot-second is one of: a
generation the API is working on (``work``), a result the API notified late (``lag``:
the emulator was slower than its own latency model, e.g. starved of CPU), a finished
result no poll has returned yet (``pickup``: the polling rule), or a slot with no
generation of the client's known to be running (``idle``: nothing was eligible yet, or
the client had learned of a result but not yet sent the next start). Divided by ``k``
these add up to the span exactly; with the time before the first start (``lead_in``:
upload) and after the last result was seen (``tail``: download, the run's end) they add
up to the makespan.
The same split is computed for the simulated zero-overhead client, so each difference
from it is attributed to one cause.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["GenerationTimes", "SlotBudget", "slot_budget"]


@dataclass(frozen=True)
class GenerationTimes:
    """One generation's times (API-seconds, any common origin)."""

    started: float
    due: float  # started + what the latency model says it takes
    completed: float  # when its notification appeared
    seen: float  # when a poll first returned that notification


@dataclass(frozen=True)
class SlotBudget:
    """A makespan split by cause (API-seconds; slot-seconds divided by slots)."""

    makespan: float
    work: float
    lag: float
    pickup: float
    idle: float
    lead_in: float
    tail: float


def slot_budget(
    generations: Iterable[GenerationTimes], max_in_flight: int, began: float, ended: float
) -> SlotBudget:
    """Split the run ``began`` .. ``ended`` by cause; see the module docstring."""
    times = list(generations)
    makespan = ended - began
    if not times:
        return SlotBudget(makespan, 0.0, 0.0, 0.0, 0.0, makespan, 0.0)
    first, last = min(t.started for t in times), max(t.seen for t in times)
    span = last - first
    work = sum(t.due - t.started for t in times) / max_in_flight
    lag = sum(max(0.0, t.completed - t.due) for t in times) / max_in_flight
    pickup = sum(t.seen - max(t.completed, t.due) for t in times) / max_in_flight
    return SlotBudget(
        makespan=makespan,
        work=work,
        lag=lag,
        pickup=pickup,
        idle=span - work - lag - pickup,
        lead_in=first - began,
        tail=ended - last,
    )
