"""The tasks room: one small Prefect task per PiktID step, and their async twins.

:mod:`.steps` declares the sync tasks (and the cache keys the execution room reads to
tell a cached output from one to pay); :mod:`.async_steps` generates the ``a*`` twins
from those declarations; :mod:`.chain` declares the steps chained after a variation;
:mod:`.events` holds the Prefect events the package emits.
This room imports the runtime, the wire and the credentials block, never a room above.

Example:
    ```python
    from prefect import flow
    from piktid_prefect.tasks import upload_image

    @flow
    def my_flow():
        return upload_image(None, "portrait.jpg").approved_person_ids
    ```
"""

from piktid_prefect.tasks.async_steps import (
    aawait_notification,
    acreate_identity,
    adownload_result,
    agenerate_output,
    astart_background_edit,
    astart_person_generation,
    aswap_identity,
    aupload_image,
    aupscale,
)
from piktid_prefect.tasks.chain import create_identity, swap_identity, upscale
from piktid_prefect.tasks.steps import (
    await_notification,
    download_result,
    generate_output,
    start_background_edit,
    start_person_generation,
    upload_image,
)

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
    "await_notification",
    "create_identity",
    "download_result",
    "generate_output",
    "start_background_edit",
    "start_person_generation",
    "swap_identity",
    "upload_image",
    "upscale",
]
