"""The ledger of starts: what it books, and when, decides whether a lost start is paid again.

A start answered must be booked in the same step that takes it out of flight: a ledger
check that ran between the two saw one charge it could not explain, booked it later on
top, and so read a later lost start that *was* charged as "not charged" — paid twice (the
short soak caught it once under load).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from piktid_prefect.runtime.lost_starts import StartLedger
from piktid_prefect.wire.models import GenerationJob

BASELINE = 100.0


def _job(person: int) -> GenerationJob:
    return GenerationJob(
        kind="person", image_id="img", person_id=person, started_at=float(person), confirmed=False
    )


def _balance(value: float) -> Callable[[], float]:
    return lambda: value


def test_an_answered_start_is_booked_so_a_charged_lost_start_reads_charged() -> None:
    ledger = StartLedger()
    with ledger.sending(_balance(BASELINE)):
        pass  # answered
    with ledger.sending(_balance(BASELINE)) as sent:
        sent.lost(_job(1))
    assert ledger.verdict(_balance(BASELINE - 2)) == "charged"


def test_a_lost_start_the_account_never_paid_reads_not_charged() -> None:
    ledger = StartLedger()
    with ledger.sending(_balance(BASELINE)):
        pass
    with ledger.sending(_balance(BASELINE)) as sent:
        sent.lost(_job(1))
    assert ledger.verdict(_balance(BASELINE - 1)) == "not charged"


def test_a_refused_start_is_not_booked_as_charged() -> None:
    ledger = StartLedger()
    with pytest.raises(RuntimeError), ledger.sending(_balance(BASELINE)):
        raise RuntimeError("402: not enough credits")
    with ledger.sending(_balance(BASELINE)) as sent:
        sent.lost(_job(1))
    assert ledger.verdict(_balance(BASELINE - 1)) == "charged"


def test_a_check_during_a_start_in_flight_waits_for_its_answer_and_counts_it() -> None:
    ledger = StartLedger()
    with ledger.sending(_balance(BASELINE)) as sent:
        sent.lost(_job(1))
    inside, release = threading.Event(), threading.Event()

    def answered_start() -> None:
        with ledger.sending(_balance(BASELINE)):
            inside.set()
            release.wait(10)

    sender = threading.Thread(target=answered_start)
    sender.start()
    assert inside.wait(10)
    verdicts: list[str] = []
    checker = threading.Thread(target=lambda: verdicts.append(ledger.verdict(_balance(98.0))))
    checker.start()
    checker.join(0.3)
    assert checker.is_alive(), "the check must wait while a start is in flight"
    release.set()
    sender.join(10)
    checker.join(10)
    # Both starts were charged (100 -> 98): the lost one is proven paid, not paid again.
    assert verdicts == ["charged"]
    # And the next lost start, charged too, is not mistaken for an unpaid one.
    with ledger.sending(_balance(98.0)) as sent:
        sent.lost(_job(2))
    assert ledger.verdict(_balance(97.0)) == "charged"
