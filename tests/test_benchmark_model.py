"""The benchmark's model: the lower bound, the simulated ideal client, the slot budget."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from batchbench.bound import BatchShape, Latencies, ideal_client, lower_bound
from batchbench.budget import GenerationTimes, slot_budget

LATENCIES = Latencies(
    generation=8.0,
    warmup=12.0,
    upload=1.0,
    download=0.5,
    stagger=15.0,
    poll=3.0,
    max_in_flight=32,
)


def parts(budget: object) -> float:
    names = ("work", "lag", "pickup", "idle", "lead_in", "tail")
    return sum(getattr(budget, name) for name in names)


def test_the_budget_splits_a_run_exactly_by_cause() -> None:
    times = [
        GenerationTimes(started=1.0, due=3.0, completed=4.0, seen=6.0),
        GenerationTimes(started=6.0, due=8.0, completed=8.0, seen=9.0),
    ]
    budget = slot_budget(times, max_in_flight=1, began=0.0, ended=10.0)
    assert (budget.work, budget.lag, budget.pickup) == (4.0, 1.0, 3.0)
    assert (budget.idle, budget.lead_in, budget.tail) == (0.0, 1.0, 1.0)
    assert parts(budget) == budget.makespan == 10.0


def test_one_generation_by_hand() -> None:
    shape = BatchShape(images=1, persons=1, person_keywords=1, background_keywords=0)
    one_slot = replace(LATENCIES, max_in_flight=1)
    # Upload 1, then the first call pays warm-up + generation (20), then the download.
    assert lower_bound(shape, one_slot)["bound"] == 21.5
    ideal = ideal_client(shape, one_slot)
    # Done at 21; polls at 4, 7, ... 22 see it; downloaded by 22.5.
    assert ideal.makespan == 22.5
    assert (ideal.work, ideal.pickup, ideal.lead_in, ideal.tail) == (20.0, 1.0, 1.0, 0.5)


@pytest.mark.parametrize("images", [1, 8, 25])
def test_the_ideal_client_never_beats_the_bound(images: int) -> None:
    shape = BatchShape(images=images, persons=3, person_keywords=8, background_keywords=8)
    bound = lower_bound(shape, LATENCIES)
    ideal = ideal_client(shape, LATENCIES)
    assert ideal.makespan >= bound["bound"]
    assert ideal.work == pytest.approx(bound["work"] / LATENCIES.max_in_flight)
    assert parts(ideal) == pytest.approx(ideal.makespan)
    assert ideal.lag == 0.0
