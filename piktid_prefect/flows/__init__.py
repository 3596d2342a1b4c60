"""The flows room: the public flows and the inbox flow for schedules.

Example:
    ```python
    from piktid_prefect.flows import generate_people

    generate_people("portrait.jpg", [{"Location": "Oceania"}], credentials="my-piktid")
    ```
"""

from piktid_prefect.execution.outcome import FailedOutput, VariationsResult
from piktid_prefect.flows.inbox import process_new_images
from piktid_prefect.flows.variations import (
    batch_variations,
    edit_backgrounds,
    generate_people,
    person_and_background_variations,
)

__all__ = [
    "FailedOutput",
    "VariationsResult",
    "batch_variations",
    "edit_backgrounds",
    "generate_people",
    "person_and_background_variations",
    "process_new_images",
]
