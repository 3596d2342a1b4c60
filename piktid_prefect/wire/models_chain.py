"""Typed forms of the two products a result is chained into: SuperID and consistent identities.

SuperID upscales an image x2 or x4 (``/superid/upload``, ``/superid_info``, ``/superid/v2``,
``/superid_fast``; done when a ``superid`` notification carries ``data.link``). Consistent
identities swap an uploaded face onto a face of a target image
(``/consistent_identities/upload_face``, ``upload_target``, ``generate``; done when a
``download`` notification carries ``data.link_hd``). Where each field comes from, and which
version of PiktID's clients it follows, is in ``docs/chain-api.md``.

Shared with the emulator, like :mod:`piktid_prefect.wire.models`, so the two agree.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from piktid_prefect.wire.models import (
    NOTIFICATION_ERROR,
    GenerationJob,
    Notification,
    _OptionsModel,
    _WireModel,
)

__all__ = [
    "MAX_UPSCALED_SIDE",
    "MIN_UPSCALE_SIDE",
    "NOTIFICATION_IDENTITY_SWAP",
    "NOTIFICATION_UPSCALE",
    "SCALE_FACTORS",
    "UPSCALE_BODY_FIELDS",
    "UPSCALE_FAST_BODY_FIELDS",
    "IdentityFace",
    "IdentitySwapJob",
    "IdentitySwapOptions",
    "IdentityTarget",
    "IdentityTargetOptions",
    "OutputFormat",
    "StartedJob",
    "UpscaleEstimate",
    "UpscaleJob",
    "UpscaleOptions",
    "UpscaleUpload",
]

NOTIFICATION_UPSCALE = "superid"
NOTIFICATION_IDENTITY_SWAP = "download"
SCALE_FACTORS = (2, 4)
OutputFormat = Literal["PNG", "JPEG"]
# PiktID's superid client refuses these before paying (superid_utils.process_single_image).
MIN_UPSCALE_SIDE = 64
MAX_UPSCALED_SIDE = 8192


class UpscaleUpload(_WireModel):
    """The answer of ``POST /superid/upload``, plus the size when this client read the image."""

    project_id: str = Field(
        validation_alias=AliasChoices("id_project", "project_id"),
        description="The SuperID project the image belongs to.",
    )
    image_id: str = Field(
        validation_alias=AliasChoices("id_image", "image_id"),
        description="Server id of the uploaded image.",
    )
    width: int | None = Field(None, description="Pixels, when known before the upload.")
    height: int | None = Field(None, description="Pixels, when known before the upload.")


class UpscaleEstimate(_WireModel):
    """The answer of ``GET /superid_info``: time and price of an upscale, before paying.

    ``width``/``height`` are the *input* size (PiktID's client multiplies them by the scale
    factor to check the output size); :meth:`output_size` does that multiplication.
    """

    eta_seconds: float = Field(
        0.0, validation_alias=AliasChoices("eta", "eta_seconds"), description="Expected time."
    )
    required_credits: float = Field(description="Credits the upscale costs (may be fractional).")
    width: int = Field(description="Input width in pixels.")
    height: int = Field(description="Input height in pixels.")

    def output_size(self, scale_factor: int) -> tuple[int, int]:
        """``(width, height)`` of the upscaled image."""
        return self.width * scale_factor, self.height * scale_factor


class UpscaleOptions(_OptionsModel):
    """Settings of ``POST /superid/v2`` (ranges from PiktID's ``superid/main.py``).

    ``fractality``, ``creativity``, ``fidelity``, ``denoise``, ``face_enhancer`` and
    ``seed`` travel as top-level body fields; ``force_fixer``, ``image_filters_flag``,
    ``match_colors_flag`` and options this version does not know travel inside the
    JSON-encoded ``options`` string. The fast upscaler takes only ``seed`` and the flags.
    """

    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Same seed, same output.")
    fractality: int | None = Field(None, ge=1, le=20, description="Adherence to the prompt.")
    creativity: int | None = Field(None, ge=1, le=20, description="Freedom from the input.")
    fidelity: int | None = Field(None, ge=0, le=20, description="Resemblance to the input.")
    denoise: int | None = Field(None, ge=0, le=20, description="Denoise filter amount.")
    face_enhancer: bool | None = Field(None, description="Enhance small faces.")
    force_fixer: bool | None = Field(None, description="Force the face enhancer.")
    image_filters_flag: bool | None = Field(None, description="Apply image filters.")
    match_colors_flag: bool | None = Field(None, description="Match the input's colours.")


# Which UpscaleOptions fields are top-level body fields; the others go in ``options``.
UPSCALE_BODY_FIELDS = ("seed", "fractality", "creativity", "fidelity", "denoise", "face_enhancer")
UPSCALE_FAST_BODY_FIELDS = ("seed",)


class IdentityTargetOptions(_OptionsModel):
    """Options of ``POST /consistent_identities/upload_target``."""

    flag_hair: bool | None = Field(None, description="Prepare a head swap (hair included).")


class IdentityFace(_WireModel):
    """A face found in an identity target; the box is in fractions of the image size."""

    id: int = Field(description="Face index, the ``id_face`` of the swap.")
    approved: bool = Field(True, description="False when the face cannot be swapped.")
    center_x: float | None = Field(None, alias="centerX", description="Box centre, fraction.")
    center_y: float | None = Field(None, alias="centerY", description="Box centre, fraction.")
    box_width: float | None = Field(None, alias="boxWidth", description="Box width, fraction.")
    box_height: float | None = Field(None, alias="boxHeight", description="Box height.")


class IdentityTarget(_WireModel):
    """The answer of ``POST /consistent_identities/upload_target``.

    On the wire the faces are ``faces.coordinates_list`` and ``faces.approved_faces`` (one
    ``1``/``0`` per face; older answers carry only ``selected_faces``).
    """

    image_id: str = Field(
        validation_alias=AliasChoices("image_id", "id_image"),
        description="Server id of the target image.",
    )
    faces: tuple[IdentityFace, ...] = Field((), description="The faces found, in index order.")

    @model_validator(mode="before")
    @classmethod
    def _flatten_faces(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("faces"), dict):
            return value
        faces = value["faces"]
        boxes = faces.get("coordinates_list") or []
        flags = faces.get("approved_faces", faces.get("selected_faces"))
        parsed = []
        for index, box in enumerate(boxes if isinstance(boxes, list) else []):
            entry = dict(box) if isinstance(box, dict) else {}
            entry.setdefault("id", index)
            if isinstance(flags, list) and index < len(flags):
                entry["approved"] = flags[index] in (1, True, "1")
            elif "approve" in entry:
                entry["approved"] = bool(entry["approve"])
            parsed.append(entry)
        return {**value, "faces": parsed}

    @property
    def approved_face_ids(self) -> list[int]:
        """Ids of the faces that can be swapped."""
        return [face.id for face in self.faces if face.approved]


class IdentitySwapOptions(_OptionsModel):
    """Options of ``POST /consistent_identities/generate``.

    ``flag_replace_and_download`` is sent as True unless set: PiktID's swapid client always
    sends it so, and the result arrives as a ``download`` notification. Without it (the
    eraseid client) a ``new_generation`` notification follows, to be picked with
    ``/pick_face2``: a flow this package does not speak.
    """

    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Same seed, same output.")
    prompt_strength: float | None = Field(
        None, ge=0.0, le=1.0, description="Similarity with the identity's face."
    )
    transfer_hair: bool | None = Field(None, description="Swap the hair too (a head swap).")
    flag_replace_and_download: bool = Field(True, description="Post the result for download.")


def _not_ruled_out(notification: Notification, key: str, expected: object) -> bool:
    # A field the notification does not carry cannot rule it out.
    seen = notification.data.get(key)
    return seen is None or str(seen) == str(expected)


class UpscaleJob(_WireModel):
    """A started upscale: what identifies it, and whether its start was confirmed."""

    project_id: str = Field(description="The SuperID project.")
    image_id: str = Field(description="The uploaded image.")
    scale_factor: int = Field(description="2 or 4.")
    fast: bool = Field(False, description="Sent to /superid_fast rather than /superid/v2.")
    output_format: OutputFormat = Field("PNG", description="PNG or JPEG.")
    prompt: str = Field("", description="Free-text description, if any.")
    seed: int | None = Field(None, description="The seed sent, if any.")
    started_at: float = Field(0.0, description="Epoch seconds when the start was sent.")
    confirmed: bool = Field(True, description="False when the answer to the start was lost.")

    @property
    def notification_name(self) -> str:
        """The notification name that completes this job."""
        return NOTIFICATION_UPSCALE

    @property
    def label(self) -> str:
        """A short human-readable identity for logs and errors."""
        mode = " fast" if self.fast else ""
        seed = "" if self.seed is None else f" seed={self.seed}"
        return f"upscale x{self.scale_factor}{mode} image={self.image_id}{seed}"

    def matches(self, notification: Notification) -> bool:
        """Whether ``notification`` (a ``superid`` result or an ``error``) is this job's."""
        if notification.name not in (NOTIFICATION_UPSCALE, NOTIFICATION_ERROR):
            return False
        if notification.image_id != self.image_id:
            return False
        return _not_ruled_out(notification, "id_project", self.project_id)


class IdentitySwapJob(_WireModel):
    """A started identity swap: what identifies it, and whether its start was confirmed."""

    image_id: str = Field(description="The target image.")
    face_id: int = Field(description="The face of the target that is replaced.")
    identity_name: str = Field(description="The uploaded identity placed on it.")
    prompt: str = Field("", description="Free-text description, if any.")
    seed: int | None = Field(None, description="The seed sent, if any.")
    started_at: float = Field(0.0, description="Epoch seconds when the start was sent.")
    confirmed: bool = Field(True, description="False when the answer to the start was lost.")

    @property
    def notification_name(self) -> str:
        """The notification name that completes this job."""
        return NOTIFICATION_IDENTITY_SWAP

    @property
    def label(self) -> str:
        """A short human-readable identity for logs and errors (the name is the user's)."""
        seed = "" if self.seed is None else f" seed={self.seed}"
        return f"identity swap image={self.image_id} face={self.face_id}{seed}"

    def matches(self, notification: Notification) -> bool:
        """Whether ``notification`` (a ``download`` result or an ``error``) is this job's.

        PiktID's newest swapid client matches on ``data.id_image`` only; an older one also
        on ``data.f`` (the face), which is checked here when present.
        """
        if notification.name not in (NOTIFICATION_IDENTITY_SWAP, NOTIFICATION_ERROR):
            return False
        if notification.image_id != self.image_id:
            return False
        return _not_ruled_out(notification, "f", self.face_id)


StartedJob = GenerationJob | UpscaleJob | IdentitySwapJob
"""Any paid start: what a lost answer's GenerationStartUnconfirmed carries."""
