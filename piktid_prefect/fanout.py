"""The fan-out behind every flow: upload, then generate and download each output.

Outputs run concurrently, at most twice the in-flight bound at a time (each task in
flight holds a thread); each person's first generation is submitted first, and the
person's follow-ups wait for the stagger behind it (see :mod:`piktid_prefect.runtime.stagger`).
Every delivered output is written and listed in ``manifest.json`` even when others fail;
then the run fails naming the ones that did.

Before the first start the run counts what it will pay for and reads the balance
(:mod:`piktid_prefect.preflight`); outputs already in ``manifest.json`` are handed back
without a task. Every start counts against the run's ``max_credits``, and the first
``402`` stops the run's new starts (:mod:`piktid_prefect.runtime.credits`).
"""

from __future__ import annotations

import os
import queue
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.futures import PrefectFuture
from pydantic import BaseModel, Field

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.events import (
    emit_credits_low_event,
    emit_image_rejected_event,
    emit_outputs_failed_event,
)
from piktid_prefect.preflight import preflight, read_balance
from piktid_prefect.runtime import credits, generation, stagger
from piktid_prefect.runtime.credits import CreditBudget, CreditSummary
from piktid_prefect.runtime.generation import writable_folder
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    Manifest,
    OutputRecord,
    RejectedImage,
    UploadedImage,
    with_distinct_names,
)
from piktid_prefect.runtime.stagger import Planned
from piktid_prefect.tasks import generate_output, upload_image
from piktid_prefect.ui import RunDisplay
from piktid_prefect.wire.errors import (
    InsufficientCredits,
    InvalidInput,
    NotEnoughCredits,
    PiktidError,
    is_transient,
)

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_OUTPUT_RETRIES",
    "FailedOutput",
    "VariationsResult",
    "run_outputs",
    "upload_all",
]

DEFAULT_MAX_IN_FLIGHT = 32
# An output the server failed or never reported is started once more in the same run.
DEFAULT_OUTPUT_RETRIES = 1


class FailedOutput(BaseModel):
    """An output that could not be delivered."""

    image: str = Field(description="Source image name.")
    kind: str = Field(description="person or background.")
    person: int | None = Field(description="Person id, if any.")
    keyword: dict[str, str] = Field(description="The keyword pair.")
    error: str = Field(description="What went wrong.")


class VariationsResult(BaseModel):
    """What a flow delivered."""

    outputs: list[OutputRecord] = Field(default_factory=list, description="Delivered outputs.")
    failures: list[FailedOutput] = Field(default_factory=list, description="Failed outputs.")
    manifest_path: str = Field("", description="Path of manifest.json.")
    paid_again: int = Field(
        0,
        description="Outputs this run started (and paid) more than once: the server failed "
        "or never reported their first start.",
    )
    left_out: list[FailedOutput] = Field(
        default_factory=list, description="Outputs allow_partial left out for lack of credits."
    )
    credits: CreditSummary | None = Field(None, description="What the run spent.")
    rejected: list[RejectedImage] = Field(
        default_factory=list, description="Source images skipped (on_bad_image='skip')."
    )


def upload_all(
    credentials: PiktidCredentials, images: Sequence[str | UploadedImage]
) -> list[UploadedImage]:
    futures: list[UploadedImage | PrefectFuture[UploadedImage]] = [
        img if isinstance(img, UploadedImage) else upload_image.submit(credentials, img)
        for img in images
    ]
    return with_distinct_names([f if isinstance(f, UploadedImage) else f.result() for f in futures])


def run_outputs(
    credentials: PiktidCredentials,
    work: Sequence[tuple[UploadedImage, GenerationSpec]],
    *,
    out_dir: str,
    stagger_seconds: float,
    max_in_flight: int | None,
    timeout_seconds: float,
    concurrency_limit: str | None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    max_credits: int | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
    rejected: Sequence[RejectedImage] = (),
) -> VariationsResult:
    """Generate and download every (image, spec) concurrently, inside the current flow.

    Raises:
        NotEnoughCredits: Before any start, when the balance or ``max_credits`` is short
            (unless ``allow_partial``); after the run, naming the outputs not started
            because ``max_credits`` was used up or the account answered 402.
        PiktidError: Some outputs failed (the delivered ones are written).
    """
    logger = get_run_logger()
    if max_credits is not None and max_credits < 0:
        raise InvalidInput(f"max_credits must be 0 or more, not {max_credits}")
    # A folder that cannot be written is refused before the first credit is spent.
    writable_folder(out_dir)
    # The same output asked twice (a repeated keyword, an image listed twice) is made once:
    # two concurrent runs of one cache key would both pay.
    unique = {(image.sha256, spec.model_dump_json()): (image, spec) for image, spec in work}
    work = list(unique.values())
    # Before the first start: what is delivered, cached, to pay; refuse what cannot be paid.
    check = preflight(
        credentials, work, out_dir, max_credits=max_credits, allow_partial=allow_partial
    )
    left_out = [_failed(image, spec, "not enough credits") for image, spec in check.left_out]
    if left_out:
        logger.warning(
            "allow_partial: %d outputs left out for lack of credits: %s",
            len(left_out),
            "; ".join(_label(f) for f in left_out),
        )
    budget = CreditBudget(run_key=uuid.uuid4().hex, max_credits=max_credits)
    total = len(check.delivered) + len(check.to_run)
    expected = Counter(image.name for image, _ in check.to_run)
    expected.update(record.image for record in check.delivered)
    display = RunDisplay(total, originals=[image for image, _ in work], expected=expected)
    outputs: list[OutputRecord] = []
    failures: list[FailedOutput] = []
    paid_again: list[GenerationResult] = []

    def deliver(record: OutputRecord) -> None:
        outputs.append(record)
        display.delivered(record)
        logger.info("%d/%d delivered %s", display.done, total, Path(record.path).name)

    def fail(image: UploadedImage, spec: GenerationSpec, exc: BaseException) -> None:
        display.failed_one(image.name)
        logger.warning("%d/%d failed: %s", display.done, total, exc)
        failures.append(_failed(image, spec, f"{type(exc).__name__}: {exc}"))

    try:
        for record in check.delivered:  # listed in manifest.json, file present: no task
            deliver(record)
        _fan_out(
            credentials,
            stagger.in_stagger_order(
                check.to_run, account_key=credentials.account_key, stagger_seconds=stagger_seconds
            ),
            out_dir=out_dir,
            window=2 * (max_in_flight or DEFAULT_MAX_IN_FLIGHT),
            task_options={
                "timeout_seconds": timeout_seconds,
                "max_in_flight": max_in_flight,
                "concurrency_limit": concurrency_limit,
                "output_retries": output_retries,
                "budget": budget,
            },
            deliver=deliver,
            fail=fail,
            paid_again=paid_again.append,
        )
        spend = _spend(credentials, check.balance, credits.ledger(budget), failures)
        _warn_if_low(credentials, spend, low_credits_threshold)
        outputs.sort(key=lambda r: r.path)
        note = spend.line() + "".join(f"; skipped {r.image}: {r.reason}" for r in rejected)
        display.finish(outputs, note=note)  # sent while the manifest is written
        manifest_path = ""
        for skipped in rejected:
            logger.warning("Skipped %s: %s", skipped.image, skipped.reason)
            emit_image_rejected_event(skipped.image, skipped.sha256, skipped.reason)
        if outputs or rejected:
            manifest = Manifest.merged(out_dir, outputs, rejected).model_copy(
                update={"credits": spend}
            )
            manifest_path = str(manifest.write(out_dir))
        elif Path(out_dir, "manifest.json").exists():
            # Nothing delivered this time: the earlier manifest stays as it was.
            manifest_path = str(Path(out_dir, "manifest.json"))
    finally:
        display.close()
    logger.info(
        "%d of %d outputs delivered to %s; %s",
        len(outputs),
        total,
        os.path.abspath(out_dir),
        spend.line(),
    )
    if paid_again:
        logger.warning(
            "%d output(s) paid twice: the server failed or never reported their first start (%s)",
            len(paid_again),
            "; ".join(f"{r.job.label}: {r.paid_again[0]}" for r in paid_again[:5]),
        )
    if failures:
        _announce_failures(failures, total, len(outputs), manifest_path or out_dir)
        _raise_for_failures(failures, total, manifest_path or out_dir)
    return VariationsResult(
        outputs=outputs,
        failures=failures,
        manifest_path=manifest_path,
        paid_again=len(paid_again),
        left_out=left_out,
        credits=spend,
        rejected=list(rejected),
    )


def _failed(image: UploadedImage, spec: GenerationSpec, error: str) -> FailedOutput:
    return FailedOutput(
        image=image.name, kind=spec.kind, person=spec.person_id, keyword=spec.keyword, error=error
    )


def _label(f: FailedOutput) -> str:
    return f"{f.image} {f.kind} person={f.person} {f.keyword}"


def _spend(
    credentials: PiktidCredentials,
    balance_before: float | None,
    ledger: credits.RunLedger,
    failures: Sequence[FailedOutput],
) -> CreditSummary:
    """The run's spend; the balance is read again (one ``GET /me``) only if it paid."""
    balance_after = balance_before
    if ledger.sent:
        balance_after = read_balance(credentials)
    return CreditSummary(
        spent=ledger.spent,
        starts_sent=ledger.sent,
        balance_before=balance_before,
        balance_after=balance_after,
        max_credits=ledger.max_credits,
        not_started=sum(map(_not_started, failures)),
    )


def _warn_if_low(
    credentials: PiktidCredentials, spend: CreditSummary, threshold: float | None
) -> None:
    balance = spend.balance_after
    if threshold is not None and balance is not None and balance < threshold:
        get_run_logger().warning(
            "PiktID credits are low: %s left (threshold %s)",
            credits.format_credits(balance),
            credits.format_credits(threshold),
        )
        emit_credits_low_event(credentials.account_key, balance, threshold, spend.spent)


def _not_started(failure: FailedOutput) -> bool:
    """Refused for lack of credits (a 402, or a start the run did not send): nothing paid."""
    return failure.error.startswith((NotEnoughCredits.__name__, InsufficientCredits.__name__))


def _announce_failures(
    failures: Sequence[FailedOutput], total: int, delivered: int, where: str
) -> None:
    """One event for the run, for automations (e.g. a notification to the team)."""
    not_started = sum(map(_not_started, failures))
    emit_outputs_failed_event(
        failed=len(failures) - not_started,
        not_started=not_started,
        total=total,
        delivered=delivered,
        where=where,
        errors=[f"{_label(f)}: {f.error}" for f in failures],
    )


def _raise_for_failures(failures: Sequence[FailedOutput], total: int, where: str) -> None:
    not_started = [f for f in failures if _not_started(f)]
    failed = [f for f in failures if f not in not_started]
    listed = "; ".join(f"{_label(f)}: {f.error}" for f in failed[:10])
    message = f"{len(failed)} of {total} outputs failed (delivered ones are in {where})"
    message += f": {listed}" if failed else ""
    if not not_started:
        raise PiktidError(message)
    stops = [f.error for f in not_started if "not started: " in f.error] or [not_started[0].error]
    reason = stops[0].split("not started: ", 1)[-1]
    stopped = f"{len(not_started)} of {total} outputs were not started: {reason}"
    raise NotEnoughCredits(
        f"{stopped}; {message}" if failed else f"{stopped} (delivered ones are in {where})",
        reason="max_credits" if "max_credits" in reason else "balance",
    )


# Downloads are safe to repeat: a transient fault is retried here, with backoff.
_DOWNLOAD_ATTEMPTS = 4
_DOWNLOAD_THREADS = 8


def _download(
    credentials: PiktidCredentials, result: GenerationResult, out_dir: str
) -> OutputRecord:
    """Download one result (a plain call, not a task: see :func:`_fan_out`)."""
    for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
        try:
            return generation.download(credentials, result, out_dir)
        except Exception as exc:
            if attempt == _DOWNLOAD_ATTEMPTS or not is_transient(exc):
                raise
            time.sleep(2.0 ** (attempt - 1))
    raise AssertionError("unreachable")


def _fan_out(
    credentials: PiktidCredentials,
    plans: list[Planned],
    *,
    out_dir: str,
    window: int,
    task_options: dict[str, Any],
    deliver: Callable[[OutputRecord], None],
    fail: Callable[[UploadedImage, GenerationSpec, BaseException], None],
    paid_again: Callable[[GenerationResult], None],
) -> None:
    """Run generate -> download for every plan, at most ``window`` outputs at a time.

    Submitting everything at once would park one thread per task (1,500 threads for
    1,000 outputs); a window twice the in-flight bound keeps every slot busy while
    memory stays flat.

    Each output is one task run (``generate_output``, the paid and cached step); its
    download is a plain call in a small pool. A second task run per output doubled the
    Prefect events the server stores for a batch (measured in ``docs/benchmark.md``) for
    a step that is free, idempotent (deterministic file names) and retried here.
    """
    began = time.time()
    finished: queue.Queue[PrefectFuture[Any] | Future[Any]] = queue.Queue()
    stage: dict[PrefectFuture[Any] | Future[Any], tuple[UploadedImage, GenerationSpec]] = {}
    downloads = ThreadPoolExecutor(_DOWNLOAD_THREADS, thread_name_prefix="piktid-download")
    pending = iter(plans)
    active = 0

    def submit_next() -> bool:
        plan = next(pending, None)
        if plan is None:
            return False
        image, spec, stagger_plan = plan
        generated = generate_output.submit(
            credentials, image, spec, stagger=stagger_plan, **task_options
        )
        if stagger_plan is not None and stagger_plan.first:
            # A cached first output never starts: release its follow-ups when it is done.
            generated.add_done_callback(lambda _: stagger.release(stagger_plan))
        stage[generated] = (image, spec)
        generated.add_done_callback(finished.put)
        return True

    with downloads:
        while active < window and submit_next():
            active += 1
        while active:
            future = finished.get()
            image, spec = stage.pop(future)
            try:
                result = future.result()
            except Exception as exc:
                fail(image, spec, exc)
            else:
                if isinstance(result, GenerationResult):
                    if result.paid_again and result.job.started_at >= began:
                        paid_again(result)  # not a cached result of an earlier run
                    downloaded = downloads.submit(_download, credentials, result, out_dir)
                    stage[downloaded] = (image, spec)
                    downloaded.add_done_callback(finished.put)
                    continue
                deliver(result)
            active -= 1
            if submit_next():
                active += 1
