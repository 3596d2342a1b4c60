"""Prefect 3 integration for the PiktID image API.

Names are exported lazily so that the wire layer (``piktid_prefect.client``,
``piktid_prefect.models``) can be imported without importing Prefect.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # wire
    "PiktidClient": "piktid_prefect.client",
    "AsyncPiktidClient": "piktid_prefect.client",
    "DEFAULT_BASE_URL": "piktid_prefect.client",
    "PiktidError": "piktid_prefect.errors",
    "GenerationJob": "piktid_prefect.models",
    "UploadResult": "piktid_prefect.models",
    "Notification": "piktid_prefect.models",
    "PersonOptions": "piktid_prefect.models",
    "BackgroundOptions": "piktid_prefect.models",
    # prefect layer
    "PiktidCredentials": "piktid_prefect.credentials",
    "UploadedImage": "piktid_prefect.results",
    "GenerationSpec": "piktid_prefect.results",
    "GenerationResult": "piktid_prefect.results",
    "OutputRecord": "piktid_prefect.results",
    "upload_image": "piktid_prefect.tasks",
    "start_person_generation": "piktid_prefect.tasks",
    "start_background_edit": "piktid_prefect.tasks",
    "await_notification": "piktid_prefect.tasks",
    "generate_output": "piktid_prefect.tasks",
    "download_result": "piktid_prefect.tasks",
    "generate_people": "piktid_prefect.flows",
    "edit_backgrounds": "piktid_prefect.flows",
    "batch_variations": "piktid_prefect.flows",
    "person_and_background_variations": "piktid_prefect.flows",
    "VariationsResult": "piktid_prefect.flows",
    "process_new_images": "piktid_prefect.inbox",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'piktid_prefect' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
