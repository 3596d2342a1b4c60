"""The shared notification poller, against a scripted fake client (no network)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest

from piktid_prefect.runtime.notifications import NotificationHub
from piktid_prefect.wire.errors import (
    GenerationFailed,
    NotificationTimeout,
    RateLimited,
    ServerError,
)
from piktid_prefect.wire.models import GenerationJob, Notification

INTERVAL = 0.02


class FakeClient:
    """Serves a mutable list of notifications; records polls and deletions."""

    def __init__(self) -> None:
        self.pending: list[Notification] = []
        self.deleted: list[int] = []
        self.polls = 0
        self.fail_next: list[Exception] = []
        self.failing_deletes: set[int] = set()  # ids whose next delete fails
        self.lock = threading.Lock()

    def notifications(self, names: Any = (), *, image_id: str | None = None) -> list[Notification]:
        with self.lock:
            self.polls += 1
            if self.fail_next:
                raise self.fail_next.pop(0)
            return list(self.pending)

    def delete_notification(self, notification_id: int) -> None:
        with self.lock:
            if notification_id in self.failing_deletes:
                self.failing_deletes.discard(notification_id)
                raise ServerError("delete failed", status_code=500)
            self.deleted.append(notification_id)
            self.pending = [n for n in self.pending if n.id != notification_id]

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def publish(self, notification: Notification) -> None:
        with self.lock:
            self.pending.append(notification)


def person_job(person: int, location: str = "Oceania", started_at: float = 0.0) -> GenerationJob:
    return GenerationJob(
        kind="person",
        image_id="img",
        person_id=person,
        keyword={"Location": location},
        started_at=started_at,
    )


def result(nid: int, person: int, location: str = "Oceania", url: str = "") -> Notification:
    return Notification(
        id=nid,
        name="edit_generate",
        timestamp=float(nid),
        data={
            "address": "img",
            "id_person": person,
            "keyword": f'{{"Location": "{location}"}}',
            "links": [{"l": url or f"http://127.0.0.1/files/{nid}.jpg"}],
        },
    )


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


@pytest.fixture
def hub(fake: FakeClient) -> NotificationHub:
    return NotificationHub(lambda: fake, poll_interval_seconds=INTERVAL)  # type: ignore[arg-type,return-value]


def test_each_job_gets_its_own_notification_and_only_it_is_deleted(
    hub: NotificationHub, fake: FakeClient
) -> None:
    futures = {p: hub.submit(person_job(p), timeout_seconds=5) for p in range(3)}
    stranger = Notification(id=99, name="edit_generate", data={"address": "other", "id_person": 0})
    fake.publish(stranger)
    for p in (2, 0, 1):
        fake.publish(result(10 + p, p))
    for p, future in futures.items():
        assert future.result(timeout=5).person_id == p
    assert hub.wait_for_deletes(5)
    assert sorted(fake.deleted) == [10, 11, 12]
    assert [n.id for n in fake.pending] == [99]  # another process's notification is left alone


def test_poll_count_grows_with_time_not_with_jobs(hub: NotificationHub, fake: FakeClient) -> None:
    jobs = [person_job(p, started_at=p) for p in range(200)]
    futures = [hub.submit(job, timeout_seconds=5) for job in jobs]
    time.sleep(10 * INTERVAL)
    for p in range(200):
        fake.publish(result(1000 + p, p))
    for future in futures:
        future.result(timeout=5)
    # 200 jobs over ~10 intervals: about one poll per interval, not one per job.
    assert fake.polls <= 20


def test_error_notification_fails_only_its_job(hub: NotificationHub, fake: FakeClient) -> None:
    ok = hub.submit(person_job(0), timeout_seconds=5)
    bad = hub.submit(person_job(1), timeout_seconds=5)
    fake.publish(
        Notification(
            id=5,
            name="error",
            data={"tasks": "edit_generate", "msg": "mask failed", "address": "img", "id_person": 1},
        )
    )
    fake.publish(result(6, 0))
    assert ok.result(timeout=5).id == 6
    with pytest.raises(GenerationFailed, match="mask failed") as info:
        bad.result(timeout=5)
    assert info.value.msg == "mask failed" and "person=1" in info.value.job


def test_timeout_names_the_job(hub: NotificationHub) -> None:
    with pytest.raises(NotificationTimeout, match="person=4 Location=Oceania"):
        hub.wait(person_job(4), timeout_seconds=0.1)


def test_rate_limit_and_transient_errors_do_not_fail_jobs(
    hub: NotificationHub, fake: FakeClient
) -> None:
    from piktid_prefect.wire.errors import ServerError, TransportError

    fake.fail_next = [
        RateLimited("slow down", retry_after_seconds=INTERVAL),
        ServerError("boom", status_code=503),
        TransportError("reset"),
    ]
    future = hub.submit(person_job(0), timeout_seconds=5)
    fake.publish(result(7, 0))
    assert future.result(timeout=5).id == 7


def test_duplicated_notification_is_consumed_without_a_waiter(
    hub: NotificationHub, fake: FakeClient
) -> None:
    future = hub.submit(person_job(0), timeout_seconds=5)
    fake.publish(result(1, 0, url="http://127.0.0.1/files/a.jpg"))
    fake.publish(result(2, 0, url="http://127.0.0.1/files/a.jpg"))
    assert future.result(timeout=5).id == 1
    deadline = time.monotonic() + 2
    while 2 not in fake.deleted and time.monotonic() < deadline:
        time.sleep(INTERVAL)
    assert sorted(fake.deleted) == [1, 2]


def test_a_notification_whose_delete_failed_is_not_handed_out_again(
    hub: NotificationHub, fake: FakeClient
) -> None:
    """The soak's duplicate charge: an output's error notification, still listed because
    its delete failed, failed the output's paid second start too (same identity)."""
    first = hub.submit(person_job(0, started_at=1.0), timeout_seconds=5)
    fake.failing_deletes.add(5)
    fake.publish(
        Notification(
            id=5,
            name="error",
            data={"tasks": "edit_generate", "msg": "mask failed", "address": "img", "id_person": 0},
        )
    )
    with pytest.raises(GenerationFailed):
        first.result(timeout=5)
    assert [n.id for n in fake.pending] == [5]  # still listed by the server

    second = hub.submit(person_job(0, started_at=2.0), timeout_seconds=5)
    time.sleep(5 * INTERVAL)  # polls that list the old error again
    fake.publish(result(6, 0))
    assert second.result(timeout=5).id == 6
    assert hub.wait_for_deletes(5)
    assert fake.pending == [] and sorted(fake.deleted) == [5, 6]  # deleted on a later poll


def test_same_identity_jobs_are_served_oldest_first(hub: NotificationHub, fake: FakeClient) -> None:
    first = hub.submit(person_job(0, started_at=1.0), timeout_seconds=5)
    second = hub.submit(person_job(0, started_at=2.0), timeout_seconds=5)
    fake.publish(result(1, 0))
    assert first.result(timeout=5).id == 1
    fake.publish(result(2, 0))
    assert second.result(timeout=5).id == 2


def test_thread_stops_when_idle_and_restarts(hub: NotificationHub, fake: FakeClient) -> None:
    fake.publish(result(1, 0))
    assert hub.wait(person_job(0), timeout_seconds=5).id == 1
    time.sleep(5 * INTERVAL)
    polls = fake.polls
    time.sleep(5 * INTERVAL)
    assert fake.polls == polls  # no polling while nobody waits
    fake.publish(result(2, 1))
    assert hub.wait(person_job(1), timeout_seconds=5).id == 2


def test_slow_deletes_do_not_hold_back_the_next_poll(fake: FakeClient) -> None:
    """A dozen results in one poll, each delete one slow round trip: the next poll still
    comes one interval later (one by one on the polling thread, 12 x 0.1 s would have
    stretched the interval of 0.2 s sixfold)."""
    interval, round_trip = 0.2, 0.1
    deleting = fake.delete_notification

    def slow_delete(notification_id: int) -> None:
        time.sleep(round_trip)
        deleting(notification_id)

    fake.delete_notification = slow_delete  # type: ignore[method-assign]
    poll_times: list[float] = []
    listing = fake.notifications

    def timed_poll(*args: Any, **kwargs: Any) -> list[Notification]:
        poll_times.append(time.monotonic())
        return listing(*args, **kwargs)

    fake.notifications = timed_poll  # type: ignore[method-assign]
    hub = NotificationHub(lambda: fake, poll_interval_seconds=interval)  # type: ignore[arg-type,return-value]
    futures = [hub.submit(person_job(p), timeout_seconds=10) for p in range(12)]
    waiting = hub.submit(person_job(99), timeout_seconds=10)  # keeps the hub polling
    for p in range(12):
        fake.publish(result(100 + p, p))
    for future in futures:
        future.result(timeout=5)
    answered = len(poll_times)
    time.sleep(3 * interval)
    gaps = [b - a for a, b in itertools.pairwise(poll_times[answered - 1 :])]
    assert gaps and max(gaps) < interval + 3 * round_trip, gaps  # was 12 x round_trip
    fake.publish(result(200, 99))
    waiting.result(timeout=5)
    hub.close()  # waits for the deletes in flight
    assert sorted(fake.deleted) == sorted([*range(100, 112), 200])


# --- another process's notification (issue 22) -------------------------------------------


def stamped(nid: int, person: int, timestamp: float, name: str = "edit_generate") -> Notification:
    """A notification stamped by the server's clock (epoch seconds)."""
    base = result(nid, person)
    data = base.data if name != "error" else {"tasks": name, "msg": "stale", **base.data}
    return Notification(id=nid, name=name, timestamp=timestamp, data=data)


def test_a_notification_listed_before_a_start_is_never_handed_to_it(
    hub: NotificationHub, fake: FakeClient
) -> None:
    """Another process's start of the output failed and its delete too: its ``error``
    is still listed. Listed before our start, it is not ours, whatever the clocks say."""
    fake.publish(stamped(5, 0, timestamp=time.time() + 3600, name="error"))  # clock far ahead
    hub.before_start()
    assert fake.polls == 1
    mine = hub.submit(person_job(0, started_at=time.time()), timeout_seconds=5)
    time.sleep(5 * INTERVAL)  # polls that list the old error again
    assert not mine.done()
    fake.publish(stamped(6, 0, timestamp=time.time() + 3600))
    assert mine.result(timeout=5).id == 6
    assert hub.wait_for_deletes(5)
    assert 5 not in fake.deleted  # not this process's to delete


def test_a_recent_listing_is_enough_before_a_start(hub: NotificationHub, fake: FakeClient) -> None:
    hub.before_start()
    hub.before_start()  # within one poll interval: PiktID asks for one poll per 3 s
    assert fake.polls == 1
    time.sleep(INTERVAL)
    hub.before_start()
    assert fake.polls == 2


def test_a_listing_that_fails_before_a_start_does_not_stop_it(
    hub: NotificationHub, fake: FakeClient
) -> None:
    fake.fail_next.append(RateLimited("slow down", status_code=429, retry_after_seconds=1.0))
    hub.before_start()  # no exception: the start goes ahead
    assert fake.polls == 1
    hub.before_start()  # nor is it tried again by every start within the interval
    assert fake.polls == 1


@pytest.mark.parametrize("server_ahead_seconds", [0.0, 3600.0, -3600.0])
def test_a_notification_stamped_before_the_start_by_the_servers_clock_is_not_taken(
    hub: NotificationHub, fake: FakeClient, server_ahead_seconds: float
) -> None:
    """First seen *after* the start (no earlier listing in this process), but stamped a
    minute before it by a server clock that fresh notifications show where it is."""
    server_now = time.time() + server_ahead_seconds
    fake.publish(stamped(5, 0, timestamp=server_now - 60, name="error"))
    fake.publish(stamped(7, 1, timestamp=server_now))  # someone else's, fresh
    mine = hub.submit(person_job(0, started_at=time.time()), timeout_seconds=5)
    time.sleep(5 * INTERVAL)
    assert not mine.done()
    fake.publish(stamped(6, 0, timestamp=time.time() + server_ahead_seconds))
    assert mine.result(timeout=5).id == 6


@pytest.mark.parametrize("server_ahead_seconds", [0.0, 600.0, -600.0])
def test_its_own_notification_is_taken_whatever_the_clock_difference(
    hub: NotificationHub, fake: FakeClient, server_ahead_seconds: float
) -> None:
    """The guard never refuses a job its own result: stamped at (server) start time."""
    hub.before_start()
    started = time.time()
    job = hub.submit(person_job(0, started_at=started), timeout_seconds=5)
    # Old notifications of other outputs set the measured lead low: still safe.
    fake.publish(stamped(3, 2, timestamp=started + server_ahead_seconds - 500))
    time.sleep(3 * INTERVAL)
    fake.publish(stamped(4, 0, timestamp=started + server_ahead_seconds))
    assert job.result(timeout=5).id == 4
