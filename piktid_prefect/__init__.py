"""Prefect 3 integration for the PiktID image API.

Layers, imports pointing down only (see ``docs/design.md``):

- :mod:`piktid_prefect.wire` — the HTTP client, models and input checks; no Prefect.
- :mod:`piktid_prefect.runtime` — generation, the shared poller, stagger, journal.
- the Prefect layer, in rooms imported in this order: ``credentials`` (the Block),
  :mod:`~piktid_prefect.tasks` (tasks, async twins, events), :mod:`~piktid_prefect.artifacts`
  (what a run shows), :mod:`~piktid_prefect.execution` (a run: settings, specs, preflight,
  plans, fan-out, steps), :mod:`~piktid_prefect.flows` (the public flows, the inbox).
- entry points — ``cli``, ``demo``; ``emulator`` is a package of its own.

Names are exported lazily, so ``import piktid_prefect.wire.client`` (or the emulator's
pytest plugin) does not import Prefect; the ``TYPE_CHECKING`` block gives type checkers
the real types.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from piktid_prefect.credentials import PiktidCredentials
    from piktid_prefect.execution.outcome import FailedOutput, VariationsResult
    from piktid_prefect.execution.plan import (
        plan_batch_variations,
        plan_edit_backgrounds,
        plan_generate_people,
    )
    from piktid_prefect.execution.preflight import CreditPlan
    from piktid_prefect.flows import (
        batch_variations,
        edit_backgrounds,
        generate_people,
        person_and_background_variations,
        process_new_images,
    )
    from piktid_prefect.runtime.credits import CreditSummary
    from piktid_prefect.runtime.results import (
        GenerationResult,
        GenerationSpec,
        OutputRecord,
        UploadedImage,
    )
    from piktid_prefect.tasks import (
        aawait_notification,
        adownload_result,
        agenerate_output,
        astart_background_edit,
        astart_person_generation,
        aupload_image,
        await_notification,
        download_result,
        generate_output,
        start_background_edit,
        start_person_generation,
        upload_image,
    )
    from piktid_prefect.wire.client import DEFAULT_BASE_URL, AsyncPiktidClient, PiktidClient
    from piktid_prefect.wire.errors import (
        AuthenticationFailed,
        GenerationFailed,
        GenerationStartUnconfirmed,
        ImageNotFound,
        InsufficientCredits,
        InvalidInput,
        NotEnoughCredits,
        NotificationTimeout,
        PiktidAPIError,
        PiktidError,
    )
    from piktid_prefect.wire.models import (
        BackgroundOptions,
        GenerationJob,
        Notification,
        PersonOptions,
        UploadResult,
    )

# Where each public name lives; tests/test_exports.py checks it matches the block above.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "aawait_notification",
            "adownload_result",
            "agenerate_output",
            "astart_background_edit",
            "astart_person_generation",
            "aupload_image",
        ],
        "piktid_prefect.tasks",
    ),
    "PiktidCredentials": "piktid_prefect.credentials",
    "FailedOutput": "piktid_prefect.execution.outcome",
    "VariationsResult": "piktid_prefect.execution.outcome",
    **dict.fromkeys(
        [
            "batch_variations",
            "edit_backgrounds",
            "generate_people",
            "person_and_background_variations",
            "process_new_images",
        ],
        "piktid_prefect.flows",
    ),
    **dict.fromkeys(
        ["plan_batch_variations", "plan_edit_backgrounds", "plan_generate_people"],
        "piktid_prefect.execution.plan",
    ),
    "CreditPlan": "piktid_prefect.execution.preflight",
    "CreditSummary": "piktid_prefect.runtime.credits",
    **dict.fromkeys(
        ["GenerationResult", "GenerationSpec", "OutputRecord", "UploadedImage"],
        "piktid_prefect.runtime.results",
    ),
    **dict.fromkeys(
        [
            "await_notification",
            "download_result",
            "generate_output",
            "start_background_edit",
            "start_person_generation",
            "upload_image",
        ],
        "piktid_prefect.tasks",
    ),
    **dict.fromkeys(
        ["DEFAULT_BASE_URL", "AsyncPiktidClient", "PiktidClient"], "piktid_prefect.wire.client"
    ),
    **dict.fromkeys(
        [
            "AuthenticationFailed",
            "GenerationFailed",
            "GenerationStartUnconfirmed",
            "ImageNotFound",
            "InsufficientCredits",
            "InvalidInput",
            "NotEnoughCredits",
            "NotificationTimeout",
            "PiktidAPIError",
            "PiktidError",
        ],
        "piktid_prefect.wire.errors",
    ),
    **dict.fromkeys(
        ["BackgroundOptions", "GenerationJob", "Notification", "PersonOptions", "UploadResult"],
        "piktid_prefect.wire.models",
    ),
}

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncPiktidClient",
    "AuthenticationFailed",
    "BackgroundOptions",
    "CreditPlan",
    "CreditSummary",
    "FailedOutput",
    "GenerationFailed",
    "GenerationJob",
    "GenerationResult",
    "GenerationSpec",
    "GenerationStartUnconfirmed",
    "ImageNotFound",
    "InsufficientCredits",
    "InvalidInput",
    "NotEnoughCredits",
    "Notification",
    "NotificationTimeout",
    "OutputRecord",
    "PersonOptions",
    "PiktidAPIError",
    "PiktidClient",
    "PiktidCredentials",
    "PiktidError",
    "UploadResult",
    "UploadedImage",
    "VariationsResult",
    "aawait_notification",
    "adownload_result",
    "agenerate_output",
    "astart_background_edit",
    "astart_person_generation",
    "aupload_image",
    "await_notification",
    "batch_variations",
    "download_result",
    "edit_backgrounds",
    "generate_output",
    "generate_people",
    "person_and_background_variations",
    "plan_batch_variations",
    "plan_edit_backgrounds",
    "plan_generate_people",
    "process_new_images",
    "start_background_edit",
    "start_person_generation",
    "upload_image",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'piktid_prefect' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
