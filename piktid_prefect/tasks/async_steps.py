"""Async twins of :mod:`piktid_prefect.tasks`, for ``async def`` flows.

Same names with an ``a`` prefix, generated from the sync declarations (same caching,
retries, parameters and credit safety): each twin runs its sync task's body off the
event loop, and ``aawait_notification`` awaits the shared poller's future without
holding a thread.

Example:
    ```python
    import asyncio
    from prefect import flow
    from piktid_prefect.tasks.async_steps import aupload_image

    @flow
    async def my_flow():
        uploaded = await aupload_image(None, "portrait.jpg")
        return uploaded.approved_person_ids

    asyncio.run(my_flow())
    ```
"""

from __future__ import annotations

import asyncio

from piktid_prefect.credentials import CredentialsLike, resolve_credentials
from piktid_prefect.runtime import generation
from piktid_prefect.runtime.notifications import DEFAULT_TIMEOUT_SECONDS
from piktid_prefect.tasks import chain
from piktid_prefect.tasks import steps as tasks
from piktid_prefect.tasks._twins import async_twin
from piktid_prefect.wire.models import GenerationJob, Notification

__all__ = [
    "aawait_notification",
    "acreate_identity",
    "adownload_result",
    "agenerate_output",
    "astart_background_edit",
    "astart_person_generation",
    "aswap_identity",
    "aupload_image",
    "aupscale",
]


async def _await_on_poller(
    credentials: CredentialsLike,
    job: GenerationJob,
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> Notification:
    hub = generation.hub_for(resolve_credentials(credentials))
    return await asyncio.wrap_future(hub.submit(job, timeout_seconds=timeout_seconds))


aupload_image = async_twin(tasks.upload_image)
astart_person_generation = async_twin(tasks.start_person_generation)
astart_background_edit = async_twin(tasks.start_background_edit)
aawait_notification = async_twin(tasks.await_notification, _await_on_poller)
agenerate_output = async_twin(tasks.generate_output)
adownload_result = async_twin(tasks.download_result)
aupscale = async_twin(chain.upscale)
aswap_identity = async_twin(chain.swap_identity)
acreate_identity = async_twin(chain.create_identity)
