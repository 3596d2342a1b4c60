"""Prefect tasks for PiktID: one small task per API step, plus the credit-safe unit.

Steps (compose them in your own flows):
    upload_image -> start_person_generation / start_background_edit -> await_notification
    -> download_result

Retries: no task here is retried by Prefect. HTTP calls are repeated in one place, the
wire layer's retry transport, with one bound on the attempts of each call; a task retry
on top multiplied it (up to 20 attempts for one upload).

Credit safety: :func:`generate_output` is start + wait as one task whose cache key is the
generation's identity (image content hash, person, keyword, options incl. seed, prompt,
account). A completed output is never paid again, whatever flow run asks for it; an
output whose run crashed is simply missing from the cache and is made (and paid) once.
``start_*`` tasks are never retried by Prefect, because a start whose answer was lost may
already have been charged; ``generate_output`` settles such a start by waiting for its
notification (see :mod:`piktid_prefect.wire.client`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import TaskRunContext
from prefect.filesystems import WritableFileSystem
from prefect.logging import get_run_logger

from piktid_prefect.credentials import CredentialsLike, resolve_credentials
from piktid_prefect.runtime import credits, generation
from piktid_prefect.runtime.notifications import DEFAULT_TIMEOUT_SECONDS
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    OutputRecord,
    UploadedImage,
)
from piktid_prefect.runtime.stagger import StaggerPlan
from piktid_prefect.tasks._twins import declared_task
from piktid_prefect.tasks.events import emit_generation_event
from piktid_prefect.wire.errors import ImageNotFound, is_transient
from piktid_prefect.wire.images import load_image
from piktid_prefect.wire.models import GenerationJob, Notification

__all__ = [
    "await_notification",
    "download_result",
    "generate_output",
    "start_background_edit",
    "start_person_generation",
    "upload_image",
]

# PiktID deletes uploads after 24 h: expire our record of one well before that.
UPLOAD_CACHE_EXPIRATION = timedelta(hours=23)


def retry_on_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: a caller's ``with_options(retries=N)`` repeats only
    429/5xx/transport failures (the tasks themselves have no retries: see above)."""
    try:
        state.result()
    except Exception as exc:
        return is_transient(exc)
    return False


def upload_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    credentials = resolve_credentials(parameters.get("credentials"))
    payload = load_image(parameters["image"])
    options = parameters.get("options") or {}
    return (
        f"piktid-upload-{credentials.account_key}-{payload.sha256}-{sorted(dict(options).items())}"
    )


@declared_task(
    name="piktid-upload-image",
    task_run_name="upload {image}",
    cache_key_fn=upload_cache_key,
    cache_expiration=UPLOAD_CACHE_EXPIRATION,
    persist_result=True,
    cache_result_in_memory=False,
    retry_condition_fn=retry_on_transient,
)
def upload_image(
    credentials: CredentialsLike,
    image: str | Path | bytes,
    *,
    name: str | None = None,
    options: dict[str, Any] | None = None,
) -> UploadedImage:
    """Upload an image (cached on its content and account for 23 h).

    Args:
        credentials: A PiktidCredentials block, a saved block's name, or None for the
            ``PIKTID_*`` environment variables.
        image: A PNG/JPEG/WEBP file path or its bytes.
        name: Stem for output file names (default: the file's stem).
        options: ``/edit/target`` flags (``flag_detection`` ...).

    Returns:
        The uploaded image with its detected persons.

    Example:
        ```python
        from prefect import flow
        from piktid_prefect.tasks import upload_image

        @flow
        def my_flow():
            uploaded = upload_image(None, "portrait.jpg")
            print(uploaded.image_id, uploaded.approved_person_ids)
        ```
    """
    return generation.upload(resolve_credentials(credentials), image, name=name, options=options)


@declared_task(name="piktid-start-person-generation", cache_policy=NO_CACHE)
def start_person_generation(
    credentials: CredentialsLike,
    image: UploadedImage,
    person_id: int,
    keyword: dict[str, str] | None = None,
    *,
    prompt: str = "",
    options: dict[str, Any] | None = None,
) -> GenerationJob:
    """Start one person replacement (1 credit). Never retried: see the module docstring.

    Give a Location ``keyword``, a free-text ``prompt`` ("a woman in a red dress"), or
    both. Returns the job; ``job.confirmed`` is False when the answer was lost.
    """
    spec = GenerationSpec(
        kind="person",
        person_id=person_id,
        keyword=keyword or {},
        prompt=prompt,
        options=options or {},
    )
    return generation.start(resolve_credentials(credentials), image, spec)


@declared_task(name="piktid-start-background-edit", cache_policy=NO_CACHE)
def start_background_edit(
    credentials: CredentialsLike,
    image: UploadedImage,
    keyword: dict[str, str] | None = None,
    *,
    prompt: str = "",
    options: dict[str, Any] | None = None,
) -> GenerationJob:
    """Start one background edit (1 credit). Never retried: see the module docstring."""
    spec = GenerationSpec(
        kind="background", keyword=keyword or {}, prompt=prompt, options=options or {}
    )
    return generation.start(resolve_credentials(credentials), image, spec)


@declared_task(name="piktid-await-notification", cache_policy=NO_CACHE)
def await_notification(
    credentials: CredentialsLike,
    job: GenerationJob,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> Notification:
    """Wait for this job's notification (and delete it); raise on its ``error``.

    Every waiting task of a process shares one poller per account, so notification
    requests do not grow with the number of jobs.

    Raises:
        GenerationFailed: PiktID sent an ``error`` notification for the job.
        NotificationTimeout: Nothing arrived within ``timeout_seconds``.
    """
    return generation.wait(resolve_credentials(credentials), job, timeout_seconds=timeout_seconds)


def generation_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    credentials = resolve_credentials(parameters.get("credentials"))
    image: UploadedImage = parameters["image"]
    return "piktid-generation-" + generation.identity(credentials, image, parameters["spec"])


@declared_task(
    name="piktid-generate-output",
    task_run_name="{spec.kind} {image.name} {spec.keyword} {spec.prompt}",
    cache_key_fn=generation_cache_key,
    persist_result=True,
    # The result is written to the result storage either way. Prefect's in-memory copy
    # goes to an LRU cache (1,000 records) shared by every task run of the process and
    # not thread-safe: past 1,000 outputs, concurrent task runs evicting at once failed a
    # commit ("An error was encountered while committing transaction", 1 in 5,088).
    cache_result_in_memory=False,
    retry_condition_fn=retry_on_transient,
)
def generate_output(
    credentials: CredentialsLike,
    image: UploadedImage,
    spec: GenerationSpec,
    *,
    stagger: StaggerPlan | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_in_flight: int | None = None,
    concurrency_limit: str | None = None,
    output_retries: int = 1,
    budget: credits.CreditBudget | None = None,
) -> GenerationResult:
    """Start one generation and wait for it: cached on the output's identity.

    Args:
        credentials: Block, block name, or None for the environment.
        image: The uploaded image (re-uploaded automatically if PiktID forgot it).
        spec: What to generate.
        stagger: This output's place in its person's stagger (follow-ups start a while
            after the person's first generation started).
        timeout_seconds: How long to wait for the notification.
        max_in_flight: Bound on this process's in-flight generations for the account.
        concurrency_limit: Name of a Prefect global concurrency limit to hold a slot of
            while the generation is in flight (caps the whole account across runs).
        output_retries: How many times an output the server failed (``error``
            notification) or never reported is started again — each a paid start,
            listed in ``result.paid_again``. Prefect's own retries never start a paid
            generation again.
        budget: The run whose ``max_credits`` every start of this output counts against
            (see :mod:`piktid_prefect.runtime.credits`).
    """
    options: dict[str, Any] = {
        "timeout_seconds": timeout_seconds,
        "max_in_flight": max_in_flight,
        "concurrency_limit": concurrency_limit,
        "stagger_plan": stagger,
        "output_retries": output_retries,
    }
    result = _generate(credentials, image, spec, budget, options)
    get_run_logger().info("Finished %s in %.1f s", result.job.label, result.seconds)
    emit_generation_event("completed", result.image, spec, result=result)
    return result


def _generate(
    credentials: CredentialsLike,
    image: UploadedImage,
    spec: GenerationSpec,
    budget: credits.CreditBudget | None,
    options: dict[str, Any],
) -> GenerationResult:
    """Generate, charged to ``budget``; a failure emits its event and rises."""
    account = resolve_credentials(credentials)
    try:
        try:
            with credits.charged_to(budget):
                return generation.generate(account, image, spec, **options)
        except ImageNotFound:
            # PiktID forgot the image (uploads live 24 h): nothing was paid. This task
            # owns uploads: upload again, past the upload cache, and start once more.
            if image.source is None:
                raise
            image = upload_image.with_options(refresh_cache=True)(
                account, image.source, name=image.name
            )
            with credits.charged_to(budget):
                return generation.generate(account, image, spec, **options)
    except Exception as exc:
        emit_generation_event("failed", image, spec, error=exc)
        raise


@declared_task(
    name="piktid-download-result",
    task_run_name="download {result.spec.keyword}",
    retry_condition_fn=retry_on_transient,
)
def download_result(
    credentials: CredentialsLike,
    result: GenerationResult,
    destination: str | Path | WritableFileSystem = "piktid-output",
) -> OutputRecord:
    """Download a result to a local folder or a Prefect writable filesystem block.

    File names are deterministic (image stem, person, keyword, seed); an existing file
    with the same content is left alone, and a failed download never leaves a partial
    file or overwrites an existing one.
    """
    return generation.download(resolve_credentials(credentials), result, destination)
