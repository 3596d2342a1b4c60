"""The fan-out of a run: upload the images, then generate and download each output.

Outputs run concurrently, at most :attr:`RunSettings.window` at a time (each task in
flight holds a thread); each person's first generation is submitted first, and the
person's follow-ups wait for the stagger behind it (see :mod:`piktid_prefect.runtime.stagger`).
What each output came to is told to a :class:`Progress` (delivered, or failed with its
kind); the run's steps (:mod:`.steps`) decide what the run then reports and raises.
"""

from __future__ import annotations

import contextvars
import queue
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Protocol

from prefect.futures import PrefectFuture

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.execution import chain
from piktid_prefect.execution.settings import RunSettings
from piktid_prefect.runtime import credits, generation, stagger
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    OutputRecord,
    UploadedImage,
    with_distinct_names,
)
from piktid_prefect.runtime.stagger import Planned
from piktid_prefect.storage import OutputLocation
from piktid_prefect.tasks.steps import generate_output, upload_image

__all__ = ["Progress", "fan_out", "upload_all"]

# Downloads are plain calls on a small pool; the wire layer repeats a transient fault.
_DOWNLOAD_THREADS = 8

_Future = PrefectFuture[Any] | Future[Any]


class Progress(Protocol):
    """Where the fan-out reports each output's end."""

    def deliver(self, record: OutputRecord) -> None: ...

    def fail(self, image: UploadedImage, spec: GenerationSpec, exc: BaseException) -> None: ...

    def paid_again(self, result: GenerationResult) -> None: ...


def upload_all(
    credentials: PiktidCredentials, images: Sequence[str | UploadedImage]
) -> list[UploadedImage]:
    """Upload every file not yet uploaded, concurrently; distinct names for output files."""
    futures: list[UploadedImage | PrefectFuture[UploadedImage]] = [
        img if isinstance(img, UploadedImage) else upload_image.submit(credentials, img)
        for img in images
    ]
    return with_distinct_names([f if isinstance(f, UploadedImage) else f.result() for f in futures])


def fan_out(
    credentials: PiktidCredentials,
    plans: list[Planned],
    settings: RunSettings,
    budget: credits.CreditBudget,
    progress: Progress,
    out: OutputLocation | None = None,
) -> None:
    """Run generate -> download for every plan, at most ``settings.window`` at a time.

    Downloads go to ``out`` (a bucket: written whole from memory), or to the local
    ``settings.out_dir`` when it is None or a local folder.

    Submitting everything at once would park one thread per task (1,500 threads for
    1,000 outputs); a window twice the in-flight bound keeps every slot busy while
    memory stays flat.

    Each output is one task run (``generate_output``, the paid and cached step); its
    download is a plain call in a small pool. A second task run per output doubled the
    Prefect events the server stores for a batch (measured in ``docs/benchmark.md``) for
    a step that is free and idempotent (deterministic file names).
    """
    # A chained step waits on its result on a pool thread: as many threads as outputs in
    # flight then, so chains never queue behind each other.
    threads = settings.window if settings.then else _DOWNLOAD_THREADS
    with ThreadPoolExecutor(threads, thread_name_prefix="piktid-download") as pool:
        # A local location is the folder generation.download writes into (atomically).
        destination = out if out is not None and not out.local else settings.out_dir
        _Window(credentials, iter(plans), settings, budget, progress, pool, destination).run()


class _Window:
    """The outputs in flight: a finished one makes room for the next plan."""

    def __init__(
        self,
        credentials: PiktidCredentials,
        plans: Iterator[Planned],
        settings: RunSettings,
        budget: credits.CreditBudget,
        progress: Progress,
        downloads: ThreadPoolExecutor,
        destination: str | OutputLocation,
    ) -> None:
        self.credentials, self.plans, self.settings = credentials, plans, settings
        self.progress, self.downloads = progress, downloads
        self.destination = destination
        self.task_options: dict[str, Any] = {
            "timeout_seconds": settings.timeout_seconds,
            "max_in_flight": settings.max_in_flight,
            "concurrency_limit": settings.concurrency_limit,
            "output_retries": settings.output_retries,
            "budget": budget,
        }
        self.began = time.time()
        self.finished: queue.Queue[_Future] = queue.Queue()
        self.stage: dict[_Future, tuple[UploadedImage, GenerationSpec]] = {}

    def run(self) -> None:
        active = 0
        while active < self.settings.window and self._submit_next():
            active += 1
        while active:
            future = self.finished.get()
            image, spec = self.stage.pop(future)
            if self._settle(future, image, spec):
                continue  # its download is now in flight, in the same slot
            active -= 1
            if self._submit_next():
                active += 1

    def _submit_next(self) -> bool:
        plan = next(self.plans, None)
        if plan is None:
            return False
        image, spec, stagger_plan = plan
        generated = generate_output.submit(
            self.credentials, image, spec, stagger=stagger_plan, **self.task_options
        )
        if stagger_plan is not None and stagger_plan.first:
            # A cached first output never starts: release its follow-ups when it is done.
            generated.add_done_callback(lambda _: stagger.release(stagger_plan))
        self._track(generated, image, spec)
        return True

    def _settle(self, future: _Future, image: UploadedImage, spec: GenerationSpec) -> bool:
        """Hand one finished step on; True when it started the output's download."""
        try:
            result = future.result()
        except Exception as exc:
            self.progress.fail(image, spec, exc)
            return False
        if not isinstance(result, GenerationResult):
            self.progress.deliver(result)
            return False
        if result.paid_again and result.job.started_at >= self.began:
            self.progress.paid_again(result)  # not a cached result of an earlier run
        self._track(self._deliver(result), image, spec)
        return True

    def _deliver(self, result: GenerationResult) -> Future[OutputRecord]:
        """The download, and the steps chained after it (in the flow's context)."""
        if not self.settings.then:
            destination = self.destination
            return self.downloads.submit(generation.download, self.credentials, result, destination)
        budget = self.task_options["budget"]
        deliver = partial(chain.deliver, self.credentials, result, self.settings, budget)
        return self.downloads.submit(contextvars.copy_context().run, deliver)

    def _track(self, future: _Future, image: UploadedImage, spec: GenerationSpec) -> None:
        self.stage[future] = (image, spec)
        future.add_done_callback(self.finished.put)
