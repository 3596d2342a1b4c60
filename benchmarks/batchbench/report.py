"""The results table (markdown) and the targets it is checked against."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from batchbench.budget import SlotBudget
from batchbench.driver import FILES, Measured

__all__ = ["Results", "render"]

# Issue #5's targets.
MAKESPAN_OVER_BOUND = 1.15
SPEEDUP_OVER_SEQUENTIAL = 20.0
POLLS_PER_MINUTE = 60.0 / 3.0
OVERHEAD_OVER_BARE = 1.3
RSS_GROWTH_MB = 50.0

ENDPOINTS = (
    ("POST /edit/target", "uploads"),
    ("POST /edit/generate", "person starts"),
    ("POST /edit/background", "background starts"),
    ("POST /notification_by_name_json", "notification polls"),
    ("DELETE /notification/delete_json", "notification deletes"),
    (FILES, "downloads"),
)


@dataclass
class Results:
    """Everything the table shows."""

    header: list[str]
    bound: dict[str, float]
    ideal: SlotBudget
    prefect: Measured
    bare: Measured
    images: int
    outputs: int
    # Absent with --batch-only.
    sequential: Measured | None = None
    sequential_api_seconds: float = 0.0  # extrapolated to the whole batch
    sequential_note: str = ""
    rss_small: Measured | None = None
    rss_large: Measured | None = None


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _per_minute(m: Measured) -> float:
    return m.polls / (m.api_seconds / 60.0)


def _minimum(m: Measured, endpoint: str, images: int, outputs: int, kinds: dict[str, int]) -> int:
    if endpoint == "POST /edit/target":
        return images
    if endpoint == "POST /notification_by_name_json":
        return math.ceil(m.api_seconds / 3.0)
    if endpoint in kinds:
        return kinds[endpoint]
    return outputs


def render(r: Results) -> str:
    """The whole report as markdown."""
    return "\n".join(_lines(r))


def _lines(r: Results) -> Iterator[str]:
    yield from r.header
    yield ""
    yield from _targets(r)
    yield ""
    yield from _budget(r)
    yield ""
    yield from _requests(r)


def _targets(r: Results) -> Iterator[str]:
    b, p, bare = r.bound["bound"], r.prefect, r.bare
    overhead = p.api_seconds / bare.api_seconds
    yield "| Measure | Result | Target | |"
    yield "|---|---|---|---|"
    yield (
        f"| Lower bound (API critical path) | {b:.1f} API-s (chain {r.bound['chain']:.1f}, "
        f"throughput {r.bound['throughput']:.1f}, stagger release {r.bound['release']:.1f}) | | |"
    )
    yield (
        f"| Zero-overhead client, 3 s polls (simulated) | {r.ideal.makespan:.1f} API-s = "
        f"{r.ideal.makespan / b:.2f} x bound | | |"
    )
    yield (
        f"| **Prefect flow makespan** (`batch_variations`) | {p.api_seconds:.1f} API-s "
        f"({p.real_seconds:.1f} s real) = **{p.api_seconds / b:.2f} x bound**, "
        f"{p.outputs}/{r.outputs} outputs | <= {MAKESPAN_OVER_BOUND} x | "
        f"{_met(p.api_seconds / b <= MAKESPAN_OVER_BOUND)} |"
    )
    yield (
        f"| Bare asyncio + httpx makespan | {bare.api_seconds:.1f} API-s "
        f"({bare.real_seconds:.1f} s real) = {bare.api_seconds / b:.2f} x bound, "
        f"{bare.outputs}/{r.outputs} outputs | | |"
    )
    yield (
        f"| **Orchestration overhead** (Prefect / bare) | **{overhead:.2f} x** | "
        f"<= {OVERHEAD_OVER_BARE} x | {_met(overhead <= OVERHEAD_OVER_BARE)} |"
    )
    if r.sequential is not None:
        speedup = r.sequential_api_seconds / p.api_seconds
        yield (
            f"| Sequential, sample-script way (1 job at a time, poll every 5 s) | "
            f"{r.sequential_api_seconds:.0f} API-s ({r.sequential_note}) | | |"
        )
        yield (
            f"| **Speedup over sequential** | **{speedup:.1f} x** | "
            f">= {SPEEDUP_OVER_SEQUENTIAL:g} x | {_met(speedup >= SPEEDUP_OVER_SEQUENTIAL)} |"
        )
    per_min = _per_minute(p)
    yield (
        f"| **Notification polls per minute** (Prefect, one account) | **{per_min:.1f}** "
        f"(1 per {60 / per_min:.2f} API-s; {p.rate_limited_polls} answered 429) | "
        f"<= {POLLS_PER_MINUTE:g} | {_met(per_min <= POLLS_PER_MINUTE + 1e-9)} |"
    )
    yield (
        f"| Mask warm-ups paid (Prefect / bare) | {p.warmups_paid} / {bare.warmups_paid} "
        f"(one per person: {r.images * 3}) | | |"
    )
    if r.rss_small is not None and r.rss_large is not None:
        small, large = r.rss_small, r.rss_large
        growth = large.peak_rss_mb - small.peak_rss_mb
        for run in (small, large):
            yield (
                f"| Peak RSS, {run.outputs} outputs (fresh process) | "
                f"{run.peak_rss_mb:.0f} MB ({run.child.get('peak_threads', '?')} "
                "threads at peak) | | |"
            )
        yield (
            f"| **Peak RSS growth** {small.outputs} -> {large.outputs} outputs | "
            f"**{growth:+.0f} MB** | <= {RSS_GROWTH_MB:g} MB | {_met(growth <= RSS_GROWTH_MB)} |"
        )


BUDGET_ROWS = (
    ("work", "generation work, warm-ups included (the latency model)"),
    ("lag", "emulator late (result notified after it was due)"),
    ("pickup", "finished result not yet returned by a poll (the 3 s polling rule)"),
    ("idle", "slot free: nothing eligible yet, or the client's next start not yet sent"),
    ("lead_in", "before the first start (upload)"),
    ("tail", "after the last result was seen (its download, the run's end)"),
)


def _budget(r: Results) -> Iterator[str]:
    """Where each makespan goes: slot-seconds / max_in_flight, from the emulator's books."""
    runs = (r.ideal, r.prefect.budget, r.bare.budget)
    yield (
        "| Where the makespan goes (API-s = slot-seconds / slots) | Zero-overhead client "
        "(simulated) | Prefect flow | Bare |"
    )
    yield "|---|---|---|---|"
    for name, label in BUDGET_ROWS:
        cells = " | ".join(f"{getattr(run, name):.1f}" for run in runs)
        yield f"| {label} | {cells} |"
    yield "| **makespan** | " + " | ".join(f"**{run.makespan:.1f}**" for run in runs) + " |"


def _requests(r: Results) -> Iterator[str]:
    p, bare = r.prefect, r.bare
    kinds = {
        "POST /edit/generate": r.images * 3 * 8,
        "POST /edit/background": r.images * 8,
    }
    sequential: dict[str, int | str] = (
        dict(r.sequential.requests) if r.sequential is not None else {e: "-" for e, _ in ENDPOINTS}
    )
    yield "| Requests per endpoint | Prefect flow | Bare | Sequential (subset) | Minimum |"
    yield "|---|---|---|---|---|"
    for endpoint, label in ENDPOINTS:
        minimum = _minimum(p, endpoint, r.images, r.outputs, kinds)
        note = " (1 per 3 s of the flow's makespan)" if "notification_by" in endpoint else ""
        yield (
            f"| {label} (`{endpoint}`) | {p.requests.get(endpoint, 0)} | "
            f"{bare.requests.get(endpoint, 0)} | {sequential.get(endpoint, 0)} | "
            f"{minimum}{note} |"
        )
    for endpoint in sorted(set(p.requests) - {e for e, _ in ENDPOINTS}):
        yield f"| other (`{endpoint}`) | {p.requests[endpoint]} | | | 0 |"
    total = sum(p.requests.values())
    total_min = sum(_minimum(p, e, r.images, r.outputs, kinds) for e, _ in ENDPOINTS)
    yield f"| **total** | **{total}** | {sum(bare.requests.values())} | | {total_min} |"
