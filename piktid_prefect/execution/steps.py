"""A run in four steps: prepare -> execute -> report -> raise.

- :func:`prepare`: refuse what cannot be done before the first credit is spent (the
  output folder, ``max_credits``), make each output once, look the account limit up
  once, sort the outputs into delivered / to run / left out (:mod:`.preflight`).
- :func:`execute`: the fan-out (:mod:`.fanout`); each output ends in a :class:`RunLog`,
  which shows it (:mod:`piktid_prefect.artifacts`) and keeps its failure kind.
- :func:`report`: the spend as settled, the low-credits event, the skipped images, the
  table and ``manifest.json`` -- everything delivered is written before anything raises.
- :func:`raise_for_failures`: fail naming the outputs that failed or were not started.

:func:`run_outputs` chains them; :func:`run_stoppable` also ends the run's waits when
the flow run is stopped. A new kind of step after each output, or another place to
write outputs to, changes :mod:`.fanout` or :func:`report`, not the chain.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import get_run_logger

from piktid_prefect.artifacts.display import RunDisplay
from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.execution import chain
from piktid_prefect.execution.account_limit import existing_concurrency_limit
from piktid_prefect.execution.chain_credits import check_chain_credits
from piktid_prefect.execution.fanout import fan_out
from piktid_prefect.execution.outcome import (
    FailedOutput,
    Failure,
    VariationsResult,
    failed_output,
    failure_of,
)
from piktid_prefect.execution.preflight import Preflight, preflight, read_balance
from piktid_prefect.execution.settings import RunSettings
from piktid_prefect.runtime import credits, generation, stagger
from piktid_prefect.runtime.credits import CreditBudget, CreditSummary
from piktid_prefect.runtime.generation import writable_folder
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    OutputRecord,
    RejectedImage,
    UploadedImage,
)
from piktid_prefect.storage import ManifestLog, ManifestView, OutputLocation, open_output_location
from piktid_prefect.tasks.events import (
    emit_credits_low_event,
    emit_image_rejected_event,
    emit_outputs_failed_event,
)
from piktid_prefect.wire.errors import InvalidInput, NotEnoughCredits, PiktidError

__all__ = [
    "Prepared",
    "RunLog",
    "execute",
    "prepare",
    "raise_for_failures",
    "report",
    "run_outputs",
    "run_stoppable",
]

Work = tuple[UploadedImage, GenerationSpec]


@dataclass(frozen=True)
class Prepared:
    """A run decided before its first start."""

    settings: RunSettings
    work: list[Work]
    check: Preflight
    left_out: list[FailedOutput]
    budget: CreditBudget
    rejected: list[RejectedImage]
    out: OutputLocation
    view: ManifestView  # the output location's manifest as read before the first start

    @property
    def total(self) -> int:
        return len(self.check.delivered) + len(self.check.to_run)


@dataclass
class RunLog:
    """What each output came to, shown as it comes (the fan-out's :class:`Progress`)."""

    display: RunDisplay
    total: int
    manifest: ManifestLog | None = None
    logger: Any = field(default_factory=get_run_logger)
    outputs: list[OutputRecord] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    repaid: list[GenerationResult] = field(default_factory=list)

    def deliver(self, record: OutputRecord) -> None:
        if self.manifest is not None:
            # Recorded as it arrives: a worker killed later loses no delivered output.
            self.manifest.record_output(record)
        self.show(record)

    def show(self, record: OutputRecord) -> None:
        """An output delivered (now or by an earlier run), in the run's result and display."""
        self.outputs.append(record)
        self.display.delivered(record)
        self.logger.info(
            "%d/%d delivered %s", self.display.done, self.total, Path(record.path).name
        )

    def fail(self, image: UploadedImage, spec: GenerationSpec, exc: BaseException) -> None:
        self.display.failed_one(image.name)
        self.logger.warning("%d/%d failed: %s", self.display.done, self.total, exc)
        self.failures.append(failure_of(image, spec, exc))

    def paid_again(self, result: GenerationResult) -> None:
        self.repaid.append(result)


def run_stoppable(
    credentials: PiktidCredentials,
    work: Sequence[Work],
    settings: RunSettings,
    rejected: Sequence[RejectedImage] = (),
) -> VariationsResult:
    """:func:`run_outputs`, whose in-flight waits end when the run is stopped.

    A cancelled deployment run gets SIGTERM; Prefect raises ``TerminationSignal`` in the
    flow, then waits for its task threads, which wait for PiktID's notifications (minutes)
    until the worker kills the process 30 s later. Failing those waits lets the run end
    Cancelled at once; the jobs stay in the journal (only a settled output leaves it), so
    a re-run within PiktID's 600 s collects them without paying again.
    """
    generation.resume(credentials)  # a new run: an earlier stop in this process is over
    try:
        return run_outputs(credentials, work, settings, rejected)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # TerminationSignal, KeyboardInterrupt, ...
            generation.stop(credentials, f"the flow run was stopped ({exc!r})")
        raise


def run_outputs(
    credentials: PiktidCredentials,
    work: Sequence[Work],
    settings: RunSettings,
    rejected: Sequence[RejectedImage] = (),
) -> VariationsResult:
    """Generate and download every (image, spec) concurrently, inside the current flow.

    Raises:
        NotEnoughCredits: Before any start, when the balance or ``max_credits`` is short
            (unless ``allow_partial``); after the run, naming the outputs not started
            because ``max_credits`` was used up or the account answered 402.
        PiktidError: Some outputs failed (the delivered ones are written).
    """
    prepared = prepare(credentials, work, settings, rejected)
    out = prepared.out
    display = RunDisplay(
        prepared.total,
        originals=[image for image, _ in prepared.work],
        expected=_expected(prepared.check),
        storage=None if out.local else out,
        manifest_uri=out.manifest_uri,
    )
    with contextlib.closing(display):
        log = execute(credentials, prepared, display)
        result = report(credentials, prepared, log)
    _log_end(prepared, log, result)
    raise_for_failures(log.failures, prepared, result.manifest_path or settings.out_dir)
    return result


def prepare(
    credentials: PiktidCredentials,
    work: Sequence[Work],
    settings: RunSettings,
    rejected: Sequence[RejectedImage] = (),
) -> Prepared:
    """Everything decided before the first start; refuses what cannot be done or paid."""
    if settings.max_credits is not None and settings.max_credits < 0:
        raise InvalidInput(f"max_credits must be 0 or more, not {settings.max_credits}")
    out = open_output_location(settings.out_dir, settings.output_storage_block)
    if out.local:  # a folder that cannot be written is refused before the first credit
        writable_folder(settings.out_dir)
    view = out.manifest.read()  # once: preflight and the final compaction share it
    limit = existing_concurrency_limit(settings.concurrency_limit)  # once per run
    settings = settings.model_copy(update={"concurrency_limit": limit})
    # The same output asked twice (a repeated keyword, an image listed twice) is made once:
    # two concurrent runs of one cache key would both pay.
    unique = list({(i.sha256, s.model_dump_json()): (i, s) for i, s in work}.values())
    check = preflight(
        credentials,
        unique,
        out,
        max_credits=settings.max_credits,
        allow_partial=settings.allow_partial,
        view=view,
    )
    if settings.then:  # steps after each variation: incomplete chains run, all priced
        check = chain.with_chains_to_run(check, unique, settings)
        check_chain_credits(credentials, check, settings)
    left_out = [failed_output(image, spec, "not enough credits") for image, spec in check.left_out]
    if left_out:
        get_run_logger().warning(
            "allow_partial: %d outputs left out for lack of credits: %s",
            len(left_out),
            "; ".join(f.label() for f in left_out),
        )
    budget = CreditBudget(run_key=uuid.uuid4().hex, max_credits=settings.max_credits)
    return Prepared(settings, unique, check, left_out, budget, list(rejected), out, view)


def execute(credentials: PiktidCredentials, prepared: Prepared, display: RunDisplay) -> RunLog:
    """Deliver what is already delivered, then fan the rest out; each end goes to the log."""
    log = RunLog(display, prepared.total, prepared.out.manifest)
    for record in prepared.check.delivered:  # listed in manifest.json, file present: no task
        log.show(record)
    settings = prepared.settings
    plans = stagger.in_stagger_order(
        prepared.check.to_run,
        account_key=credentials.account_key,
        stagger_seconds=settings.stagger_seconds,
    )
    fan_out(credentials, plans, settings, prepared.budget, log, prepared.out)
    return log


def report(credentials: PiktidCredentials, prepared: Prepared, log: RunLog) -> VariationsResult:
    """The run's spend, events, table and ``manifest.json``: written before any raise."""
    spend = _spend(credentials, prepared, log)
    _warn_if_low(credentials, spend, prepared.settings.low_credits_threshold)
    outputs = sorted(log.outputs, key=lambda r: r.path)
    rejected = prepared.rejected
    note = spend.line() + "".join(f"; skipped {r.image}: {r.reason}" for r in rejected)
    log.display.finish(outputs, note=note)  # sent while the manifest is written
    for skipped in rejected:
        get_run_logger().warning("Skipped %s: %s", skipped.image, skipped.reason)
        emit_image_rejected_event(skipped.image, skipped.sha256, skipped.reason)
    manifest_path = _write_manifest(prepared, outputs, rejected, spend)
    if log.failures:  # one event for the run, for automations (a notification, say)
        emit_outputs_failed_event(
            failed=sum(f.kind == "failed" for f in log.failures),
            not_started=sum(f.kind == "not started" for f in log.failures),
            total=prepared.total,
            delivered=len(outputs),
            where=manifest_path or prepared.settings.out_dir,
            errors=[f"{f.output.label()}: {f.output.error}" for f in log.failures],
        )
    return VariationsResult(
        outputs=outputs,
        failures=[f.output for f in log.failures],
        manifest_path=manifest_path,
        paid_again=len(log.repaid),
        left_out=prepared.left_out,
        credits=spend,
        rejected=rejected,
    )


def raise_for_failures(failures: Sequence[Failure], prepared: Prepared, where: str) -> None:
    """Fail naming the outputs that failed, and why the not-started ones were not."""
    if not failures:
        return
    total = prepared.total
    not_started = [f for f in failures if f.kind == "not started"]
    failed = [f.output for f in failures if f.kind == "failed"]
    listed = "; ".join(f"{f.label()}: {f.error}" for f in failed[:10])
    message = f"{len(failed)} of {total} outputs failed (delivered ones are in {where})"
    message += f": {listed}" if failed else ""
    if not not_started:
        raise PiktidError(message)
    ledger = credits.ledger(prepared.budget)
    why = ledger.why_stopped or not_started[0].output.error
    stop = ledger.stopped
    stopped = f"{len(not_started)} of {total} outputs were not started: {why}"
    raise NotEnoughCredits(
        f"{stopped}; {message}" if failed else f"{stopped} (delivered ones are in {where})",
        reason=stop.reason if stop else (not_started[0].stop or "balance"),
    )


def _expected(check: Preflight) -> Counter[str]:
    expected = Counter(image.name for image, _ in check.to_run)
    expected.update(record.image for record in check.delivered)
    return expected


def _spend(credentials: PiktidCredentials, prepared: Prepared, log: RunLog) -> CreditSummary:
    """The run's spend as settled; the balance is read again (``GET /me``) only if it paid."""
    ledger = credits.ledger(prepared.budget)
    balance_before = prepared.check.balance
    return CreditSummary(
        spent=ledger.spent,
        starts_sent=ledger.sent,
        balance_before=balance_before,
        balance_after=read_balance(credentials) if ledger.sent else balance_before,
        max_credits=ledger.max_credits,
        not_started=sum(1 for f in log.failures if f.kind == "not started"),
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


def _write_manifest(
    prepared: Prepared,
    outputs: list[OutputRecord],
    rejected: list[RejectedImage],
    spend: CreditSummary,
) -> str:
    """Compact the manifest (the outputs' entries were written as they arrived)."""
    log = prepared.out.manifest
    if outputs or rejected:
        for skipped in rejected:
            log.record_rejected(skipped)
        # Entries written meanwhile by other workers are fetched and kept: no last writer wins.
        log.compact(credits=spend, since=prepared.view)
        return prepared.out.manifest_uri
    if prepared.view.manifest.outputs or prepared.view.manifest.rejected:
        # Nothing delivered this time: the earlier manifest stays as it was.
        return prepared.out.manifest_uri
    return ""


def _log_end(prepared: Prepared, log: RunLog, result: VariationsResult) -> None:
    logger = get_run_logger()
    spend_line = result.credits.line() if result.credits else ""
    out_dir = prepared.out.uri()
    logger.info(
        "%d of %d outputs delivered to %s; %s",
        len(result.outputs),
        prepared.total,
        out_dir,
        spend_line,
    )
    if log.repaid:
        logger.warning(
            "%d output(s) paid twice: the server failed or never reported their first start (%s)",
            len(log.repaid),
            "; ".join(f"{r.job.label}: {r.paid_again[0]}" for r in log.repaid[:5]),
        )
