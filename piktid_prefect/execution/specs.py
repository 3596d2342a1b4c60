"""What a run makes of each image: the request, checked once, and its spec builder.

A flow, its ``plan_*`` twin and the command line describe the same run, so they build it
with the same two calls: :func:`request` checks the keywords, prompts and options
(before any upload or credit) and :meth:`WorkRequest.specs_for` turns one uploaded (or
locally hashed) image into its :class:`GenerationSpec` list. A prompt-only person run is
therefore planned exactly as it runs: one output per person.

The parameter types the flows declare (so the deployment's schema lists the
vocabularies) live here too, because the plans accept the same values.

This module imports no Prefect: the command line checks its input with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import WithJsonSchema

from piktid_prefect.execution import inputs
from piktid_prefect.runtime.results import (
    GenerationSpec,
    RejectedImage,
    UploadedImage,
    derive_seed,
)
from piktid_prefect.wire.errors import InvalidInput, InvalidPerson
from piktid_prefect.wire.keywords import BACKGROUND_KEYWORDS, LOCATIONS, PERSON_CATEGORY
from piktid_prefect.wire.persons import person_problem

__all__ = [
    "IMAGE_SUFFIXES",
    "BackgroundKeyword",
    "BadImagePolicy",
    "PersonKeyword",
    "PersonSelection",
    "WorkRequest",
    "image_files",
    "images_in",
    "readable",
    "request",
    "request_of",
]

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


@dataclass(frozen=True)
class WorkRequest:
    """The checked outputs asked of every image: person and background variations."""

    people: bool = False
    person_keywords: list[dict[str, str]] = field(default_factory=list)
    person_prompt: str = ""
    persons: PersonSelection = "approved"
    person_options: dict[str, Any] = field(default_factory=dict)
    backgrounds: bool = False
    background_keywords: list[dict[str, str]] = field(default_factory=list)
    background_prompt: str = ""
    background_options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None

    @property
    def person_variants(self) -> list[dict[str, str]]:
        """One entry per person output: each keyword, or one for the prompt alone."""
        return self.person_keywords or [{}]

    def specs_for(self, image: UploadedImage) -> list[GenerationSpec]:
        """Every output of ``image``: its persons (by id, keywords as given), then backgrounds.

        Raises:
            InvalidPerson: A named person is unknown or not approved, or none is.
        """
        specs = self.person_specs(image) if self.people else []
        return specs + (self.background_specs(image) if self.backgrounds else [])

    def person_specs(self, image: UploadedImage) -> list[GenerationSpec]:
        """The person outputs of ``image`` (checks the persons PiktID detected)."""
        return [
            GenerationSpec(
                kind="person",
                person_id=pid,
                keyword=keyword,
                prompt=self.person_prompt,
                options={**self.person_options, "seed": self._seed(image, "person", pid, keyword)},
            )
            for pid in _person_ids(image, self.persons)
            for keyword in self.person_variants
        ]

    def background_specs(self, image: UploadedImage) -> list[GenerationSpec]:
        """The background outputs of ``image``."""
        specs = []
        for keyword in self.background_keywords or [{}]:
            if not keyword and not self.background_prompt:
                raise InvalidInput("A background edit needs a keyword or a prompt")
            seed = self._seed(image, "background", None, keyword)
            specs.append(
                GenerationSpec(
                    kind="background",
                    keyword=keyword,
                    prompt=self.background_prompt,
                    options={**self.background_options, "seed": seed},
                )
            )
        return specs

    def _seed(
        self, image: UploadedImage, kind: str, person: int | None, keyword: dict[str, str]
    ) -> int:
        if self.seed is not None:
            return self.seed
        return derive_seed(image.sha256, kind, person, keyword)


def request(
    *,
    person_keywords: Sequence[Mapping[str, str]] | None = None,
    person_prompt: str = "",
    persons: PersonSelection = "approved",
    background_keywords: Sequence[Mapping[str, str]] | None = None,
    background_prompt: str = "",
    relight_strength: float | None = None,
    seed: int | None = None,
    options: Mapping[str, Any] | None = None,
    only: Literal["person", "background"] | None = None,
    hint: str | None = None,
) -> WorkRequest:
    """The checked request of a run (no upload, no credit), as every entry point builds it.

    ``only="person"`` is ``generate_people`` (``options``: person options); ``only=
    "background"`` is ``edit_backgrounds`` (``options``: background options; no keyword
    and no prompt is refused per output). Otherwise both kinds. Nothing to make is
    refused with ``hint`` (the caller's own names). Raises :class:`InvalidInput`.
    """
    if only == "background":
        return _backgrounds_only(
            background_keywords, background_prompt, relight_strength, seed, options
        )
    person_kw = inputs.person_keywords(person_keywords or [])
    background_kw = [] if only else inputs.background_keywords(background_keywords or [])
    text = inputs.person_prompt(person_prompt)
    inputs.require_work(
        person_keywords=person_kw,
        person_prompt=text,
        background_keywords=background_kw,
        background_prompt="" if only else background_prompt,
        **({"hint": hint} if hint else {}),
    )
    person_opts = inputs.person_options(options if only else None, seed)
    wants_backgrounds = not only and bool(background_kw or background_prompt)
    return WorkRequest(
        people=bool(person_kw or text),
        person_keywords=person_kw,
        person_prompt=text,
        persons=persons,
        person_options=person_opts,
        backgrounds=wants_backgrounds,
        background_keywords=background_kw,
        background_prompt=background_prompt if wants_backgrounds else "",
        background_options=(
            inputs.background_options(None, relight_strength, seed) if not only else {}
        ),
        seed=seed,
    )


RunKind = Literal["person", "background", "batch"]
# For each kind of run, the request() argument each flow parameter fills: the flows and
# their plans share parameter names, so both read their request with request_of().
_PARAMETERS: dict[RunKind, dict[str, str]] = {
    "person": {
        "person_keywords": "keywords",
        "person_prompt": "prompt",
        "persons": "persons",
        "options": "options",
        "seed": "seed",
    },
    "background": {
        "background_keywords": "keywords",
        "background_prompt": "prompt",
        "relight_strength": "relight_strength",
        "options": "options",
        "seed": "seed",
    },
    "batch": {
        "person_keywords": "person_keywords",
        "person_prompt": "person_prompt",
        "persons": "persons",
        "background_keywords": "background_keywords",
        "background_prompt": "prompt",
        "relight_strength": "relight_strength",
        "seed": "seed",
    },
}
PERSON_HINT = "give keywords or a prompt describing the person"


def request_of(
    kind: RunKind, parameters: Mapping[str, Any], *, hint: str | None = None
) -> WorkRequest:
    """The checked request of a ``kind`` flow, read from its parameters by name.

    ``generate_people`` and ``plan_generate_people`` (kind ``"person"``), ``edit_backgrounds``
    and its plan (``"background"``), ``batch_variations``, its plan and the inbox
    (``"batch"``) pass their own ``locals()``: one reading, so a plan is its flow's.
    """
    arguments = {
        arg: parameters[name] for arg, name in _PARAMETERS[kind].items() if name in parameters
    }
    if kind == "batch":
        return request(**arguments, hint=hint)
    return request(**arguments, only=kind, hint=hint or (PERSON_HINT if kind == "person" else None))


def _backgrounds_only(
    keywords: Sequence[Mapping[str, str]] | None,
    prompt: str,
    relight_strength: float | None,
    seed: int | None,
    options: Mapping[str, Any] | None,
) -> WorkRequest:
    return WorkRequest(
        backgrounds=True,
        background_keywords=inputs.background_keywords(keywords or []),
        background_prompt=prompt,
        background_options=inputs.background_options(options, relight_strength, seed),
        seed=seed,
    )


def _person_ids(image: UploadedImage, persons: PersonSelection) -> list[int]:
    known = sorted(p.id for p in image.persons)
    if persons == "approved":
        if not image.approved_person_ids:
            reason = "no person was detected" if not known else "no detected person is approved"
            raise InvalidPerson(f"{image.name}: {reason} (too blurry or absent faces)")
        return list(image.approved_person_ids)
    if persons == "all":
        if not known:
            raise InvalidPerson(f"{image.name}: no person was detected")
        return known
    for pid in persons:
        problem = person_problem(image.persons, pid)
        if problem == "not approved":
            raise InvalidPerson(f"{image.name}: person {pid} is not approved (too blurry)")
        if problem is not None:
            raise InvalidPerson(
                f"{image.name}: person {pid} does not exist (detected ids: {known or 'none'})"
            )
    return list(persons)


def images_in(folder: Path) -> list[Path]:
    """The images (by suffix) directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def image_files(images: str | Sequence[str | UploadedImage]) -> list[str | UploadedImage]:
    """A folder's images, or the files (and uploaded images) given."""
    if isinstance(images, str) and Path(images).is_dir():
        files: list[str | UploadedImage] = [str(p) for p in images_in(Path(images))]
        if not files:
            raise InvalidInput(f"No .jpg/.png/.webp image in folder {images}")
        return files
    return [images] if isinstance(images, str) else list(images)


def readable(
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
