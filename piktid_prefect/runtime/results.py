"""Typed results of the Prefect layer: uploaded images, generations, outputs, manifest.

These are plain pydantic models (no Prefect import) so that they pickle across Dask
workers, persist as Prefect results, and serialise into ``manifest.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from piktid_prefect.runtime.chain_models import StepRecord
from piktid_prefect.runtime.credits import CreditSummary
from piktid_prefect.wire.keywords import keyword_slug
from piktid_prefect.wire.models import GenerationJob, JobKind, Person
from piktid_prefect.wire.persons import approved_ids

__all__ = [
    "GenerationResult",
    "GenerationSpec",
    "Manifest",
    "OutputRecord",
    "RejectedImage",
    "UploadedImage",
    "derive_seed",
    "generation_identity",
    "output_filename",
    "with_distinct_names",
]


class UploadedImage(BaseModel):
    """An image uploaded to PiktID, with what is needed to upload it again."""

    model_config = ConfigDict(frozen=True)

    image_id: str = Field(description="Server id (valid 24 h after upload).")
    sha256: str = Field(description="Content hash of the uploaded bytes.")
    name: str = Field(description="File stem used in output names.")
    persons: tuple[Person, ...] = Field((), description="Persons detected by PiktID.")
    account_key: str = Field(description="Secret-free id of the account it belongs to.")
    uploaded_at: float = Field(description="Epoch seconds of the upload.")
    source: str | None = Field(None, description="Local path, to re-upload if it expired.")

    @property
    def approved_person_ids(self) -> list[int]:
        """Ids of the persons PiktID can replace."""
        return approved_ids(self.persons)


def with_distinct_names(images: Sequence[UploadedImage]) -> list[UploadedImage]:
    """Deterministic output names use the file stem: two files with one stem (two
    ``photo.jpg``) get their content hash added, so their outputs stay apart."""
    stems = [image.name for image in images]
    return [
        image.model_copy(update={"name": f"{image.name}-{image.sha256[:8]}"})
        if stems.count(image.name) > 1
        else image
        for image in images
    ]


class GenerationSpec(BaseModel):
    """One output to make from an image: a person replacement or a background edit."""

    model_config = ConfigDict(frozen=True)

    kind: JobKind = Field(description="person or background.")
    keyword: dict[str, str] = Field(default_factory=dict, description="The keyword pair.")
    person_id: int | None = Field(None, description="Person to replace (person outputs).")
    prompt: str = Field("", description="Free text: a background, or the new person.")
    options: dict[str, Any] = Field(default_factory=dict, description="Generation options.")

    @property
    def seed(self) -> int | None:
        """The seed in the options, if any."""
        seed = self.options.get("seed")
        return None if seed is None else int(seed)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def generation_identity(account_key: str, image_sha256: str, spec: GenerationSpec) -> str:
    """What makes two generations the same paid output (never the image id, which changes
    on re-upload)."""
    payload = _canonical([account_key, image_sha256, spec.model_dump(mode="json")])
    return hashlib.sha256(payload.encode()).hexdigest()


def derive_seed(
    image_sha256: str, kind: str, person_id: int | None, keyword: Mapping[str, str]
) -> int:
    """A reproducible seed for an output whose seed the user did not choose."""
    digest = hashlib.sha256(_canonical([image_sha256, kind, person_id, keyword]).encode())
    return int.from_bytes(digest.digest()[:4], "big") % 1_000_000


class GenerationResult(BaseModel):
    """A finished generation: its job and its result link."""

    model_config = ConfigDict(frozen=True)

    identity: str = Field(description="generation_identity() of the output.")
    image: UploadedImage = Field(description="The image it was made from.")
    spec: GenerationSpec = Field(description="What was asked.")
    job: GenerationJob = Field(description="The job as started.")
    link: str = Field(description="Download URL of the result.")
    seconds: float = Field(description="Seconds from start to notification.")
    paid_again: list[str] = Field(
        default_factory=list,
        description="Why the output was started (and paid) once more in this run, if it was.",
    )


class OutputRecord(BaseModel):
    """One delivered output, as listed in ``manifest.json``."""

    path: str = Field(description="Where the image was written.")
    id_image: str = Field(description="PiktID image id it was made from.")
    image: str = Field(description="Source image name.")
    image_sha256: str = Field("", description="Content hash of the source image.")
    kind: JobKind = Field(description="person or background.")
    person: int | None = Field(description="Replaced person, or null for backgrounds.")
    keyword: dict[str, str] = Field(description="The keyword pair.")
    seed: int | None = Field(description="The seed used.")
    link: str = Field(description="The result link.")
    seconds: float = Field(description="Seconds from start to notification.")
    sha256: str = Field(description="Content hash of the written file.")
    paid_again: list[str] = Field(
        default_factory=list,
        description="Why the output was started (and paid) once more in its run, if it was.",
    )
    # A listing of the source names each object with a change token; recording the pair
    # lets a scheduled run recognise this image without downloading it (issue 22).
    source_key: str = Field(
        "", description="Source object and its change token, '<name>#<token>' (may be empty)."
    )
    chain: list[StepRecord] = Field(
        default_factory=list, description="The steps chained after it (RunSettings.then)."
    )


def output_filename(image_name: str, spec: GenerationSpec, suffix: str = ".jpg") -> str:
    """Deterministic: ``<stem>_p<person>_<keyword>_s<seed><suffix>`` (``bg`` for backgrounds).

    A prompt adds ``prompt-<hash>`` (after the keyword, if any), so outputs that differ
    only by their prompt never overwrite each other.
    """
    who = f"p{spec.person_id}" if spec.kind == "person" else "bg"
    parts = [keyword_slug(spec.keyword)] if spec.keyword else []
    if spec.prompt.strip() or not parts:
        parts.append("prompt-" + hashlib.sha256(spec.prompt.encode()).hexdigest()[:8])
    seed = "random" if spec.seed is None else str(spec.seed)
    return f"{image_name}_{who}_{'-'.join(parts)}_s{seed}{suffix}"


class RejectedImage(BaseModel):
    """A source image a run skipped: unreadable, or no person to replace."""

    image: str = Field(description="File name or stem of the image.")
    sha256: str = Field(description="Content hash: the same bytes are not tried again.")
    reason: str = Field(description="Why it was skipped.")
    source_key: str = Field(
        "", description="Source object and its change token, '<name>#<token>' (may be empty)."
    )


class Manifest(BaseModel):
    """``manifest.json``: every output of a run, and the images it had to skip."""

    outputs: list[OutputRecord] = Field(default_factory=list, description="Delivered outputs.")
    credits: CreditSummary | None = Field(None, description="What the last run spent.")
    rejected: dict[str, RejectedImage] = Field(
        default_factory=dict,
        description="Skipped images by content hash (a changed file has a new hash: retried).",
    )

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``folder/manifest.json`` atomically and return its path."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "manifest.json"
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".manifest-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.model_dump(mode="json"), handle, indent=2)
        os.replace(tmp, target)
        return target

    @classmethod
    def merged(
        cls,
        folder: str | os.PathLike[str],
        records: Sequence[OutputRecord],
        rejected: Sequence[RejectedImage] = (),
    ) -> Manifest:
        """The manifest already in ``folder`` with ``records`` added or replaced by path,
        and ``rejected`` images added (an image with outputs is no longer rejected)."""
        existing = Path(folder) / "manifest.json"
        earlier = cls()
        if existing.exists():
            with contextlib.suppress(ValueError):
                earlier = cls.model_validate_json(existing.read_text())
        by_path = {record.path: record for record in earlier.outputs}
        by_path.update((record.path, record) for record in records)
        skipped = {**earlier.rejected, **{r.sha256: r for r in rejected}}
        # An image that now has outputs (the same bytes, or its file fixed) is not rejected.
        made = {(r.image_sha256, r.image) for r in by_path.values()}
        hashes, names = {h for h, _ in made}, {n for _, n in made}
        skipped = {h: r for h, r in skipped.items() if h not in hashes and r.image not in names}
        return cls(outputs=sorted(by_path.values(), key=lambda r: r.path), rejected=skipped)
