"""The logic behind the tasks, written once: upload, start, wait, generate, download.

Clients are shared per process and account (one connection pool, one login); waiting
goes through the account's :class:`~piktid_prefect.runtime.notifications.NotificationHub`.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast

from prefect.concurrency.sync import concurrency
from prefect.filesystems import WritableFileSystem

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.runtime.journal import JobJournal, default_journal
from piktid_prefect.runtime.notifications import NotificationHub, get_hub
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    OutputRecord,
    StaggerPlan,
    UploadedImage,
    generation_identity,
    output_filename,
)
from piktid_prefect.runtime.stagger import StaggerGate, gate_for
from piktid_prefect.wire.client import PiktidClient, RetryPolicy
from piktid_prefect.wire.errors import (
    GenerationFailed,
    GenerationStartUnconfirmed,
    ImageNotFound,
    InvalidConfiguration,
    NotificationTimeout,
    ServerError,
)
from piktid_prefect.wire.images import load_image
from piktid_prefect.wire.models import GenerationJob, Notification

_clients: dict[tuple[int, str, str, float], PiktidClient] = {}
_slots: dict[tuple[int, str, int], threading.BoundedSemaphore] = {}
_registry_lock = threading.Lock()


def client_for(credentials: PiktidCredentials) -> PiktidClient:
    """This process's shared client for the account (httpx clients are thread-safe)."""
    key = (os.getpid(), credentials.account_key, credentials.base_url, credentials.timeout_seconds)
    with _registry_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = credentials.get_client()
        return client


@atexit.register
def _close_clients() -> None:
    for client in _clients.values():
        with contextlib.suppress(Exception):
            client.close()


def identity(credentials: PiktidCredentials, image: UploadedImage, spec: GenerationSpec) -> str:
    """The paid-output identity of ``spec`` on ``image`` for this account."""
    return generation_identity(credentials.account_key, image.sha256, spec)


def upload(
    credentials: PiktidCredentials,
    image: str | os.PathLike[str] | bytes,
    *,
    name: str | None = None,
    options: dict[str, Any] | None = None,
) -> UploadedImage:
    """Validate and upload ``image``; the result remembers how to upload it again."""
    payload = load_image(image)
    source = None if isinstance(image, bytes) else str(Path(image).resolve())
    answer = client_for(credentials).upload_target(
        payload.data, options=options, filename=payload.filename
    )
    return UploadedImage(
        image_id=answer.image_id,
        sha256=payload.sha256,
        name=name or (Path(source).stem if source else payload.sha256[:12]),
        persons=answer.persons,
        account_key=credentials.account_key,
        uploaded_at=time.time(),
        source=source,
    )


def start(
    credentials: PiktidCredentials, image: UploadedImage, spec: GenerationSpec
) -> GenerationJob:
    """Send one start; an unconfirmed start comes back as a job with ``confirmed=False``."""
    client = client_for(credentials)
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


def hub_for(credentials: PiktidCredentials) -> NotificationHub:
    """This process's notification poller for the account."""
    return get_hub(
        credentials.account_key,
        # One attempt per poll: the hub repeats failed polls on its own schedule.
        partial(credentials.get_client, retry=RetryPolicy(max_attempts=1)),
        poll_interval_seconds=credentials.poll_interval_seconds,
    )


def wait(
    credentials: PiktidCredentials, job: GenerationJob, *, timeout_seconds: float
) -> Notification:
    """Wait for ``job``'s notification through the account's shared poller."""
    return hub_for(credentials).wait(job, timeout_seconds=timeout_seconds)


@contextlib.contextmanager
def _in_flight_slot(
    credentials: PiktidCredentials, max_in_flight: int | None, limit_name: str | None
) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if max_in_flight:
            key = (os.getpid(), credentials.account_key, max_in_flight)
            with _registry_lock:
                slot = _slots.setdefault(key, threading.BoundedSemaphore(max_in_flight))
            stack.enter_context(slot)
        if limit_name:
            # A Prefect global concurrency limit caps the account across flow runs and
            # machines; the slot is held while the generation is in flight.
            stack.enter_context(concurrency(limit_name, occupy=1))
        yield


def generate(
    credentials: PiktidCredentials,
    image: UploadedImage,
    spec: GenerationSpec,
    *,
    timeout_seconds: float,
    max_in_flight: int | None = None,
    concurrency_limit: str | None = None,
    stagger: StaggerPlan | None = None,
    reupload: Callable[[], UploadedImage] | None = None,
    journal: JobJournal | None = None,
) -> GenerationResult:
    """Start ``spec`` and wait for its result, never paying twice for one output.

    - A job started by an earlier, crashed run (in the journal, notification still
      possible) is waited for instead of started again.
    - A follow-up of a person waits for the stagger after the person's first start.
    - ``ImageNotFound`` at start (the upload expired): upload again, then start.
    - Start answer lost: wait for the notification anyway. It arrives -> the start had
      gone through. It times out -> the start never happened: start once more.
    """
    journal = journal or default_journal()
    output_id = identity(credentials, image, spec)
    resumed = journal.pending(output_id, max_age_seconds=timeout_seconds)
    gate = gate_for(stagger.key) if stagger else None
    if gate and stagger and not stagger.first and resumed is None:
        gate.wait(stagger.seconds, max_wait_seconds=stagger.max_wait_seconds)
    with _in_flight_slot(credentials, max_in_flight, concurrency_limit):
        started = time.monotonic()
        if resumed is not None:
            job, wait_seconds = resumed, timeout_seconds - (time.time() - resumed.started_at)
            if gate and stagger and stagger.first:
                gate.open(resumed.started_at)
        else:
            job, image = _start_first(credentials, image, spec, gate, stagger, reupload)
            wait_seconds = timeout_seconds
        journal.record(output_id, job)
        try:
            try:
                notification = wait(credentials, job, timeout_seconds=wait_seconds)
            except NotificationTimeout:
                if job.confirmed and resumed is None:
                    raise
                # Never started (its answer was lost), or the crashed run's job is gone.
                job = start(credentials, image, spec)
                journal.record(output_id, job)
                notification = wait(credentials, job, timeout_seconds=timeout_seconds)
        except GenerationFailed:
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
    credentials: PiktidCredentials,
    image: UploadedImage,
    spec: GenerationSpec,
    gate: StaggerGate | None,
    stagger: StaggerPlan | None,
    reupload: Callable[[], UploadedImage] | None,
) -> tuple[GenerationJob, UploadedImage]:
    """Start, uploading again once if PiktID forgot the image; open the person's gate."""
    job: GenerationJob | None = None
    try:
        try:
            job = start(credentials, image, spec)
        except ImageNotFound:
            if reupload is None or image.source is None:
                raise
            image = reupload()
            job = start(credentials, image, spec)
    finally:
        if gate and stagger and stagger.first:
            # Opened on failure too (with no delay), so follow-ups never hang.
            gate.open(job.started_at if job else None)
    return job, image


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
    credentials: PiktidCredentials,
    result: GenerationResult,
    destination: str | os.PathLike[str] | WritableFileSystem,
) -> OutputRecord:
    """Write ``result`` under its deterministic name; an existing file is kept as is."""
    filename = output_filename(result.image.name, result.spec)
    client = client_for(credentials)
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
