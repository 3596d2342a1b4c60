"""The fan-out behind every flow: upload, then generate and download each output.

Outputs run concurrently, at most twice the in-flight bound at a time (each task in
flight holds a thread); each person's first generation is submitted first, and the
person's follow-ups wait for the stagger behind it (see :mod:`piktid_prefect.runtime.stagger`).
Every delivered output is written and listed in ``manifest.json`` even when others fail;
then the run fails naming the ones that did.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.futures import PrefectFuture
from pydantic import BaseModel, Field

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.runtime import stagger
from piktid_prefect.runtime.generation import writable_folder
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    Manifest,
    OutputRecord,
    UploadedImage,
)
from piktid_prefect.runtime.stagger import Planned
from piktid_prefect.tasks import download_result, generate_output, upload_image
from piktid_prefect.ui import RunDisplay
from piktid_prefect.wire.errors import PiktidError

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


def upload_all(
    credentials: PiktidCredentials, images: Sequence[str | UploadedImage]
) -> list[UploadedImage]:
    futures: list[UploadedImage | PrefectFuture[UploadedImage]] = [
        img if isinstance(img, UploadedImage) else upload_image.submit(credentials, img)
        for img in images
    ]
    uploaded = [f if isinstance(f, UploadedImage) else f.result() for f in futures]
    # Deterministic output names use the file stem: keep two "photo.jpg"s apart.
    stems = [u.name for u in uploaded]
    return [
        u.model_copy(update={"name": f"{u.name}-{u.sha256[:8]}"}) if stems.count(u.name) > 1 else u
        for u in uploaded
    ]


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
) -> VariationsResult:
    """Generate and download every (image, spec) concurrently, inside the current flow."""
    logger = get_run_logger()
    # A folder that cannot be written is refused before the first credit is spent.
    writable_folder(out_dir)
    # The same output asked twice (a repeated keyword, an image listed twice) is made once:
    # two concurrent runs of one cache key would both pay.
    unique = {(image.sha256, spec.model_dump_json()): (image, spec) for image, spec in work}
    work = list(unique.values())
    display = RunDisplay(len(work), originals=[image for image, _ in work])
    outputs: list[OutputRecord] = []
    failures: list[FailedOutput] = []
    paid_again: list[GenerationResult] = []

    def deliver(record: OutputRecord) -> None:
        outputs.append(record)
        display.delivered(record)
        logger.info("%d/%d delivered %s", display.done, len(work), Path(record.path).name)

    def fail(image: UploadedImage, spec: GenerationSpec, exc: BaseException) -> None:
        display.failed_one()
        logger.warning("%d/%d failed: %s", display.done, len(work), exc)
        failures.append(
            FailedOutput(
                image=image.name,
                kind=spec.kind,
                person=spec.person_id,
                keyword=spec.keyword,
                error=f"{type(exc).__name__}: {exc}",
            )
        )

    try:
        _fan_out(
            credentials,
            stagger.in_stagger_order(
                work, account_key=credentials.account_key, stagger_seconds=stagger_seconds
            ),
            out_dir=out_dir,
            window=2 * (max_in_flight or DEFAULT_MAX_IN_FLIGHT),
            task_options={
                "timeout_seconds": timeout_seconds,
                "max_in_flight": max_in_flight,
                "concurrency_limit": concurrency_limit,
                "output_retries": output_retries,
            },
            deliver=deliver,
            fail=fail,
            paid_again=paid_again.append,
        )
        outputs.sort(key=lambda r: r.path)
        display.finish(outputs)  # sent while the manifest is written
        manifest_path = ""
        if outputs:
            manifest_path = str(Manifest.merged(out_dir, outputs).write(out_dir))
        elif Path(out_dir, "manifest.json").exists():
            # Nothing delivered this time: the earlier manifest stays as it was.
            manifest_path = str(Path(out_dir, "manifest.json"))
    finally:
        display.close()
    logger.info(
        "%d of %d outputs delivered to %s", len(outputs), len(work), os.path.abspath(out_dir)
    )
    if paid_again:
        logger.warning(
            "%d output(s) paid twice: the server failed or never reported their first start (%s)",
            len(paid_again),
            "; ".join(f"{r.job.label}: {r.paid_again[0]}" for r in paid_again[:5]),
        )
    result = VariationsResult(
        outputs=outputs,
        failures=failures,
        manifest_path=manifest_path,
        paid_again=len(paid_again),
    )
    if failures:
        listed = "; ".join(
            f"{f.image} {f.kind} person={f.person} {f.keyword}: {f.error}" for f in failures[:10]
        )
        raise PiktidError(
            f"{len(failures)} of {len(work)} outputs failed (delivered ones are in "
            f"{manifest_path or out_dir}): {listed}"
        )
    return result


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
    """
    began = time.time()
    finished: queue.Queue[PrefectFuture[Any]] = queue.Queue()
    stage: dict[PrefectFuture[Any], tuple[UploadedImage, GenerationSpec]] = {}
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
                downloaded = download_result.submit(credentials, result, out_dir)
                stage[downloaded] = (image, spec)
                downloaded.add_done_callback(finished.put)
                continue
            deliver(result)
        active -= 1
        if submit_next():
            active += 1
