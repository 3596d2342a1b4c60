"""The results table (markdown) and the targets it is checked against."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

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
    ideal: float
    prefect: Measured
    bare: Measured
    sequential: Measured
    sequential_api_seconds: float  # extrapolated to the whole batch
    sequential_note: str
    rss_small: Measured
    rss_large: Measured
    images: int
    outputs: int


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
    b, p, bare = r.bound["bound"], r.prefect, r.bare
    speedup = r.sequential_api_seconds / p.api_seconds
    overhead = p.api_seconds / bare.api_seconds
    growth = r.rss_large.peak_rss_mb - r.rss_small.peak_rss_mb
    yield "| Measure | Result | Target | |"
    yield "|---|---|---|---|"
    yield (
        f"| Lower bound (API critical path) | {b:.1f} API-s (chain {r.bound['chain']:.1f}, "
        f"throughput {r.bound['throughput']:.1f}, stagger release {r.bound['release']:.1f}) | | |"
    )
    yield (
        f"| Zero-overhead client, 3 s polls (simulated) | {r.ideal:.1f} API-s = "
        f"{r.ideal / b:.2f} x bound | | |"
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
    yield (
        f"| Sequential, sample-script way (1 job at a time, poll every 5 s) | "
        f"{r.sequential_api_seconds:.0f} API-s ({r.sequential_note}) | | |"
    )
    yield (
        f"| **Speedup over sequential** | **{speedup:.1f} x** | >= {SPEEDUP_OVER_SEQUENTIAL:g} x | "
        f"{_met(speedup >= SPEEDUP_OVER_SEQUENTIAL)} |"
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
    yield (
        f"| Peak RSS, {r.rss_small.outputs} outputs (fresh process) | "
        f"{r.rss_small.peak_rss_mb:.0f} MB ({r.rss_small.child.get('peak_threads', '?')} "
        "threads at peak) | | |"
    )
    yield (
        f"| Peak RSS, {r.rss_large.outputs} outputs (fresh process) | "
        f"{r.rss_large.peak_rss_mb:.0f} MB ({r.rss_large.child.get('peak_threads', '?')} "
        "threads at peak) | | |"
    )
    yield (
        f"| **Peak RSS growth** {r.rss_small.outputs} -> {r.rss_large.outputs} outputs | "
        f"**{growth:+.0f} MB** | <= {RSS_GROWTH_MB:g} MB | {_met(growth <= RSS_GROWTH_MB)} |"
    )
    yield ""
    kinds = {
        "POST /edit/generate": r.images * 3 * 8,
        "POST /edit/background": r.images * 8,
    }
    yield "| Requests per endpoint | Prefect flow | Bare | Sequential (subset) | Minimum |"
    yield "|---|---|---|---|---|"
    for endpoint, label in ENDPOINTS:
        minimum = _minimum(p, endpoint, r.images, r.outputs, kinds)
        note = " (1 per 3 s of the flow's makespan)" if "notification_by" in endpoint else ""
        yield (
            f"| {label} (`{endpoint}`) | {p.requests.get(endpoint, 0)} | "
            f"{bare.requests.get(endpoint, 0)} | {r.sequential.requests.get(endpoint, 0)} | "
            f"{minimum}{note} |"
        )
    other = sorted(
        set(p.requests) - {e for e, _ in ENDPOINTS},
    )
    for endpoint in other:
        yield f"| other (`{endpoint}`) | {p.requests[endpoint]} | | | 0 |"
    total = sum(p.requests.values())
    total_min = sum(_minimum(p, e, r.images, r.outputs, kinds) for e, _ in ENDPOINTS)
    yield f"| **total** | **{total}** | {sum(bare.requests.values())} | | {total_min} |"
