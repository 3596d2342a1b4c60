"""Composable PiktID flows: fan out per image, person and keyword; show progress in the UI.

Every flow validates all its input (keywords, options, persons) before the first credit
is spent, runs outputs concurrently, staggers each person's follow-up generations behind
its first (PiktID builds the person's mask on the first call; parallel first calls each
build it), writes every delivered output and ``manifest.json`` even when some outputs
fail, and then fails naming the ones that did.
"""

from __future__ import annotations

import os
import queue
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal, Union

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture
from pydantic import BaseModel, Field

from piktid_prefect._generation import _writable_folder as writable_folder
from piktid_prefect._prefect_glue import CredentialsLike, resolve_credentials
from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.errors import InvalidInput, InvalidPerson, PiktidError
from piktid_prefect.keywords import validate_background_keyword, validate_person_keyword
from piktid_prefect.models import BackgroundOptions, PersonOptions
from piktid_prefect.results import (
    GenerationResult,
    GenerationSpec,
    Manifest,
    OutputRecord,
    StaggerPlan,
    UploadedImage,
    derive_seed,
)
from piktid_prefect.stagger import gate_for
from piktid_prefect.tasks import download_result, generate_output, upload_image
from piktid_prefect.ui import Progress, publish_outputs

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
DEFAULT_MAX_IN_FLIGHT = 32
DEFAULT_TIMEOUT_SECONDS = 600.0
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

PersonSelection = Union[Literal["approved", "all"], list[int]]  # noqa: UP007


class FailedOutput(BaseModel):
    """An output that could not be delivered."""

    image: str = Field(description="Source image name.")
    kind: str = Field(description="person or background.")
    person: int | None = Field(description="Person id, if any.")
    keyword: dict[str, str] = Field(description="The keyword pair.")
    error: str = Field(description="What went wrong.")


class VariationsResult(BaseModel):
    """What a flow delivered."""

    outputs: list[OutputRecord] = Field(default_factory=list, description="Delivered outputs.")
    failures: list[FailedOutput] = Field(default_factory=list, description="Failed outputs.")
    manifest_path: str = Field("", description="Path of manifest.json.")


# --- input validation (before any credit) ------------------------------------------------


def _person_specs(
    image: UploadedImage,
    keywords: Sequence[dict[str, str]],
    persons: PersonSelection,
    seed: int | None,
    options: dict[str, Any],
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
        for keyword in keywords:
            chosen = seed if seed is not None else derive_seed(image.sha256, "person", pid, keyword)
            specs.append(
                GenerationSpec(
                    kind="person",
                    person_id=pid,
                    keyword=keyword,
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


def _checked_person_keywords(keywords: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    return [validate_person_keyword(k) for k in keywords]


def _checked_background_keywords(keywords: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    return [validate_background_keyword(k) for k in keywords]


def _image_files(
    images: str | Sequence[str | UploadedImage],
) -> list[str | UploadedImage]:
    if isinstance(images, str) and Path(images).is_dir():
        files: list[str | UploadedImage] = [
            str(p) for p in sorted(Path(images).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not files:
            raise InvalidInput(f"No .jpg/.png/.webp image in folder {images}")
        return files
    return [images] if isinstance(images, str) else list(images)


# --- the fan-out ----------------------------------------------------------------------------


def _upload_all(
    credentials: PiktidCredentials, images: Sequence[str | UploadedImage]
) -> list[UploadedImage]:
    futures: list[UploadedImage | PrefectFuture[UploadedImage]] = [
        img if isinstance(img, UploadedImage) else upload_image.submit(credentials, img)
        for img in images
    ]
    uploaded = [f if isinstance(f, UploadedImage) else f.result() for f in futures]
    # Deterministic output names use the file stem: keep two "photo.jpg"s apart.
    stems = [u.name for u in uploaded]
    return [
        u.model_copy(update={"name": f"{u.name}-{u.sha256[:8]}"}) if stems.count(u.name) > 1 else u
        for u in uploaded
    ]


def run_outputs(
    credentials: PiktidCredentials,
    work: Sequence[tuple[UploadedImage, GenerationSpec]],
    *,
    out_dir: str,
    stagger_seconds: float,
    max_in_flight: int | None,
    timeout_seconds: float,
    concurrency_limit: str | None,
) -> VariationsResult:
    """Generate and download every (image, spec) concurrently, inside the current flow."""
    logger = get_run_logger()
    # A folder that cannot be written is refused before the first credit is spent.
    writable_folder(out_dir)
    # The same output asked twice (a repeated keyword, an image listed twice) is made once:
    # two concurrent runs of one cache key would both pay.
    unique = {(image.sha256, spec.model_dump_json()): (image, spec) for image, spec in work}
    work = list(unique.values())
    progress = Progress(len(work))
    outputs: list[OutputRecord] = []
    failures: list[FailedOutput] = []

    def deliver(record: OutputRecord) -> None:
        outputs.append(record)
        progress.advance()
        logger.info("%d/%d delivered %s", progress.done, len(work), Path(record.path).name)

    def fail(image: UploadedImage, spec: GenerationSpec, exc: BaseException) -> None:
        progress.advance(failed=True)
        logger.warning("%d/%d failed: %s", progress.done, len(work), exc)
        failures.append(
            FailedOutput(
                image=image.name,
                kind=spec.kind,
                person=spec.person_id,
                keyword=spec.keyword,
                error=f"{type(exc).__name__}: {exc}",
            )
        )

    _fan_out(
        credentials,
        _staggered(credentials, work, stagger_seconds),
        out_dir=out_dir,
        window=2 * (max_in_flight or DEFAULT_MAX_IN_FLIGHT),
        task_options={
            "timeout_seconds": timeout_seconds,
            "max_in_flight": max_in_flight,
            "concurrency_limit": concurrency_limit,
        },
        deliver=deliver,
        fail=fail,
    )
    manifest_path = ""
    if outputs:
        manifest_path = str(Manifest.merged(out_dir, outputs).write(out_dir))
    elif Path(out_dir, "manifest.json").exists():
        # Nothing delivered this time: the earlier manifest stays as it was.
        manifest_path = str(Path(out_dir, "manifest.json"))
    if outputs:
        publish_outputs(sorted(outputs, key=lambda r: r.path))
    logger.info(
        "%d of %d outputs delivered to %s", len(outputs), len(work), os.path.abspath(out_dir)
    )
    result = VariationsResult(
        outputs=sorted(outputs, key=lambda r: r.path),
        failures=failures,
        manifest_path=manifest_path,
    )
    if failures:
        listed = "; ".join(
            f"{f.image} {f.kind} person={f.person} {f.keyword}: {f.error}" for f in failures[:10]
        )
        raise PiktidError(
            f"{len(failures)} of {len(work)} outputs failed (delivered ones are in "
            f"{manifest_path or out_dir}): {listed}"
        )
    return result


Plan = tuple[UploadedImage, GenerationSpec, "StaggerPlan | None"]


def _staggered(
    credentials: PiktidCredentials,
    work: Sequence[tuple[UploadedImage, GenerationSpec]],
    stagger_seconds: float,
) -> list[Plan]:
    """Each person's first generation first, then backgrounds, then the follow-ups.

    Submitting the firsts ahead lets every person's mask warm-up start at once, so no
    follow-up waits behind a queue of other persons' firsts.
    """
    run_id = uuid.uuid4().hex[:8]
    firsts: list[Plan] = []
    backgrounds: list[Plan] = []
    follow_ups: list[Plan] = []
    seen: set[str] = set()
    for image, spec in work:
        if spec.kind != "person" or stagger_seconds <= 0:
            (backgrounds if spec.kind == "background" else firsts).append((image, spec, None))
            continue
        key = f"{run_id}:{credentials.account_key}:{image.sha256}:{spec.person_id}"
        plan = StaggerPlan(key=key, first=key not in seen, seconds=stagger_seconds)
        seen.add(key)
        (firsts if plan.first else follow_ups).append((image, spec, plan))
    return firsts + backgrounds + follow_ups


def _fan_out(
    credentials: PiktidCredentials,
    plans: list[Plan],
    *,
    out_dir: str,
    window: int,
    task_options: dict[str, Any],
    deliver: Callable[[OutputRecord], None],
    fail: Callable[[UploadedImage, GenerationSpec, BaseException], None],
) -> None:
    """Run generate -> download for every plan, at most ``window`` outputs at a time.

    Submitting everything at once would park one thread per task (1,500 threads for
    1,000 outputs); a window twice the in-flight bound keeps every slot busy while
    memory stays flat.
    """
    finished: queue.Queue[PrefectFuture[Any]] = queue.Queue()
    stage: dict[PrefectFuture[Any], tuple[UploadedImage, GenerationSpec]] = {}
    pending = iter(plans)
    active = 0

    def submit_next() -> bool:
        plan = next(pending, None)
        if plan is None:
            return False
        image, spec, stagger = plan
        generated = generate_output.submit(
            credentials, image, spec, stagger=stagger, **task_options
        )
        if stagger is not None and stagger.first:
            # A cached first output never starts: open its gate when it is done anyway.
            generated.add_done_callback(partial(_open_gate, stagger.key))
        stage[generated] = (image, spec)
        generated.add_done_callback(finished.put)
        return True

    while active < window and submit_next():
        active += 1
    while active:
        future = finished.get()
        image, spec = stage.pop(future)
        try:
            result = future.result()
        except Exception as exc:
            fail(image, spec, exc)
        else:
            if isinstance(result, GenerationResult):
                downloaded = download_result.submit(credentials, result, out_dir)
                stage[downloaded] = (image, spec)
                downloaded.add_done_callback(finished.put)
                continue
            deliver(result)
        active -= 1
        if submit_next():
            active += 1


def _open_gate(key: str, _future: object) -> None:
    gate_for(key).open(None)


# --- the flows -------------------------------------------------------------------------------


@flow(name="piktid-generate-people", log_prints=False)
def generate_people(
    image: str | UploadedImage,
    keywords: list[dict[str, str]],
    persons: PersonSelection = "approved",
    credentials: CredentialsLike = None,
    out_dir: str = "piktid-output",
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    stagger_seconds: float = DEFAULT_STAGGER_SECONDS,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
) -> VariationsResult:
    """Replace persons of one image, once per Location keyword.

    Args:
        image: A local image path, or an image uploaded by an earlier step.
        keywords: e.g. ``[{"Location": "Oceania"}, {"Location": "East Asia"}]``.
        persons: "approved" (default), "all", or a list of person ids.
        credentials: PiktidCredentials, a saved block's name, or None (environment).
        out_dir: Folder for the images and ``manifest.json``.
        seed: One seed for all outputs; by default each output gets a reproducible one.
        options: Other PersonOptions (strength, var_strength, ...).
        stagger_seconds: Delay of each person's follow-up generations after its first.
        max_in_flight: Bound on generations in flight at once in this process.
        timeout_seconds: How long to wait for each output's notification.
        concurrency_limit: A Prefect global concurrency limit name capping the account.

    Example:
        ```python
        from piktid_prefect.flows import generate_people

        generate_people("portrait.jpg", [{"Location": "Oceania"}], credentials="my-piktid")
        ```
    """
    checked = _checked_person_keywords(keywords)
    opts = PersonOptions.coerce({**(options or {}), **({"seed": seed} if seed is not None else {})})
    creds = resolve_credentials(credentials)
    (uploaded,) = _upload_all(creds, [image])
    specs = _person_specs(uploaded, checked, persons, seed, opts.model_dump(exclude_none=True))
    return run_outputs(
        creds,
        [(uploaded, s) for s in specs],
        out_dir=out_dir,
        stagger_seconds=stagger_seconds,
        max_in_flight=max_in_flight,
        timeout_seconds=timeout_seconds,
        concurrency_limit=concurrency_limit,
    )


@flow(name="piktid-edit-backgrounds")
def edit_backgrounds(
    image: str | UploadedImage,
    keywords: list[dict[str, str]],
    prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    credentials: CredentialsLike = None,
    out_dir: str = "piktid-output",
    options: dict[str, Any] | None = None,
    max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    concurrency_limit: str | None = None,
) -> VariationsResult:
    """New backgrounds (and relighting) for one image, once per keyword.

    Example:
        ```python
        from piktid_prefect.flows import edit_backgrounds

        edit_backgrounds("portrait.jpg", [{"nature_landscapes": "Beach"}], relight_strength=0.5)
        ```
    """
    checked = _checked_background_keywords(keywords)
    opts = _background_options(options, relight_strength, seed)
    creds = resolve_credentials(credentials)
    (uploaded,) = _upload_all(creds, [image])
    specs = _background_specs(uploaded, checked, prompt, seed, opts)
    return run_outputs(
        creds,
        [(uploaded, s) for s in specs],
        out_dir=out_dir,
        stagger_seconds=0.0,
        max_in_flight=max_in_flight,
        timeout_seconds=timeout_seconds,
        concurrency_limit=concurrency_limit,
    )


def _background_options(
    options: dict[str, Any] | None, relight_strength: float | None, seed: int | None
) -> dict[str, Any]:
    extra = {"relight_strength": relight_strength, "seed": seed}
    merged = {**(options or {}), **{k: v for k, v in extra.items() if v is not None}}
    checked: BackgroundOptions = BackgroundOptions.coerce(merged)
    return checked.model_dump(exclude_none=True)


@flow(name="piktid-batch-variations")
def batch_variations(
    images: str | list[str | UploadedImage],
    person_keywords: list[dict[str, str]] | None = None,
    background_keywords: list[dict[str, str]] | None = None,
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
) -> VariationsResult:
    """Person and background variations for every image of a folder or list, concurrently.

    Each image is uploaded once (and not again on re-runs); every output is paid once.
    """
    person_kw = _checked_person_keywords(person_keywords or [])
    background_kw = _checked_background_keywords(background_keywords or [])
    if not person_kw and not background_kw and not prompt:
        raise InvalidInput("Nothing to do: give person_keywords, background_keywords or a prompt")
    person_opts = PersonOptions.coerce({"seed": seed} if seed is not None else {})
    background_opts = _background_options(None, relight_strength, seed)
    creds = resolve_credentials(credentials)
    files = _image_files(images)
    uploaded = _upload_all(creds, files)
    work: list[tuple[UploadedImage, GenerationSpec]] = []
    for image in uploaded:
        if person_kw:
            specs = _person_specs(
                image, person_kw, persons, seed, person_opts.model_dump(exclude_none=True)
            )
            work.extend((image, s) for s in specs)
        if background_kw or prompt:
            specs = _background_specs(image, background_kw, prompt, seed, background_opts)
            work.extend((image, s) for s in specs)
    return run_outputs(
        creds,
        work,
        out_dir=out_dir,
        stagger_seconds=stagger_seconds,
        max_in_flight=max_in_flight,
        timeout_seconds=timeout_seconds,
        concurrency_limit=concurrency_limit,
    )


@flow(name="piktid-person-and-background-variations")
def person_and_background_variations(
    image: str | UploadedImage,
    person_keywords: list[dict[str, str]],
    background_keywords: list[dict[str, str]],
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
) -> VariationsResult:
    """One upload; person replacements and background edits of it, side by side."""
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
        concurrency_limit=concurrency_limit,
    )
