"""What a run may spend: its budget, the stop after a ``402``, and the choice before paying.

Every paid start passes through :func:`spend_one` (called by
:func:`piktid_prefect.runtime.generation.start` just before the request is sent), so a
first start, a lost start sent again, a Prefect retry and an in-run retry of a failed
output all count against the run's ``max_credits``. The run's ledger is found through a
context variable that :func:`charged_to` sets around one output's work; outside it
(the single-step tasks, your own code) nothing is counted.

A ``402`` from PiktID stops the run's new starts at once: the start that met it is not
charged, every start after it raises :class:`NotEnoughCredits` without a request, and
the generations already in flight are still waited for and delivered.

The ledger lives in this process (:mod:`.registry`). With a task runner that spreads
tasks over several processes (Dask), each process keeps its own count; the fan-out still
never submits more paid outputs than ``max_credits``, so only re-sends inside a task can
go past it there.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
from collections.abc import Iterator, Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from piktid_prefect.runtime import registry
from piktid_prefect.wire.errors import BadRequest, InsufficientCredits, NotEnoughCredits

__all__ = [
    "CREDITS_PER_OUTPUT",
    "CreditBudget",
    "CreditSummary",
    "RunLedger",
    "affordable",
    "charged_to",
    "format_credits",
    "ledger",
    "lost_start_not_charged",
    "not_charged",
    "spend",
    "spend_one",
]

# PiktID charges one credit per generation (person replacement or background edit).
CREDITS_PER_OUTPUT = 1

T = TypeVar("T")


class CreditBudget(BaseModel):
    """What travels with each output task: which run it pays for, and the run's cap."""

    model_config = ConfigDict(frozen=True)

    run_key: str = Field(description="Identifies the run's ledger in this process.")
    max_credits: int | None = Field(None, ge=0, description="Cap on paid starts; None = none.")


class CreditSummary(BaseModel):
    """A run's spend, as shown in its summary, table artifact and ``manifest.json``."""

    spent: float = Field(
        0,
        description="Credits this run paid: a start whose answer was lost counts until it is "
        "settled as not charged.",
    )
    starts_sent: int = Field(0, description="Paid starts sent, re-sends included.")
    balance_before: float | None = Field(None, description="Balance read before the run.")
    balance_after: float | None = Field(None, description="Balance read after the run.")
    max_credits: int | None = Field(None, description="The run's cap, if any.")
    not_started: int = Field(0, description="Outputs not started for lack of credits.")

    def line(self) -> str:
        """One line for people: ``credits: 6 spent by this run, balance 10 -> 4``."""
        text = f"credits: {format_credits(self.spent)} spent by this run"
        if self.balance_before is not None:
            after = "?" if self.balance_after is None else format_credits(self.balance_after)
            text += f", balance {format_credits(self.balance_before)} -> {after}"
        if self.max_credits is not None:
            text += f" (max_credits {self.max_credits})"
        if self.not_started:
            text += f"; {self.not_started} outputs not started"
        return text


class RunLedger:
    """The starts one run has sent, and why it stopped sending them (thread-safe)."""

    def __init__(self, max_credits: int | None) -> None:
        self.max_credits = max_credits
        self._lock = threading.Lock()
        self._sent = 0
        self._refused = 0
        # Credits, not starts: a chained upscale costs a fraction (``/superid_info``).
        self._charged = 0.0
        self._refunded = 0.0
        self._stop: NotEnoughCredits | None = None
        self._why: str | None = None

    @property
    def sent(self) -> int:
        """Paid starts sent (each counted against ``max_credits``)."""
        with self._lock:
            return self._sent

    @property
    def spent(self) -> float:
        """Credits of the starts sent and neither refused nor settled as not charged."""
        with self._lock:
            return _exact(self._charged - self._refunded)

    @property
    def stopped(self) -> NotEnoughCredits | None:
        """Why new starts are refused, or None while they may go."""
        with self._lock:
            return self._stop

    @property
    def why_stopped(self) -> str | None:
        """Why new starts are refused, for people (``the run's max_credits (2) is used up``)."""
        with self._lock:
            return self._why

    def reserve(self, cost: float = CREDITS_PER_OUTPUT) -> None:
        """Count one start of ``cost`` credits about to be sent, or raise if the run may not
        send it."""
        with self._lock:
            # Counted as sent, as before: a refused start still used its share of the cap.
            capped = self.max_credits is not None and self._charged + cost > self.max_credits + 1e-9
            if self._stop is None and capped:
                self._stop_with(
                    f"the run's max_credits ({self.max_credits}) is used up", "max_credits"
                )
            if self._stop is not None:
                raise NotEnoughCredits(str(self._stop), reason=self._stop.reason)
            self._sent += 1
            self._charged += cost

    def refused(self, exc: BadRequest, cost: float = CREDITS_PER_OUTPUT) -> None:
        """A sent start was refused (nothing paid); a 402 stops every later start."""
        with self._lock:
            self._refused += 1
            self._refunded += cost
            if isinstance(exc, InsufficientCredits) and self._stop is None:
                self._stop_with(
                    f"the account ran out of credits mid-run ({exc.message})", "balance"
                )

    def settled_not_charged(self, cost: float = CREDITS_PER_OUTPUT) -> None:
        """A start whose answer was lost was settled as never taken: it cost nothing."""
        with self._lock:
            self._refused += 1
            self._refunded += cost

    def _stop_with(self, why: str, reason: str) -> None:
        self._why = why
        self._stop = NotEnoughCredits(f"not started: {why}", reason=reason)


_current: contextvars.ContextVar[RunLedger | None] = contextvars.ContextVar(
    "piktid_run_ledger", default=None
)


def ledger(budget: CreditBudget) -> RunLedger:
    """This process's ledger of the run ``budget`` names."""
    return registry.shared("credit-ledger", budget.run_key, lambda: RunLedger(budget.max_credits))


@contextlib.contextmanager
def charged_to(budget: CreditBudget | None) -> Iterator[RunLedger | None]:
    """Count the starts made inside the block against ``budget``'s run (None: count none)."""
    current = ledger(budget) if budget is not None else None
    token = _current.set(current)
    try:
        yield current
    finally:
        _current.reset(token)


def spend(cost: float) -> None:
    """:func:`spend_one` for a start of ``cost`` credits (a chained step's price)."""
    current = _current.get()
    if current is not None:
        current.reserve(cost)


def spend_one() -> None:
    """Count one paid start about to be sent (call it just before every start request).

    Raises:
        NotEnoughCredits: The run's ``max_credits`` is used up, or the account answered
            402 earlier in the run; nothing is sent.
    """
    current = _current.get()
    if current is not None:
        current.reserve()


def not_charged(exc: BadRequest, cost: float = CREDITS_PER_OUTPUT) -> None:
    """The start counted by :func:`spend_one` was refused (a 4xx: nothing was paid)."""
    current = _current.get()
    if current is not None:
        current.refused(exc, cost)


def lost_start_not_charged() -> None:
    """A start counted by :func:`spend_one` lost its answer and was settled as not charged."""
    current = _current.get()
    if current is not None:
        current.settled_not_charged()


def affordable(
    to_pay: Sequence[T], balance: float | None, max_credits: int | None, *, allow_partial: bool
) -> tuple[list[T], list[T]]:
    """The outputs a run may pay for, in the order given, and the ones left out.

    Args:
        to_pay: The outputs not yet delivered or cached, in the flow's order (images by
            name; per image: persons by id, then keywords as given; then backgrounds).
        balance: The account's credits (``GET /me``); None when unknown (only
            ``max_credits`` limits then, and a 402 stops the run).
        max_credits: The run's cap, if any.
        allow_partial: Make the first ones that fit instead of refusing the run.

    Raises:
        NotEnoughCredits: Short of credits and ``allow_partial`` is False. Nothing started.
    """
    needed = len(to_pay) * CREDITS_PER_OUTPUT
    limit, reason = len(to_pay), "balance"
    if balance is not None:
        limit = math.floor(balance / CREDITS_PER_OUTPUT) if balance > 0 else 0
    if max_credits is not None and max_credits // CREDITS_PER_OUTPUT < limit:
        limit, reason = max_credits // CREDITS_PER_OUTPUT, "max_credits"
    if len(to_pay) <= limit:
        return list(to_pay), []
    if not allow_partial:
        if reason == "balance" and balance is not None:
            message = f"needs {needed} credits, the account has {format_credits(balance)}"
        else:
            message = f"needs {needed} credits, max_credits is {max_credits}"
        raise NotEnoughCredits(
            f"{message}; nothing was started (allow_partial makes the first {limit})",
            reason=reason,
        )
    return list(to_pay[:limit]), list(to_pay[limit:])


def _exact(value: float) -> float:
    # Sums of quarters are exact in binary; a price like 0.1 is not: 12 places are enough.
    return round(value, 12)


def format_credits(value: float) -> str:
    """``100`` for 100.0, ``2.5`` for 2.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
