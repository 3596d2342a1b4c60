"""The API's critical path for a batch, from the emulator's latency model (API-seconds).

Two numbers:

- :func:`lower_bound`: no client can finish sooner. The batch needs ``work`` slot-seconds
  of generations (a person's first call pays the mask warm-up; follow-ups started after
  the stagger do not) and at most ``max_in_flight`` run at once, after the upload and
  before the last download. A person's own chain (first call, or stagger + follow-up) and
  the follow-ups' release at ``upload + stagger`` bound it too.
- :func:`ideal_client`: what a client with zero overhead would take when it learns of a
  finished generation only at its next poll (every ``poll_seconds``) and holds the
  in-flight slot until then, as the flows do. This is a simulation, not a bound: it shows
  how much of the gap the polling rule itself costs.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from batchbench.budget import GenerationTimes, SlotBudget, slot_budget

__all__ = ["BatchShape", "Latencies", "ideal_client", "lower_bound"]


@dataclass(frozen=True)
class Latencies:
    """The emulator's latency model and the client's rules, in API-seconds."""

    generation: float
    warmup: float
    upload: float
    download: float
    stagger: float
    poll: float
    max_in_flight: int

    @property
    def follow_up(self) -> float:
        """A follow-up's duration: it pays the warm-up again if it starts before it ends."""
        return self.generation + (self.warmup if self.stagger < self.warmup else 0.0)


@dataclass(frozen=True)
class BatchShape:
    """Images x persons x person keywords, plus background keywords per image."""

    images: int
    persons: int
    person_keywords: int
    background_keywords: int

    @property
    def outputs(self) -> int:
        """Outputs of the batch."""
        return self.images * (self.persons * self.person_keywords + self.background_keywords)


def _jobs(shape: BatchShape, lat: Latencies) -> list[tuple[float, float]]:
    """(earliest start after the upload, duration) per generation, in the flows' order."""
    jobs = []
    for _ in range(shape.images):
        for _ in range(shape.persons):
            jobs.append((0.0, lat.warmup + lat.generation))
            jobs += [(lat.stagger, lat.follow_up)] * (shape.person_keywords - 1)
        jobs += [(0.0, lat.generation)] * shape.background_keywords
    return jobs


def lower_bound(shape: BatchShape, lat: Latencies) -> dict[str, float]:
    """The bound and its parts (``bound`` is the largest of the three paths)."""
    jobs = _jobs(shape, lat)
    work = sum(duration for _, duration in jobs)
    released_late = sum(duration for start, duration in jobs if start > 0)
    chain = max(
        (start + duration for start, duration in jobs),
        default=0.0,
    )
    io = lat.upload + lat.download
    parts = {
        "chain": io + chain,
        "throughput": io + work / lat.max_in_flight,
        "release": io + lat.stagger + released_late / lat.max_in_flight if released_late else 0.0,
    }
    return {**parts, "bound": max(parts.values()), "work": work}


def ideal_client(shape: BatchShape, lat: Latencies) -> SlotBudget:
    """Makespan of a zero-overhead client (and where it goes): FIFO slots, polls every ``poll`` s.

    The first poll comes one interval after the first start (as the notification hub
    does); a finished generation frees its slot at the poll that sees it, and its
    download (``download`` long) starts then.
    """
    jobs = _jobs(shape, lat)
    start0 = lat.upload
    free_at = [start0] * lat.max_in_flight  # when each slot is free again
    heapq.heapify(free_at)
    ready = sorted(range(len(jobs)), key=lambda i: (jobs[i][0], i))
    # Followers wait for their stagger: FIFO over the release order, like a queue.
    end = 0.0
    times = []
    for index in ready:
        release, duration = jobs[index]
        slot = heapq.heappop(free_at)
        begin = max(slot, start0 + release)
        done = begin + duration
        seen = start0 + lat.poll * math.ceil((done - start0) / lat.poll)
        heapq.heappush(free_at, seen)
        times.append(GenerationTimes(begin, done, done, seen))
        end = max(end, seen + lat.download)
    return slot_budget(times, lat.max_in_flight, 0.0, end)
