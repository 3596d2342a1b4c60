"""Composable PiktID flows: fan out per image, person and keyword; show progress in the UI.

Every flow validates all its input (keywords, options, persons) before the first credit
is spent, runs outputs concurrently, staggers each person's follow-up generations behind
its first (PiktID builds the person's mask on the first call; parallel first calls each
build it), writes every delivered output and ``manifest.json`` even when some outputs
fail, and then fails naming the ones that did.

Every flow's body has one shape: check the request
(:func:`~piktid_prefect.execution.specs.request`), build the run's settings once from
the flow's own parameters (:class:`~piktid_prefect.execution.settings.RunSettings`),
run (:func:`~piktid_prefect.execution.steps.run_stoppable`).
"""

# No `from __future__ import annotations`: the annotations must be real objects. A flow
# served with `flow.serve()` is pickled by value into its run's process, which keeps only
# the globals its code names; string annotations (e.g. "PersonKeyword") would then not
# resolve and every run would fail its parameter validation.
from typing import Any

from prefect import flow

from piktid_prefect.credentials import CredentialsLike, PiktidCredentials, resolve_credentials
from piktid_prefect.execution import specs
from piktid_prefect.execution.fanout import upload_all
from piktid_prefect.execution.outcome import VariationsResult
from piktid_prefect.execution.settings import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_OUT_DIR,
    DEFAULT_OUTPUT_RETRIES,
    DEFAULT_STAGGER_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    RunSettings,
)
from piktid_prefect.execution.specs import (
    BackgroundKeyword,
    BadImagePolicy,
    PersonKeyword,
    PersonSelection,
    WorkRequest,
)
from piktid_prefect.execution.steps import run_stoppable
from piktid_prefect.runtime.chain_models import ChainStep
from piktid_prefect.runtime.results import GenerationSpec, RejectedImage, UploadedImage
from piktid_prefect.wire.errors import InvalidPerson

__all__ = [
    "batch_variations",
    "edit_backgrounds",
    "generate_people",
    "person_and_background_variations",
]


def _one_image(
    credentials: PiktidCredentials, image: str | UploadedImage, request: WorkRequest
) -> list[tuple[UploadedImage, GenerationSpec]]:
    (uploaded,) = upload_all(credentials, [image])
    return [(uploaded, spec) for spec in request.specs_for(uploaded)]


def _many_images(
    credentials: PiktidCredentials,
    images: str | list[str | UploadedImage],
    request: WorkRequest,
    skip: bool,
) -> tuple[list[tuple[UploadedImage, GenerationSpec]], list[RejectedImage]]:
    """Every image's outputs; with ``skip``, the images that cannot be made are set apart."""
    files = specs.image_files(images)
    rejected: list[RejectedImage] = []
    if skip:
        files, rejected = specs.readable(files)
    work: list[tuple[UploadedImage, GenerationSpec]] = []
    for image in upload_all(credentials, files):
        try:
            work.extend((image, spec) for spec in request.specs_for(image))
        except InvalidPerson as exc:
            if not skip:
                raise
            rejected.append(RejectedImage(image=image.name, sha256=image.sha256, reason=str(exc)))
    return work, rejected


# --- the flows -------------------------------------------------------------------------------


@flow(name="piktid-generate-people", log_prints=False)
def generate_people(
    image: str | UploadedImage,
    keywords: list[PersonKeyword] | None = None,
    persons: PersonSelection = "approved",
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    output_storage_block: str | None = None,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    stagger_seconds: float = DEFAULT_STAGGER_SECONDS,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    prompt: str = "",
    max_credits: int | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
    then: list[ChainStep] | None = None,
) -> VariationsResult:
    """Replace persons of one image, once per Location keyword (or once for a prompt).

    Args:
        image: A local image path, or an image uploaded by an earlier step.
        keywords: Location keywords, e.g. ``[{"Location": "Oceania"}]``; none with a ``prompt``.
        persons: "approved" (default), "all", or a list of person ids.
        credentials: PiktidCredentials, a saved block's name, or None (environment).
        out_dir: Folder for the images and ``manifest.json`` (a path inside
            ``output_storage_block`` when one is given).
        output_storage_block: A saved storage block to write into, as
            ``"<block-type-slug>/<name>"`` (e.g. ``"s3-bucket/studio"``); None: a local
            folder. Several workers may write to one location: none loses the other's
            outputs in ``manifest.json``.
        seed: One seed for all outputs; by default each output gets a reproducible one.
        options: Other PersonOptions (strength, var_strength, ...).
        stagger_seconds: Delay of each person's follow-up generations after its first.
        max_in_flight: Bound on generations in flight at once in this process.
        timeout_seconds: How long to wait for each output's notification.
        concurrency_limit: A Prefect global concurrency limit name capping the account.
        output_retries: Paid re-starts of an output the server failed or never reported.
        prompt: Free text describing the new person, sent with every keyword or alone.
        max_credits: Cap on this run's paid starts (re-starts and re-sent lost starts too).
        allow_partial: Short of credits, make the first outputs that fit and list the rest
            as ``left_out`` instead of failing before any start (the README's "Credits").
        low_credits_threshold: Warn (event ``piktid.credits.low``) if the balance ends below it.
        then: Steps after each variation, in order, each cached on the whole chain:
            ``[{"step": "upscale", "scale_factor": 2}, {"step": "identity",
            "identity_name": "ada"}]`` (see :mod:`piktid_prefect.tasks.chain`).

    Example:
        ```python
        from piktid_prefect.flows import generate_people

        generate_people("portrait.jpg", prompt="a woman in a red dress", credentials="my-piktid")
        ```
    """
    request = specs.request_of("person", locals())
    settings = RunSettings.of(locals())
    creds = resolve_credentials(credentials)
    return run_stoppable(creds, _one_image(creds, image, request), settings)


@flow(name="piktid-edit-backgrounds")
def edit_backgrounds(
    image: str | UploadedImage,
    keywords: list[BackgroundKeyword],
    prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    output_storage_block: str | None = None,
    options: dict[str, Any] | None = None,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    max_credits: int | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
    then: list[ChainStep] | None = None,
) -> VariationsResult:
    """New backgrounds (and relighting) for one image, once per keyword.

    Example:
        ```python
        from piktid_prefect.flows import edit_backgrounds

        edit_backgrounds("portrait.jpg", [{"nature_landscapes": "Beach"}], relight_strength=0.5)
        ```
    """
    request = specs.request_of("background", locals())
    # Backgrounds have no person to stagger behind.
    settings = RunSettings.of(locals(), stagger_seconds=0.0)
    creds = resolve_credentials(credentials)
    return run_stoppable(creds, _one_image(creds, image, request), settings)


@flow(name="piktid-batch-variations")
def batch_variations(
    images: str | list[str | UploadedImage],
    person_keywords: list[PersonKeyword] | None = None,
    background_keywords: list[BackgroundKeyword] | None = None,
    persons: PersonSelection = "approved",
    prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    output_storage_block: str | None = None,
    stagger_seconds: float = DEFAULT_STAGGER_SECONDS,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    person_prompt: str = "",
    on_bad_image: BadImagePolicy = "fail",
    max_credits: int | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
    then: list[ChainStep] | None = None,
) -> VariationsResult:
    """Person and background variations for every image of a folder or list, concurrently.

    Each image is uploaded once (and not again on re-runs); every output is paid once.
    ``prompt`` describes backgrounds; ``person_prompt`` describes the new persons (sent
    with every person keyword, or alone when there is none).
    ``on_bad_image``: ``"fail"`` (default) fails the batch before any credit when one
    image is unreadable or has no person to replace; ``"skip"`` leaves such images out
    (named with the reason in the result, ``manifest.json``'s ``rejected``, the table
    artifact and a ``piktid.image.rejected`` event) and makes the rest.
    ``output_retries``, ``max_credits``, ``allow_partial``, ``low_credits_threshold``,
    ``out_dir``, ``output_storage_block``, ``then``: as in :func:`generate_people` (see the
    README's "Credits", "Photos in a bucket" and "Chained steps").
    """
    request = specs.request_of("batch", locals())
    settings = RunSettings.of(locals())
    creds = resolve_credentials(credentials)
    work, rejected = _many_images(creds, images, request, skip=on_bad_image == "skip")
    return run_stoppable(creds, work, settings, rejected)


@flow(name="piktid-person-and-background-variations")
def person_and_background_variations(
    image: str | UploadedImage,
    person_keywords: list[PersonKeyword],
    background_keywords: list[BackgroundKeyword],
    persons: PersonSelection = "approved",
    prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = DEFAULT_OUT_DIR,
    output_storage_block: str | None = None,
    stagger_seconds: float = DEFAULT_STAGGER_SECONDS,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    person_prompt: str = "",
    max_credits: int | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
    then: list[ChainStep] | None = None,
) -> VariationsResult:
    """One upload; person replacements and background edits of it, side by side.

    ``prompt`` describes backgrounds, ``person_prompt`` the new persons.
    """
    # The batch flow's own body, on one image: its parameters are a subset of the batch's.
    parameters = dict(locals())
    parameters["images"] = [parameters.pop("image")]
    return batch_variations.fn(**parameters)
