"""Lost start answers settle in a bounded window; failed outputs are made again in the run;
and no exception after a paid start lets Prefect's retries pay for it again."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from piktid_prefect.emulator import EmulatorServer, FaultConfig
from piktid_prefect.flows import generate_people
from piktid_prefect.runtime import generation
from piktid_prefect.runtime.results import GenerationSpec
from piktid_prefect.tasks import generate_output, upload_image
from piktid_prefect.wire.errors import (
    AuthenticationFailed,
    GenerationFailed,
    NotificationTimeout,
    ServerError,
    TransportError,
    is_transient,
)
from piktid_prefect.wire.models import GenerationJob, Notification

OCEANIA = {"Location": "Oceania"}
EAST_ASIA = {"Location": "East Asia"}
# With this seed the first generation ends in an `error` notification and the second does
# not (random.Random(1) draws 0.13 then 0.85 against the 0.5 rate).
FIRST_OF_TWO_FAILS = FaultConfig(seed=1, error_notification=0.5)
# Much longer than any test may take: a run that waited for it would time the test out.
LONG_TIMEOUT_SECONDS = 240.0


def people(image: Path, credentials, out_dir: Path, time_scale: float, **kwargs: Any):  # type: ignore[no-untyped-def]
    kwargs.setdefault("keywords", [OCEANIA])
    return generate_people(
        image=str(image),
        persons=[0],
        credentials=credentials,
        out_dir=str(out_dir),
        stagger_seconds=15.0 * time_scale,
        **kwargs,
    )


# --- 1. a lost start answer ------------------------------------------------------------


def test_start_refused_by_a_gateway_is_settled_by_the_ledger_not_the_timeout(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path
) -> None:
    """A 502 before the server did anything: /me shows it was not charged -> start again."""
    piktid_emulator.set_faults(FaultConfig(seed=0, http_502=1.0, endpoints=("/edit/generate",)))
    unfault_after_first_start(piktid_emulator, piktid_account.email)
    began = time.monotonic()

    result = people(
        samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=LONG_TIMEOUT_SECONDS
    )

    assert len(result.outputs) == 1
    assert time.monotonic() - began < LONG_TIMEOUT_SECONDS / 4
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 1
    assert stats.requests["POST /edit/generate"] == 2


def test_a_lost_start_settled_as_not_charged_is_not_in_the_spend_line(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path
) -> None:
    """Two starts sent, the first lost and never taken: the run says 1 spent, as charged."""
    piktid_emulator.set_faults(FaultConfig(seed=0, http_502=1.0, endpoints=("/edit/generate",)))
    unfault_after_first_start(piktid_emulator, piktid_account.email)

    result = people(
        samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=LONG_TIMEOUT_SECONDS
    )

    charged = piktid_emulator.stats(piktid_account.email).credits_charged
    assert charged == 1
    assert result.credits is not None
    assert (result.credits.spent, result.credits.starts_sent) == (charged, 2)
    assert result.credits.line().startswith(f"credits: {charged} spent by this run")
    before, after = result.credits.balance_before, result.credits.balance_after
    assert before is not None and after is not None and before - after == charged


def test_start_charged_but_unanswered_is_waited_for_not_paid_twice(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path
) -> None:
    """Processed and charged, then the connection dropped: the ledger says charged."""
    piktid_emulator.set_faults(FaultConfig(seed=0, lose_response_after_start=1.0))

    result = people(
        samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=LONG_TIMEOUT_SECONDS
    )

    assert len(result.outputs) == 1
    stats = piktid_emulator.stats(piktid_account.email)
    assert stats.credits_charged == 1
    assert stats.requests["POST /edit/generate"] == 1


def test_without_a_ledger_the_window_ends_the_wait(
    piktid_emulator: EmulatorServer,
    piktid_account,
    credentials,
    samples,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/me unusable: the documented window, not the notification timeout, bounds the wait."""
    monkeypatch.setenv("PIKTID_LOST_START_WINDOW_SECONDS", "2")
    piktid_emulator.set_faults(
        FaultConfig(seed=0, http_502=1.0, http_500=1.0, endpoints=("/edit/generate", "/me"))
    )
    unfault_after_first_start(
        piktid_emulator, piktid_account.email, keep=FaultConfig(http_500=1.0, endpoints=("/me",))
    )
    began = time.monotonic()

    result = people(
        samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=LONG_TIMEOUT_SECONDS
    )

    assert len(result.outputs) == 1
    assert 2.0 <= time.monotonic() - began < LONG_TIMEOUT_SECONDS / 4
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 1


def unfault_after_first_start(
    emulator: EmulatorServer, email: str, keep: FaultConfig | None = None
) -> None:
    """Turn the start fault off once the account's first start was refused (a watcher)."""
    import threading

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if emulator.stats(email).requests.get("POST /edit/generate", 0) >= 1:
                emulator.set_faults(keep or FaultConfig())
                return
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()


# --- 8. outputs the server failed are made again in the run ---------------------------


def test_an_output_the_server_failed_is_made_again_in_the_same_run(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path
) -> None:
    piktid_emulator.set_faults(FIRST_OF_TWO_FAILS)

    result = people(samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=6.0)

    assert len(result.outputs) == 1 and not result.failures
    assert result.paid_again == 1
    assert "GenerationFailed" in result.outputs[0].paid_again[0]
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 2


def test_output_retries_are_bounded(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path
) -> None:
    piktid_emulator.set_faults(FaultConfig(seed=0, error_notification=1.0))

    with pytest.raises(Exception, match="GenerationFailed"):
        people(
            samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=6.0, output_retries=2
        )

    assert piktid_emulator.stats(piktid_account.email).credits_charged == 3


def test_rerun_of_a_healed_output_does_not_report_it_paid_twice(
    piktid_emulator: EmulatorServer, piktid_account, credentials, samples, tmp_path
) -> None:
    piktid_emulator.set_faults(FIRST_OF_TWO_FAILS)
    people(samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=6.0)

    again = people(samples["astronaut"], credentials, tmp_path, 0.01, timeout_seconds=6.0)

    assert again.paid_again == 0
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 2


# --- 5. no Prefect retry ever pays for a started generation again ---------------------


def _no_link(job: GenerationJob) -> Notification:
    return Notification.model_validate(
        {
            "id": 1,
            "name": "edit_generate",
            "timestamp": time.time(),
            "data": {"id_image": job.image_id},
        }
    )


def _with_link(job: GenerationJob) -> Notification:
    data = {"id_image": job.image_id, "links": [{"l": "http://127.0.0.1:9/r.jpg"}]}
    return Notification.model_validate(
        {"id": 2, "name": "edit_generate", "timestamp": time.time(), "data": data}
    )


AFTER_START_FAILURES = {
    "error notification": GenerationFailed("server failed it"),
    "notification timeout": NotificationTimeout("nothing came", job="j", timeout_seconds=1),
    "credentials revoked": AuthenticationFailed("revoked", status_code=401),
    "transient server error": ServerError("bad gateway", status_code=502),
    "transport error": TransportError("connection reset"),
    "poller crashed": RuntimeError("thread died"),
    "result without link": None,
}


@pytest.mark.parametrize("failure", list(AFTER_START_FAILURES), ids=list(AFTER_START_FAILURES))
def test_no_failure_after_a_paid_start_makes_prefect_start_it_again(
    failure: str,
    piktid_emulator: EmulatorServer,
    piktid_account,
    credentials,
    samples,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = AFTER_START_FAILURES[failure]

    class FailingHub:
        poll_interval_seconds = 0.01
        calls = 0

        def before_start(self) -> None:
            """Nothing listed before a start (the hub's cross-process guard)."""

        def wait(self, job: GenerationJob, *, timeout_seconds: float) -> Notification:
            FailingHub.calls += 1
            if FailingHub.calls > 1:  # a Prefect retry that resumed the journal's job
                return _with_link(job)
            if error is None:
                return _no_link(job)
            raise error

    monkeypatch.setattr(generation, "hub_for", lambda account: FailingHub())

    @flow
    def one_output() -> None:
        image = upload_image(credentials, str(samples["astronaut"]))
        spec = GenerationSpec(kind="person", person_id=0, keyword=OCEANIA, options={"seed": 5})
        generate_output.with_options(retries=3, retry_delay_seconds=0)(
            credentials, image, spec, timeout_seconds=5.0, output_retries=0
        )

    state = one_output(return_state=True)

    # Transient ones are retried by Prefect: the retry resumes the journal's job.
    assert state.is_failed() != (error is not None and is_transient(error)), failure
    stats = piktid_emulator.stats(piktid_account.email)
    # A retry may resume the journal's job (no new start) — never start it again.
    assert stats.requests["POST /edit/generate"] == 1, failure
    assert stats.credits_charged == 1


def test_a_result_without_link_is_not_a_transient_error() -> None:
    """Prefect retries transient errors: this one comes after a paid, settled start."""
    job = GenerationJob(kind="person", image_id="i", person_id=0, keyword=OCEANIA)
    with pytest.raises(GenerationFailed) as raised:
        generation._result_link(_no_link(job), job)
    assert not is_transient(raised.value)
