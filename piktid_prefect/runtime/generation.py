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
from pathlib import Path
from typing import Any, cast

from prefect.concurrency.sync import concurrency
from prefect.filesystems import WritableFileSystem

from piktid_prefect.runtime import credits, registry, stagger
from piktid_prefect.runtime.account import Account
from piktid_prefect.runtime.journal import JobJournal, default_journal
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
    InvalidConfiguration,
    NotificationTimeout,
    ServerError,
)
from piktid_prefect.wire.images import load_image
from piktid_prefect.wire.models import GenerationJob, Notification


def client_for(account: Account) -> PiktidClient:
    """This process's shared client for the account (httpx clients are thread-safe)."""
    key = (account.account_key, account.base_url, account.timeout_seconds)
    return registry.shared("client", key, account.get_client)


def hub_for(account: Account) -> NotificationHub:
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


def identity(account: Account, image: UploadedImage, spec: GenerationSpec) -> str:
    """The paid-output identity of ``spec`` on ``image`` for this account."""
    return generation_identity(account.account_key, image.sha256, spec)


def upload(
    account: Account,
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


def start(account: Account, image: UploadedImage, spec: GenerationSpec) -> GenerationJob:
    """Send one start; an unconfirmed start comes back as a job with ``confirmed=False``."""
    client = client_for(account)
    credits.spend_one()  # the run's budget: raises NotEnoughCredits, nothing sent
    try:
        if spec.kind == "person":
            if spec.person_id is None:
                raise ValueError("a person generation needs a person_id")
            return client.generate_person(
                image.image_id,
                spec.person_id,
                spec.keyword,
                options=spec.options,
                prompt=spec.prompt or None,
            )
        return client.edit_background(
            image.image_id, spec.keyword or None, prompt=spec.prompt, options=spec.options
        )
    except GenerationStartUnconfirmed as exc:
        if not isinstance(exc.job, GenerationJob):
            raise
        return exc.job
    except BadRequest as exc:
        credits.not_charged(exc)  # refused, nothing paid; a 402 stops the run's new starts
        raise


def wait(account: Account, job: GenerationJob, *, timeout_seconds: float) -> Notification:
    """Wait for ``job``'s notification through the account's shared poller."""
    return hub_for(account).wait(job, timeout_seconds=timeout_seconds)


@contextlib.contextmanager
def _in_flight_slot(
    account: Account, max_in_flight: int | None, limit_name: str | None
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
    account: Account,
    image: UploadedImage,
    spec: GenerationSpec,
    *,
    timeout_seconds: float,
    max_in_flight: int | None = None,
    concurrency_limit: str | None = None,
    stagger_plan: StaggerPlan | None = None,
    journal: JobJournal | None = None,
) -> GenerationResult:
    """Start ``spec`` and wait for its result, never paying twice for one output.

    - A job started by an earlier, crashed run (in the journal, notification still
      possible) is waited for instead of started again.
    - A follow-up of a person waits for the stagger after the person's first start.
    - Start answer lost: wait for the notification anyway. It arrives -> the start had
      gone through. It times out -> the start never happened: start once more.

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
        started = time.monotonic()
        if resumed is not None:
            job, wait_seconds = resumed, timeout_seconds - (time.time() - resumed.started_at)
            stagger.mark_started(stagger_plan, resumed.started_at)
        else:
            job = _start_first(account, image, spec, stagger_plan)
            wait_seconds = timeout_seconds
        journal.record(output_id, job)
        try:
            try:
                notification = wait(account, job, timeout_seconds=wait_seconds)
            except NotificationTimeout:
                if job.confirmed and resumed is None:
                    raise
                # Never started (its answer was lost), or the crashed run's job is gone.
                job = start(account, image, spec)
                journal.record(output_id, job)
                notification = wait(account, job, timeout_seconds=timeout_seconds)
        except (GenerationFailed, ImageNotFound):
            # Definitive: the server failed it, or never had the image to start it.
            journal.settle(output_id)
            raise
        # Any other failure (credentials revoked mid-wait, a crash) keeps the entry: a
        # re-run within the wait window collects the job already paid for.
        journal.settle(output_id)
    links = notification.links
    if not links:
        raise ServerError(
            f"The notification for {job.label} carries no result link", status_code=502
        )
    return GenerationResult(
        identity=output_id,
        image=image,
        spec=spec,
        job=job,
        link=links[0].url,
        seconds=time.monotonic() - started,
    )


def _start_first(
    account: Account, image: UploadedImage, spec: GenerationSpec, plan: StaggerPlan | None
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


def download(
    account: Account,
    result: GenerationResult,
    destination: str | os.PathLike[str] | WritableFileSystem,
) -> OutputRecord:
    """Write ``result`` under its deterministic name; an existing file is kept as is."""
    filename = output_filename(result.image.name, result.spec)
    client = client_for(account)
    if isinstance(destination, WritableFileSystem):
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
