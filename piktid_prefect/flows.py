"""Composable PiktID flows: fan out per image, person and keyword; show progress in the UI.

Every flow validates all its input (keywords, options, persons) before the first credit
is spent, runs outputs concurrently, staggers each person's follow-up generations behind
its first (PiktID builds the person's mask on the first call; parallel first calls each
build it), writes every delivered output and ``manifest.json`` even when some outputs
fail, and then fails naming the ones that did.
"""

# No `from __future__ import annotations`: the annotations must be real objects. A flow
# served with `flow.serve()` is pickled by value into its run's process, which keeps only
# the globals its code names; string annotations (e.g. "PersonKeyword") would then not
# resolve and every run would fail its parameter validation.
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from prefect import flow
from pydantic import WithJsonSchema

from piktid_prefect import inputs
from piktid_prefect.account_limit import existing_concurrency_limit
from piktid_prefect.credentials import CredentialsLike, PiktidCredentials, resolve_credentials
from piktid_prefect.fanout import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_OUTPUT_RETRIES,
    FailedOutput,
    VariationsResult,
    run_outputs,
    upload_all,
)
from piktid_prefect.runtime import generation
from piktid_prefect.runtime.results import (
    GenerationSpec,
    RejectedImage,
    UploadedImage,
    derive_seed,
)
from piktid_prefect.wire.errors import InvalidInput, InvalidPerson
from piktid_prefect.wire.keywords import BACKGROUND_KEYWORDS, LOCATIONS, PERSON_CATEGORY

__all__ = [
    "FailedOutput",
    "VariationsResult",
    "batch_variations",
    "edit_backgrounds",
    "generate_people",
    "person_and_background_variations",
]

# PiktID's docs: "A 15 second timeout is encouraged due to internal API limitations".
DEFAULT_STAGGER_SECONDS = 15.0
DEFAULT_TIMEOUT_SECONDS = 600.0
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

PersonSelection = Union[Literal["approved", "all"], list[int]]  # noqa: UP007
BadImagePolicy = Literal["fail", "skip"]

# Keyword parameters: the deployment's parameter schema lists the vocabularies, so the
# server refuses `{"Location": "Atlantis"}` (or an unknown background category or value)
# before a run is queued. At run time the flow checks them itself (InvalidKeyword, naming
# the valid values), before any credit is spent.
PersonKeyword = Annotated[
    dict[str, str],
    WithJsonSchema(
        {
            "type": "object",
            "properties": {PERSON_CATEGORY: {"type": "string", "enum": list(LOCATIONS)}},
            "required": [PERSON_CATEGORY],
            "additionalProperties": False,
        }
    ),
]
BackgroundKeyword = Annotated[
    dict[str, str],
    WithJsonSchema(
        {
            "type": "object",
            "properties": {
                category: {"type": "string", "enum": list(values)}
                for category, values in BACKGROUND_KEYWORDS.items()
            },
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
        }
    ),
]


# --- input validation (before any credit) ------------------------------------------------


def _person_specs(
    image: UploadedImage,
    keywords: Sequence[dict[str, str]],
    persons: PersonSelection,
    seed: int | None,
    options: dict[str, Any],
    prompt: str = "",
) -> list[GenerationSpec]:
    known = {p.id: p for p in image.persons}
    if persons == "approved":
        person_ids = image.approved_person_ids
        if not person_ids:
            reason = "no person was detected" if not known else "no detected person is approved"
            raise InvalidPerson(f"{image.name}: {reason} (too blurry or absent faces)")
    elif persons == "all":
        person_ids = sorted(known)
        if not person_ids:
            raise InvalidPerson(f"{image.name}: no person was detected")
    else:
        person_ids = list(persons)
        for pid in person_ids:
            if pid not in known:
                raise InvalidPerson(
                    f"{image.name}: person {pid} does not exist "
                    f"(detected ids: {sorted(known) or 'none'})"
                )
            if not known[pid].approve:
                raise InvalidPerson(f"{image.name}: person {pid} is not approved (too blurry)")
    specs = []
    for pid in person_ids:
        # Without keywords, the prompt alone describes the person (one output each).
        for keyword in keywords or [{}]:
            chosen = seed if seed is not None else derive_seed(image.sha256, "person", pid, keyword)
            specs.append(
                GenerationSpec(
                    kind="person",
                    person_id=pid,
                    keyword=keyword,
                    prompt=prompt,
                    options={**options, "seed": chosen},
                )
            )
    return specs


def _background_specs(
    image: UploadedImage,
    keywords: Sequence[dict[str, str]],
    prompt: str,
    seed: int | None,
    options: dict[str, Any],
) -> list[GenerationSpec]:
    specs = []
    for keyword in keywords or [{}]:
        if not keyword and not prompt:
            raise InvalidInput("A background edit needs a keyword or a prompt")
        chosen = (
            seed if seed is not None else derive_seed(image.sha256, "background", None, keyword)
        )
        specs.append(
            GenerationSpec(
                kind="background",
                keyword=keyword,
                prompt=prompt,
                options={**options, "seed": chosen},
            )
        )
    return specs


def images_in(folder: Path) -> list[Path]:
    """The images (by suffix) directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _image_files(
    images: str | Sequence[str | UploadedImage],
) -> list[str | UploadedImage]:
    if isinstance(images, str) and Path(images).is_dir():
        files: list[str | UploadedImage] = [str(p) for p in images_in(Path(images))]
        if not files:
            raise InvalidInput(f"No .jpg/.png/.webp image in folder {images}")
        return files
    return [images] if isinstance(images, str) else list(images)


def _readable(
    files: Sequence[str | UploadedImage],
) -> tuple[list[str | UploadedImage], list[RejectedImage]]:
    """The files the upload would accept, and the others with the reason (no request)."""
    good: list[str | UploadedImage] = []
    bad: list[RejectedImage] = []
    for file in files:
        if isinstance(file, UploadedImage):
            good.append(file)
            continue
        try:
            inputs.image_file(file)
        except InvalidInput as exc:
            path = Path(file)
            content = path.read_bytes() if path.is_file() else str(path).encode()
            digest = hashlib.sha256(content).hexdigest()
            bad.append(RejectedImage(image=path.stem, sha256=digest, reason=str(exc)))
        else:
            good.append(file)
    return good, bad


def _run_stoppable(credentials: PiktidCredentials, *args: Any, **kwargs: Any) -> VariationsResult:
    """:func:`run_outputs`, whose in-flight waits end when the run is stopped.

    A cancelled deployment run gets SIGTERM; Prefect raises ``TerminationSignal`` in the
    flow, then waits for its task threads, which wait for PiktID's notifications (minutes)
    until the worker kills the process 30 s later. Failing those waits lets the run end
    Cancelled at once; the jobs stay in the journal (only a settled output leaves it), so
    a re-run within PiktID's 600 s collects them without paying again.
    """
    generation.resume(credentials)  # a new run: an earlier stop in this process is over
    try:
        return run_outputs(credentials, *args, **kwargs)
    except BaseException as exc:
        if not isinstance(exc, Exception):  # TerminationSignal, KeyboardInterrupt, ...
            generation.stop(credentials, f"the flow run was stopped ({exc!r})")
        raise


# --- the flows -------------------------------------------------------------------------------


@flow(name="piktid-generate-people", log_prints=False)
def generate_people(
    image: str | UploadedImage,
    keywords: list[PersonKeyword] | None = None,
    persons: PersonSelection = "approved",
    credentials: CredentialsLike = None,
    out_dir: str = "piktid-output",
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
) -> VariationsResult:
    """Replace persons of one image, once per Location keyword (or once for a prompt).

    Args:
        image: A local image path, or an image uploaded by an earlier step.
        keywords: e.g. ``[{"Location": "Oceania"}, {"Location": "East Asia"}]``; may be
            empty when ``prompt`` describes the person.
        persons: "approved" (default), "all", or a list of person ids.
        credentials: PiktidCredentials, a saved block's name, or None (environment).
        out_dir: Folder for the images and ``manifest.json``.
        seed: One seed for all outputs; by default each output gets a reproducible one.
        options: Other PersonOptions (strength, var_strength, ...).
        stagger_seconds: Delay of each person's follow-up generations after its first.
        max_in_flight: Bound on generations in flight at once in this process.
        timeout_seconds: How long to wait for each output's notification.
        concurrency_limit: A Prefect global concurrency limit name capping the account.
        output_retries: How many times an output the server failed (or never reported)
            is started again in this run — each a paid start, shown in the summary.
        prompt: Free text describing the new person ("a woman in a red dress"), sent
            with every keyword, or alone when there is none.
        max_credits: Never start more than this many paid generations in this run
            (retries and re-sent lost starts included); None = no cap.
        allow_partial: When the balance (or ``max_credits``) is short, make the first
            outputs that fit (images by name; per image persons by id, keywords as given;
            then backgrounds) and list the rest as ``left_out``, instead of failing
            before any start.
        low_credits_threshold: Emit a ``piktid.credits.low`` event (and log a warning)
            when the balance after the run is under this.

    Example:
        ```python
        from piktid_prefect.flows import generate_people

        generate_people("portrait.jpg", [{"Location": "Oceania"}], credentials="my-piktid")
        generate_people("portrait.jpg", prompt="a woman in a red dress", credentials="my-piktid")
        ```
    """
    checked = inputs.person_keywords(keywords or [])
    text = inputs.person_prompt(prompt)
    inputs.require_work(
        person_keywords=checked,
        person_prompt=text,
        hint="give keywords or a prompt describing the person",
    )
    opts = inputs.person_options(options, seed)
    creds = resolve_credentials(credentials)
    (uploaded,) = upload_all(creds, [image])
    specs = _person_specs(uploaded, checked, persons, seed, opts, prompt=text)
    return _run_stoppable(
        creds,
        [(uploaded, s) for s in specs],
        out_dir=out_dir,
        stagger_seconds=stagger_seconds,
        max_in_flight=max_in_flight,
        timeout_seconds=timeout_seconds,
        concurrency_limit=existing_concurrency_limit(concurrency_limit),
        output_retries=output_retries,
        max_credits=max_credits,
        allow_partial=allow_partial,
        low_credits_threshold=low_credits_threshold,
    )


@flow(name="piktid-edit-backgrounds")
def edit_backgrounds(
    image: str | UploadedImage,
    keywords: list[BackgroundKeyword],
    prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = "piktid-output",
    options: dict[str, Any] | None = None,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    max_credits: int | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
) -> VariationsResult:
    """New backgrounds (and relighting) for one image, once per keyword.

    Example:
        ```python
        from piktid_prefect.flows import edit_backgrounds

        edit_backgrounds("portrait.jpg", [{"nature_landscapes": "Beach"}], relight_strength=0.5)
        ```
    """
    checked = inputs.background_keywords(keywords)
    opts = inputs.background_options(options, relight_strength, seed)
    creds = resolve_credentials(credentials)
    (uploaded,) = upload_all(creds, [image])
    specs = _background_specs(uploaded, checked, prompt, seed, opts)
    return _run_stoppable(
        creds,
        [(uploaded, s) for s in specs],
        out_dir=out_dir,
        stagger_seconds=0.0,
        max_in_flight=max_in_flight,
        timeout_seconds=timeout_seconds,
        concurrency_limit=existing_concurrency_limit(concurrency_limit),
        output_retries=output_retries,
        max_credits=max_credits,
        allow_partial=allow_partial,
        low_credits_threshold=low_credits_threshold,
    )


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
    out_dir: str = "piktid-output",
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
) -> VariationsResult:
    """Person and background variations for every image of a folder or list, concurrently.

    Each image is uploaded once (and not again on re-runs); every output is paid once.
    ``prompt`` describes backgrounds; ``person_prompt`` describes the new persons (sent
    with every person keyword, or alone when there is none).
    ``on_bad_image``: ``"fail"`` (default) fails the batch before any credit when one
    image is unreadable or has no person to replace; ``"skip"`` leaves such images out
    (named with the reason in the result, ``manifest.json``'s ``rejected``, the table
    artifact and a ``piktid.image.rejected`` event) and makes the rest.
    ``output_retries``, ``max_credits``, ``allow_partial``, ``low_credits_threshold``: as in
    :func:`generate_people` (see the README's "Credits").
    """
    person_kw = inputs.person_keywords(person_keywords or [])
    background_kw = inputs.background_keywords(background_keywords or [])
    person_text = inputs.person_prompt(person_prompt)
    inputs.require_work(
        person_keywords=person_kw,
        person_prompt=person_text,
        background_keywords=background_kw,
        background_prompt=prompt,
    )
    person_opts = inputs.person_options(None, seed)
    background_opts = inputs.background_options(None, relight_strength, seed)
    creds = resolve_credentials(credentials)
    skip = on_bad_image == "skip"
    rejected: list[RejectedImage] = []
    files = _image_files(images)
    if skip:
        files, rejected = _readable(files)
    uploaded = upload_all(creds, files)
    work: list[tuple[UploadedImage, GenerationSpec]] = []
    for image in uploaded:
        specs: list[GenerationSpec] = []
        try:
            if person_kw or person_text:
                specs += _person_specs(
                    image, person_kw, persons, seed, person_opts, prompt=person_text
                )
        except InvalidPerson as exc:
            if not skip:
                raise
            rejected.append(RejectedImage(image=image.name, sha256=image.sha256, reason=str(exc)))
            continue
        if background_kw or prompt:
            specs += _background_specs(image, background_kw, prompt, seed, background_opts)
        work.extend((image, s) for s in specs)
    return _run_stoppable(
        creds,
        work,
        out_dir=out_dir,
        stagger_seconds=stagger_seconds,
        max_in_flight=max_in_flight,
        timeout_seconds=timeout_seconds,
        concurrency_limit=existing_concurrency_limit(concurrency_limit),
        output_retries=output_retries,
        max_credits=max_credits,
        allow_partial=allow_partial,
        low_credits_threshold=low_credits_threshold,
        rejected=rejected,
    )


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
    out_dir: str = "piktid-output",
    stagger_seconds: float = DEFAULT_STAGGER_SECONDS,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
    output_retries: int = DEFAULT_OUTPUT_RETRIES,
    person_prompt: str = "",
    max_credits: int | None = None,
    allow_partial: bool = False,
    low_credits_threshold: float | None = None,
) -> VariationsResult:
    """One upload; person replacements and background edits of it, side by side.

    ``prompt`` describes backgrounds, ``person_prompt`` the new persons.
    """
    return batch_variations.fn(
        images=[image],
        person_keywords=person_keywords,
        background_keywords=background_keywords,
        persons=persons,
        prompt=prompt,
        relight_strength=relight_strength,
        seed=seed,
        credentials=credentials,
        out_dir=out_dir,
        stagger_seconds=stagger_seconds,
        max_in_flight=max_in_flight,
        timeout_seconds=timeout_seconds,
        concurrency_limit=existing_concurrency_limit(concurrency_limit),
        output_retries=output_retries,
        person_prompt=person_prompt,
        max_credits=max_credits,
        allow_partial=allow_partial,
        low_credits_threshold=low_credits_threshold,
    )
