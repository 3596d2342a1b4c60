"""Plans: what a flow would make and spend, with no upload and no start.

Each ``plan_*`` function takes its flow's arguments and returns a
:class:`~piktid_prefect.execution.preflight.CreditPlan`: every output with its status (delivered,
cached, to pay, left out for lack of credits, or persons unknown), the credits the run
would spend, and the balance. Its only request is one ``GET /me``. Inputs are checked
as the flow checks them (keywords, options, image files), so a plan also tells a bad
run before it is queued.

What a plan cannot know without an upload: the persons PiktID detects. See
:mod:`piktid_prefect.execution.preflight` for how such images are planned.

Example:
    ```python
    from piktid_prefect.execution.plan import plan_batch_variations

    plan = plan_batch_variations("photos/", person_keywords=[{"Location": "Oceania"}])
    print(plan.line())  # 12 outputs: 4 delivered, 8 to pay; needs 8 credits, ...
    ```
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from piktid_prefect.credentials import CredentialsLike, PiktidCredentials, resolve_credentials
from piktid_prefect.execution import specs
from piktid_prefect.execution.preflight import CreditPlan, PlannedOutput, local_image, plan_outputs
from piktid_prefect.execution.settings import DEFAULT_OUT_DIR
from piktid_prefect.execution.specs import PersonSelection, WorkRequest
from piktid_prefect.runtime.results import GenerationSpec, UploadedImage, with_distinct_names
from piktid_prefect.wire.errors import InvalidInput

__all__ = ["plan_batch_variations", "plan_edit_backgrounds", "plan_generate_people"]


def plan_generate_people(
    image: str,
    keywords: list[dict[str, str]] | None = None,
    persons: PersonSelection = "approved",
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    max_credits: int | None = None,
    prompt: str = "",
) -> CreditPlan:
    """The plan of :func:`~piktid_prefect.flows.generate_people` with these arguments."""
    request = specs.request_of("person", locals())
    return _plan(credentials, [image], out_dir, max_credits, request)


def plan_edit_backgrounds(
    image: str,
    keywords: list[dict[str, str]],
    prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    options: dict[str, Any] | None = None,
    max_credits: int | None = None,
) -> CreditPlan:
    """The plan of :func:`~piktid_prefect.flows.edit_backgrounds` with these arguments."""
    request = specs.request_of("background", locals())
    return _plan(credentials, [image], out_dir, max_credits, request)


def plan_batch_variations(
    images: str | list[str],
    person_keywords: list[dict[str, str]] | None = None,
    background_keywords: list[dict[str, str]] | None = None,
    persons: PersonSelection = "approved",
    prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    max_credits: int | None = None,
    person_prompt: str = "",
) -> CreditPlan:
    """The plan of :func:`~piktid_prefect.flows.batch_variations` with these arguments."""
    request = specs.request_of("batch", locals())
    files = [str(f) for f in specs.image_files(images)]
    return _plan(credentials, files, out_dir, max_credits, request)


def _plan(
    credentials: CredentialsLike,
    files: Sequence[str],
    out_dir: str,
    max_credits: int | None,
    request: WorkRequest,
) -> CreditPlan:
    account = resolve_credentials(credentials)
    work: list[tuple[UploadedImage, GenerationSpec]] = []
    unknown: list[PlannedOutput] = []
    for image, known in _images(account, files, request.persons):
        if request.people and known:
            work.extend((image, s) for s in request.person_specs(image))
        elif request.people:  # counted once per person output a single person would have
            unknown.extend(
                PlannedOutput(image=image.name, kind="person", keyword=k, status="persons unknown")
                for k in request.person_variants
            )
        if request.backgrounds:
            work.extend((image, s) for s in request.background_specs(image))
    return plan_outputs(account, work, out_dir, max_credits=max_credits, unknown=unknown)


def _images(
    account: PiktidCredentials, files: Sequence[str], persons: PersonSelection
) -> list[tuple[UploadedImage, bool]]:
    """Each file as the run would see it (no upload), with whether its persons are known."""
    for path in files:
        if not Path(path).is_file():
            raise InvalidInput(f"Image {path} does not exist")
    named = None if isinstance(persons, str) else list(persons)
    images = [local_image(account, path, named) for path in files]
    # Named as the run names them (fanout.upload_all).
    named_images = with_distinct_names([image for image, _ in images])
    return [(image, known) for image, (_, known) in zip(named_images, images, strict=True)]
