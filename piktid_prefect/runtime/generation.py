"""One output, start to file: upload, start, wait, download — never paying twice.

The straight path of one output (each step in its own module):

    tasks.generate_output                       (Prefect: cache key, retries, events)
      -> generate()                             (here: journal, stagger, in-flight slot)
        -> stagger.wait_turn / mark_started     (a person's follow-ups wait for its first)
        -> start() -> wire client -> POST /edit/generate | /edit/background
        -> wait()  -> notifications hub         (one poller per account) -> result link
    tasks.download_result -> download() -> wire client -> GET link -> file

Clients and pollers are shared per process and account (:mod:`.registry`). Failures that
mean "upload again" (:class:`ImageNotFound`) rise to the task that owns uploads.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from prefect.concurrency.sync import concurrency
from prefect.filesystems import WritableFileSystem

from piktid_prefect.runtime import credits, lost_starts, registry, stagger
from piktid_prefect.runtime.account import AccountAccess
from piktid_prefect.runtime.journal import JobJournal, default_journal
from piktid_prefect.runtime.lost_starts import StartLedger
from piktid_prefect.runtime.notifications import NotificationHub
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    OutputRecord,
    UploadedImage,
    generation_identity,
    output_filename,
)
from piktid_prefect.runtime.stagger import StaggerPlan
from piktid_prefect.wire.client import PiktidClient, RetryPolicy
from piktid_prefect.wire.errors import (
    BadRequest,
    GenerationFailed,
    GenerationStartUnconfirmed,
    ImageNotFound,
    InsufficientCredits,
    InvalidConfiguration,
    NotEnoughCredits,
    NotificationTimeout,
    PiktidError,
    RunStopped,
)
from piktid_prefect.wire.images import load_image
from piktid_prefect.wire.models import GenerationJob, Notification


def client_for(account: AccountAccess) -> PiktidClient:
    """This process's shared client for the account (httpx clients are thread-safe)."""
    key = (account.account_key, account.base_url, account.timeout_seconds)
    return registry.shared("client", key, account.get_client)


def _one_attempt_client(account: AccountAccess) -> PiktidClient:
    key = (account.account_key, account.base_url, account.timeout_seconds)
    return registry.shared(
        "client-one-attempt", key, lambda: account.get_client(retry=RetryPolicy(max_attempts=1))
    )


def hub_for(account: AccountAccess) -> NotificationHub:
    """This process's notification poller for the account."""
    hub = registry.shared(
        "hub",
        account.account_key,
        lambda: NotificationHub(
            # One attempt per poll: the hub repeats failed polls on its own schedule.
            lambda: account.get_client(retry=RetryPolicy(max_attempts=1)),
            poll_interval_seconds=account.poll_interval_seconds,
        ),
    )
    hub.poll_interval_seconds = account.poll_interval_seconds
    return hub


def identity(account: AccountAccess, image: UploadedImage, spec: GenerationSpec) -> str:
    """The paid-output identity of ``spec`` on ``image`` for this account."""
    return generation_identity(account.account_key, image.sha256, spec)


def upload(
    account: AccountAccess,
    image: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    options: dict[str, Any] | None = None,
) -> UploadedImage:
    """Validate and upload ``image``; the result remembers how to upload it again."""
    payload = load_image(image)
    source = None if isinstance(image, bytes) else str(Path(image).resolve())
    answer = client_for(account).upload_target(
        payload.data, options=options, filename=payload.filename
    )
    return UploadedImage(
        image_id=answer.image_id,
        sha256=payload.sha256,
        name=name or (Path(source).stem if source else payload.sha256[:12]),
        persons=answer.persons,
        account_key=account.account_key,
        uploaded_at=time.time(),
        source=source,
    )


def _stopped(account: AccountAccess) -> threading.Event:
    return registry.shared("stopped", account.account_key, threading.Event)


def stop(account: AccountAccess, reason: str) -> None:
    """The run was stopped: no new start on the account in this process, waits end.

    The jobs already paid stay in the journal (a re-run within 600 s collects them).
    """
    _stopped(account).set()
    hub_for(account).cancel_all(RunStopped(reason))


def resume(account: AccountAccess) -> None:
    """A new run begins: starts are allowed again after an earlier :func:`stop`."""
    _stopped(account).clear()


def ledger_for(account: AccountAccess) -> StartLedger:
    """This process's ledger of starts on the account (see :mod:`.lost_starts`)."""
    return registry.shared("start-ledger", account.account_key, StartLedger)


def balance(account: AccountAccess, *, once: bool = False) -> float | None:
    """The account's credits: one ``GET /me``; None when the answer does not say.

    The package's one balance reader (the preflight, the lost-start ledger and the
    command's progress line all read through it). ``once``: a single HTTP attempt, for a
    reader that must not hold the run up (the progress line: with the client's retries,
    an unreachable API kept the command silent for two minutes before the run began).

    Raises:
        PiktidError: The request failed.
    """
    client = _one_attempt_client(account) if once else client_for(account)
    me = client.me()
    return float(me.credits) if "credits" in me.model_fields_set else None


def _balance(account: AccountAccess) -> float:
    """:func:`balance` for the lost-start ledger, to which an unknown balance is a failure."""
    value = balance(account)
    if value is None:
        raise PiktidError("GET /me did not say the balance")
    return value


def start(account: AccountAccess, image: UploadedImage, spec: GenerationSpec) -> GenerationJob:
    """Send one start; an unconfirmed start comes back as a job with ``confirmed=False``."""
    if spec.kind == "person" and spec.person_id is None:
        raise ValueError("a person generation needs a person_id")
    if _stopped(account).is_set():
        raise RunStopped(f"not started, the run was stopped: {spec.kind} {spec.keyword}")
    client = client_for(account)
    credits.spend_one()  # the run's budget: raises NotEnoughCredits, nothing sent
    # What the account's notifications already hold cannot be this start's (another
    # process's start of the same output may have left one behind): list it first.
    hub_for(account).before_start()
    ledger = ledger_for(account)
    with ledger.sending(partial(_balance, account)) as sent:
        try:
            if spec.kind == "person":
                assert spec.person_id is not None
                job = client.generate_person(
                    image.image_id,
                    spec.person_id,
                    spec.keyword,
                    options=spec.options,
                    prompt=spec.prompt or None,
                )
            else:
                job = client.edit_background(
                    image.image_id, spec.keyword or None, prompt=spec.prompt, options=spec.options
                )
        except GenerationStartUnconfirmed as exc:
            if not isinstance(exc.job, GenerationJob):
                raise
            sent.lost(exc.job)
            return exc.job
        except BadRequest as exc:
            credits.not_charged(exc)  # refused, nothing paid; a 402 stops the run's new starts
            raise
    return job


def wait(account: AccountAccess, job: GenerationJob, *, timeout_seconds: float) -> Notification:
    """Wait for ``job``'s notification through the account's shared poller."""
    return hub_for(account).wait(job, timeout_seconds=timeout_seconds)


@contextlib.contextmanager
def _in_flight_slot(
    account: AccountAccess, max_in_flight: int | None, limit_name: str | None
) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if max_in_flight:
            slot = registry.shared(
                "in-flight-slot",
                (account.account_key, max_in_flight),
                lambda: threading.BoundedSemaphore(max_in_flight),
            )
            stack.enter_context(slot)
        if limit_name:
            # A Prefect global concurrency limit caps the account across flow runs and
            # machines; the slot is held while the generation is in flight.
            stack.enter_context(concurrency(limit_name, occupy=1))
        yield


def generate(
    account: AccountAccess,
    image: UploadedImage,
    spec: GenerationSpec,
    *,
    timeout_seconds: float,
    max_in_flight: int | None = None,
    concurrency_limit: str | None = None,
    stagger_plan: StaggerPlan | None = None,
    journal: JobJournal | None = None,
    output_retries: int = 0,
) -> GenerationResult:
    """Start ``spec`` and wait for its result, never paying twice for one output by chance.

    - A job started by an earlier, crashed run (in the journal, notification still
      possible) is waited for instead of started again.
    - A follow-up of a person waits for the stagger after the person's first start.
    - Start answer lost: settled by :func:`.lost_starts.settle` (its notification, the
      account's ledger, or a bounded window), then started once more if never taken.
    - The server failed the output (``error`` notification, a result without a link) or
      never reported it (its notification timed out): started once more, up to
      ``output_retries`` times — each a paid start, counted in the result.

    Raises:
        ImageNotFound: PiktID forgot the image (24 h): nothing was paid; upload it
            again and call once more.
    """
    journal = journal or default_journal()
    output_id = identity(account, image, spec)
    resumed = journal.pending(output_id, max_age_seconds=timeout_seconds)
    if resumed is None:
        stagger.wait_turn(stagger_plan)
    with _in_flight_slot(account, max_in_flight, concurrency_limit):
        began = time.monotonic()
        if resumed is not None:
            job = resumed
            stagger.mark_started(stagger_plan, resumed.started_at)
        else:
            job = _start_first(account, image, spec, stagger_plan)
        journal.record(output_id, job)
        paid_again: list[str] = []
        while True:
            try:
                notification, job = _collect(
                    account,
                    image,
                    spec,
                    job,
                    output_id,
                    journal,
                    timeout_seconds=timeout_seconds,
                    resumed=resumed is not None,
                )
                link = _result_link(notification, job)
                break
            except (GenerationFailed, NotificationTimeout) as exc:
                # Definitive for this start: the server failed it or never reported it.
                if len(paid_again) >= output_retries:
                    journal.settle(output_id)
                    raise
                paid_again.append(f"{type(exc).__name__}: {exc}")
                job = _start_again(account, image, spec, output_id, journal)
            except (ImageNotFound, NotEnoughCredits, InsufficientCredits):
                journal.settle(output_id)  # not started again: nothing to collect later
                raise
            resumed = None
        # Any other failure (credentials revoked mid-wait, a crash) keeps the entry: a
        # re-run within the wait window collects the job already paid for.
        journal.settle(output_id)
    return GenerationResult(
        identity=output_id,
        image=image,
        spec=spec,
        job=job,
        link=link,
        seconds=time.monotonic() - began,
        paid_again=paid_again,
    )


def _collect(
    account: AccountAccess,
    image: UploadedImage,
    spec: GenerationSpec,
    job: GenerationJob,
    output_id: str,
    journal: JobJournal,
    *,
    timeout_seconds: float,
    resumed: bool,
) -> tuple[Notification, GenerationJob]:
    """The notification of ``job`` (settling it first if its start answer was lost)."""
    hub = hub_for(account)
    remaining = timeout_seconds - (time.time() - job.started_at) if resumed else timeout_seconds
    if job.confirmed and resumed:
        try:
            return hub.wait(job, timeout_seconds=max(0.0, remaining)), job
        except NotificationTimeout:
            # The crashed run's job is gone (or never started): start it once more.
            job = _start_again(account, image, spec, output_id, journal)
            return hub.wait(job, timeout_seconds=timeout_seconds), job
    if job.confirmed:
        return hub.wait(job, timeout_seconds=timeout_seconds), job
    return lost_starts.settle(
        hub,
        ledger_for(account),
        job,
        timeout_seconds=timeout_seconds,
        read_balance=partial(_balance, account),
        start_again=partial(_start_again, account, image, spec, output_id, journal),
    )


def _start_again(
    account: AccountAccess,
    image: UploadedImage,
    spec: GenerationSpec,
    output_id: str,
    journal: JobJournal,
) -> GenerationJob:
    job = start(account, image, spec)
    journal.record(output_id, job)
    return job


def _result_link(notification: Notification, job: GenerationJob) -> str:
    if not notification.links:
        # Paid and finished, but nothing to download: the server failed this output.
        raise GenerationFailed(
            f"The notification for {job.label} carries no result link",
            tasks="",
            msg="no result link",
            job=job.label,
        )
    return notification.links[0].url


def _start_first(
    account: AccountAccess, image: UploadedImage, spec: GenerationSpec, plan: StaggerPlan | None
) -> GenerationJob:
    """Start and record it in the person's stagger (on failure too: follow-ups go)."""
    try:
        job = start(account, image, spec)
    except ImageNotFound:
        raise  # the task uploads again and calls back: the follow-ups keep waiting
    except BaseException:
        stagger.mark_started(plan, None)
        raise
    stagger.mark_started(plan, job.started_at)
    return job


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def writable_folder(destination: str | os.PathLike[str]) -> Path:
    folder = Path(destination)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidConfiguration(f"Output folder {folder} cannot be created: {exc}") from exc
    if not os.access(folder, os.W_OK):
        raise InvalidConfiguration(f"Output folder {folder} is not writable")
    return folder


@runtime_checkable
class WritesImages(Protocol):
    """An output location that writes an image whole and says where it is (a bucket)."""

    def write_image(self, name: str, data: bytes) -> str: ...


def download(
    account: AccountAccess,
    result: GenerationResult,
    destination: str | os.PathLike[str] | WritableFileSystem | WritesImages,
) -> OutputRecord:
    """Write ``result`` under its deterministic name; an existing file is kept as is."""
    filename = output_filename(result.image.name, result.spec)
    client = client_for(account)
    if isinstance(destination, WritesImages):
        data = client.download(result.link)
        assert isinstance(data, bytes)
        path, sha256 = destination.write_image(filename, data), hashlib.sha256(data).hexdigest()
    elif isinstance(destination, WritableFileSystem):
        data = client.download(result.link)
        assert isinstance(data, bytes)
        # Prefect's filesystem methods are sync-compatible: called from a thread, they run.
        cast(Any, destination).write_path(filename, data)
        path, sha256 = filename, hashlib.sha256(data).hexdigest()
    else:
        target = writable_folder(destination) / filename
        if not target.exists():
            client.download(result.link, target)
        path, sha256 = str(target), _sha256_file(target)
    return OutputRecord(
        paid_again=result.paid_again,
        path=path,
        id_image=result.image.image_id,
        image=result.image.name,
        image_sha256=result.image.sha256,
        kind=result.spec.kind,
        person=result.spec.person_id,
        keyword=result.spec.keyword,
        seed=result.spec.seed,
        link=result.link,
        seconds=round(result.seconds, 3),
        sha256=sha256,
    )
