"""The ledger of starts: what it books, and when, decides whether a lost start is paid again.

A start answered must be booked in the same step that takes it out of flight: a ledger
check that ran between the two saw one charge it could not explain, booked it later on
top, and so read a later lost start that *was* charged as "not charged" — paid twice (the
short soak caught it once under load).
"""

from __future__ import annotations

import threading
import time
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


def test_a_result_two_starts_of_one_output_may_own_does_not_book_the_lost_one_as_paid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The long soak's duplicate charge: notifications name the output, not the start.

    A lost start that was never charged is started again; the second start's result is
    handed to the oldest waiter of the output, the lost start. Booking that as "the lost
    start was charged" counted a credit never spent, and a later lost start that *was*
    charged then read "not charged" and was paid twice.
    """
    from piktid_prefect.runtime import lost_starts
    from piktid_prefect.runtime.notifications import NotificationHub
    from piktid_prefect.wire.errors import PiktidError
    from tests.runtime.test_notification_hub import FakeClient, result

    monkeypatch.setenv(lost_starts.WINDOW_ENV, "0.1")  # started again on time alone
    fake = FakeClient()
    hub = NotificationHub(lambda: fake, poll_interval_seconds=0.02)  # type: ignore[arg-type,return-value]
    ledger = StartLedger()
    lost = GenerationJob(
        kind="person",
        image_id="img",
        person_id=0,
        keyword={"Location": "Oceania"},
        started_at=time.time(),
        confirmed=False,
    )
    with ledger.sending(_balance(BASELINE)) as sent:
        sent.lost(lost)  # never reached the server: 100 credits still

    def balance_unreadable() -> float:
        raise PiktidError("GET /me failed")

    def start_again() -> GenerationJob:
        with ledger.sending(_balance(BASELINE)):  # answered: the one credit spent
            again = lost.model_copy(update={"started_at": time.time(), "confirmed": True})
        fake.publish(result(1, 0))  # its result, which names the output only
        return again

    notification, _ = lost_starts.settle(
        hub,
        ledger,
        lost,
        timeout_seconds=5,
        read_balance=balance_unreadable,
        start_again=start_again,
    )
    assert notification.id == 1

    # A later lost start that was charged (100 -> 99 -> 98) must not read "not charged".
    with ledger.sending(_balance(BASELINE)) as sent:
        sent.lost(_job(1))
    assert ledger.verdict(_balance(BASELINE - 2)) != "not charged"
