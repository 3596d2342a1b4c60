"""Async twins of :mod:`piktid_prefect.tasks`, for ``async def`` flows.

Same names with an ``a`` prefix, same caching, retries and credit safety: each twin
runs its sync task's own body (``task.fn``) off the event loop, and
``aawait_notification`` awaits the shared poller's future without holding a thread.

Example:
    ```python
    import asyncio
    from prefect import flow
    from piktid_prefect.async_tasks import aupload_image

    @flow
    async def my_flow():
        uploaded = await aupload_image(None, "portrait.jpg")
        return uploaded.approved_person_ids

    asyncio.run(my_flow())
    ```
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.filesystems import WritableFileSystem

from piktid_prefect.events import CredentialsLike, resolve_credentials
from piktid_prefect.runtime import generation as logic
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    OutputRecord,
    StaggerPlan,
    UploadedImage,
)
from piktid_prefect.tasks import (
    DEFAULT_TIMEOUT_SECONDS,
    UPLOAD_CACHE_EXPIRATION,
    download_result,
    generate_output,
    generation_cache_key,
    start_background_edit,
    start_person_generation,
    transient_retries,
    upload_cache_key,
    upload_image,
)
from piktid_prefect.wire.models import GenerationJob, Notification

__all__ = [
    "aawait_notification",
    "adownload_result",
    "agenerate_output",
    "astart_background_edit",
    "astart_person_generation",
    "aupload_image",
]


@task(
    name="piktid-upload-image",
    task_run_name="upload {image}",
    cache_key_fn=upload_cache_key,
    cache_expiration=UPLOAD_CACHE_EXPIRATION,
    persist_result=True,
    **transient_retries,
)
async def aupload_image(
    credentials: CredentialsLike,
    image: str | Path | bytes,
    *,
    name: str | None = None,
    options: dict[str, Any] | None = None,
) -> UploadedImage:
    """Async :func:`~piktid_prefect.tasks.upload_image` (shares its cache)."""
    return await asyncio.to_thread(upload_image.fn, credentials, image, name=name, options=options)


@task(name="piktid-start-person-generation", cache_policy=NO_CACHE)
async def astart_person_generation(
    credentials: CredentialsLike,
    image: UploadedImage,
    person_id: int,
    keyword: dict[str, str],
    *,
    options: dict[str, Any] | None = None,
) -> GenerationJob:
    """Async :func:`~piktid_prefect.tasks.start_person_generation` (never retried)."""
    return await asyncio.to_thread(
        start_person_generation.fn, credentials, image, person_id, keyword, options=options
    )


@task(name="piktid-start-background-edit", cache_policy=NO_CACHE)
async def astart_background_edit(
    credentials: CredentialsLike,
    image: UploadedImage,
    keyword: dict[str, str] | None = None,
    *,
    prompt: str = "",
    options: dict[str, Any] | None = None,
) -> GenerationJob:
    """Async :func:`~piktid_prefect.tasks.start_background_edit` (never retried)."""
    return await asyncio.to_thread(
        start_background_edit.fn, credentials, image, keyword, prompt=prompt, options=options
    )


@task(name="piktid-await-notification", cache_policy=NO_CACHE)
async def aawait_notification(
    credentials: CredentialsLike,
    job: GenerationJob,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> Notification:
    """Async :func:`~piktid_prefect.tasks.await_notification`: awaits the shared poller."""
    hub = logic.hub_for(resolve_credentials(credentials))
    return await asyncio.wrap_future(hub.submit(job, timeout_seconds=timeout_seconds))


@task(
    name="piktid-generate-output",
    task_run_name="{spec.kind} {image.name} {spec.keyword}",
    cache_key_fn=generation_cache_key,
    persist_result=True,
    **transient_retries,
)
async def agenerate_output(
    credentials: CredentialsLike,
    image: UploadedImage,
    spec: GenerationSpec,
    *,
    stagger: StaggerPlan | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_in_flight: int | None = None,
    concurrency_limit: str | None = None,
) -> GenerationResult:
    """Async :func:`~piktid_prefect.tasks.generate_output` (shares its cache)."""
    return await asyncio.to_thread(
        generate_output.fn,
        credentials,
        image,
        spec,
        stagger=stagger,
        timeout_seconds=timeout_seconds,
        max_in_flight=max_in_flight,
        concurrency_limit=concurrency_limit,
    )


@task(
    name="piktid-download-result",
    task_run_name="download {result.spec.keyword}",
    **transient_retries,
)
async def adownload_result(
    credentials: CredentialsLike,
    result: GenerationResult,
    destination: str | Path | WritableFileSystem = "piktid-output",
) -> OutputRecord:
    """Async :func:`~piktid_prefect.tasks.download_result`."""
    return await asyncio.to_thread(download_result.fn, credentials, result, destination)
