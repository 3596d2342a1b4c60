"""Typed forms of what travels on the PiktID wire (pydantic v2).

The same models are used by the client (to build requests and parse answers) and by
the emulator (to agree on the format), so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from piktid_prefect.wire._options import check_unknown_options
from piktid_prefect.wire.errors import InvalidOptions

__all__ = [
    "NOTIFICATION_ERROR",
    "NOTIFICATION_FOR_KIND",
    "Account",
    "BackgroundOptions",
    "GenerationJob",
    "JobKind",
    "Notification",
    "Person",
    "PersonOptions",
    "ResultLink",
    "TokenPair",
    "UploadOptions",
    "UploadResult",
    "parse_wire_json",
]

JobKind = Literal["person", "background"]
NOTIFICATION_FOR_KIND: Mapping[str, str] = {
    "person": "edit_generate",
    "background": "edit_background",
}
NOTIFICATION_ERROR = "error"


def parse_wire_json(value: Any) -> Any:
    """``keyword``/``options`` travel as JSON-encoded strings; accept objects too."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        return json.loads(text)
    return value


class _WireModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class Person(_WireModel):
    """A person detected in an uploaded image; the box is in fractions of the image size."""

    id: int = Field(description="Person id (0-based), the `id_person` of generate calls.")
    approve: bool = Field(description="False when the face is too blurry to be replaced.")
    center_x: float = Field(0.0, alias="centerX", description="Box centre, fraction of width.")
    center_y: float = Field(0.0, alias="centerY", description="Box centre, fraction of height.")
    corner_x: float = Field(0.0, alias="cornerX", description="Box left edge, fraction of width.")
    corner_y: float = Field(0.0, alias="cornerY", description="Box top edge, fraction of height.")
    box_width: float = Field(0.0, alias="boxWidth", description="Box width, fraction of width.")
    box_height: float = Field(0.0, alias="boxHeight", description="Box height, fraction.")


class UploadResult(_WireModel):
    """The answer of ``POST /edit/target``."""

    image_id: str = Field(
        validation_alias=AliasChoices("id_image", "image_id"),
        description="Server id of the uploaded image (valid 24 h).",
    )
    num_persons: int = Field(0, description="Number of persons detected.")
    persons: tuple[Person, ...] = Field(
        (),
        validation_alias=AliasChoices("coordinates_list", "persons"),
        description="The detected persons.",
    )

    @property
    def approved_person_ids(self) -> list[int]:
        """Ids of the persons that can be replaced."""
        return [person.id for person in self.persons if person.approve]


class _OptionsModel(BaseModel):
    """Typed options are checked; options PiktID added since travel as given (see
    :mod:`piktid_prefect.wire._options`), e.g. ``PersonOptions(seed=3, ip_scale=1)``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="after")
    def _check_unknown(self) -> _OptionsModel:
        if self.model_extra:
            check_unknown_options(type(self).__name__, self.model_extra, type(self).model_fields)
        return self

    @classmethod
    def coerce(cls, value: Mapping[str, Any] | _OptionsModel | None) -> Any:
        """Build from a mapping, raising :class:`InvalidOptions` with the offending field."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            problems = "; ".join(_problem(err) for err in exc.errors())
            raise InvalidOptions(f"Invalid {cls.__name__}: {problems}") from None

    @property
    def unknown(self) -> dict[str, Any]:
        """The options this version does not type, sent to the API as given."""
        return dict(self.model_extra or {})

    def to_wire(self) -> str:
        """The JSON-encoded string the API expects in the ``options`` field."""
        return json.dumps(self.model_dump(exclude_none=True), sort_keys=True)


def _problem(err: Any) -> str:
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


class UploadOptions(_OptionsModel):
    """Flags of ``POST /edit/target``."""

    flag_detection: bool | None = Field(None, description="False skips people detection.")
    flag_background_removal: bool | None = Field(None, description="Remove the background.")
    flag_caption_extraction: bool | None = Field(None, description="Extract a caption.")


class PersonOptions(_OptionsModel):
    """Options of ``POST /edit/generate``."""

    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Same seed, same output.")
    strength: float | None = Field(None, ge=0.0, le=1.0, description="Similarity to the person.")
    var_strength: float | None = Field(None, ge=0.0, le=1.0, description="Creativity.")
    guidance_scale: float | None = Field(None, ge=1.0, le=20.0, description="Prompt guidance.")
    controlnet_scale: float | None = Field(None, ge=0.0, le=2.0, description="Pose resemblance.")
    reference_name: str | None = Field(None, description="A name from /edit/reference.")


class BackgroundOptions(_OptionsModel):
    """Options of ``POST /edit/background``."""

    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Same seed, same output.")
    strength: float | None = Field(None, ge=0.0, le=1.0, description="How much the prompt counts.")
    relight_strength: float | None = Field(
        None, ge=0.0, le=1.0, description="0 keeps the subject's light, 1 relights fully."
    )
    reference_name: str | None = Field(None, description="A name from /edit/reference.")
    use_refiner: bool | None = Field(None, description="Run the refiner pass.")


class ResultLink(_WireModel):
    """A result link object ``{l, n, t}``; ``l`` is the download URL."""

    l: str = Field(description="Download URL of the result.")  # noqa: E741 - the wire name
    n: str | None = Field(None, description="File name, when the server gives one.")
    t: str | None = Field(None, description="Undocumented (thumbnail or time).")

    @field_validator("n", "t", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @property
    def url(self) -> str:
        """The download URL."""
        return self.l


class Notification(_WireModel):
    """One entry of ``notifications_list``."""

    id: int = Field(description="Notification id, for /notification/delete_json.")
    name: str = Field(description="edit_generate, edit_background, error, ...")
    timestamp: float = Field(0.0, description="Creation time, epoch seconds.")
    data: dict[str, Any] = Field(default_factory=dict, description="Name-specific payload.")

    @property
    def image_id(self) -> str | None:
        """``data.address`` (the image id), if present."""
        address = self.data.get("address", self.data.get("id_image"))
        return None if address is None else str(address)

    @property
    def person_id(self) -> int | None:
        """``data.id_person`` as an int, if present."""
        value = self.data.get("id_person")
        try:
            return None if value is None else int(value)
        except (TypeError, ValueError):
            return None

    @property
    def keyword(self) -> dict[str, str] | None:
        """``data.keyword`` parsed (it may travel as a JSON string), if present."""
        raw = self.data.get("keyword")
        if raw in (None, ""):
            return None
        try:
            value = parse_wire_json(raw)
        except ValueError:
            return None
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None

    @property
    def links(self) -> list[ResultLink]:
        """``data.links`` parsed; empty when absent."""
        raw = self.data.get("links") or []
        if isinstance(raw, str):
            raw = parse_wire_json(raw)
        if isinstance(raw, dict):
            raw = [raw]
        return [ResultLink.model_validate(item) for item in raw]

    @property
    def result_link(self) -> ResultLink | None:
        """The result to download, whatever the product's shape of it.

        ``data.links[0]`` (edit), ``data.link`` as one object or URL (superid), or
        ``data.link_hd`` as a URL (consistent identities' ``download``); None if absent.
        """
        links = self.links
        if links:
            return links[0]
        for key in ("link", "link_hd"):
            raw = self.data.get(key)
            if isinstance(raw, str) and raw:
                return ResultLink(l=raw)
            if isinstance(raw, dict) and raw.get("l"):
                return ResultLink.model_validate(raw)
        return None


def _same_keyword(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    # The wire accepts "location" and "Location" alike.
    return {k.lower(): v for k, v in a.items()} == {k.lower(): v for k, v in b.items()}


class GenerationJob(_WireModel):
    """A started generation: what identifies it, and whether its start was confirmed."""

    kind: JobKind = Field(description="person (edit_generate) or background (edit_background).")
    image_id: str = Field(description="The uploaded image.")
    person_id: int | None = Field(None, description="The replaced person (person jobs).")
    keyword: dict[str, str] = Field(default_factory=dict, description="The keyword pair.")
    prompt: str = Field("", description="Free-text prompt, if any.")
    seed: int | None = Field(None, description="The seed sent, if any.")
    started_at: float = Field(0.0, description="Epoch seconds when the start was sent.")
    confirmed: bool = Field(
        True, description="False when the start was sent but its answer was lost."
    )

    @property
    def notification_name(self) -> str:
        """The notification name that completes this job."""
        return NOTIFICATION_FOR_KIND[self.kind]

    @property
    def label(self) -> str:
        """A short human-readable identity for logs and errors."""
        parts = [f"{self.kind} image={self.image_id}"]
        if self.person_id is not None:
            parts.append(f"person={self.person_id}")
        parts.extend(f"{k}={v}" for k, v in self.keyword.items())
        if self.prompt.strip():
            text = " ".join(self.prompt.split())
            parts.append(f"prompt={text if len(text) <= 40 else text[:39] + '…'!r}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return " ".join(parts)

    def matches(self, notification: Notification) -> bool:
        """Whether ``notification`` (a result or an ``error``) belongs to this job.

        A field the notification does not carry cannot rule it out: the real API's
        ``edit_background`` data may carry only ``address`` and ``links``. A prompt rules
        it out only when both sides have a non-blank one (two prompts for one person
        would otherwise be indistinguishable).
        """
        if notification.name not in (self.notification_name, NOTIFICATION_ERROR):
            return False
        if notification.image_id != self.image_id:
            return False
        if self.kind == "person" and notification.person_id not in (None, self.person_id):
            return False
        seen_prompt = notification.data.get("prompt")
        if (
            isinstance(seen_prompt, str)
            and seen_prompt.strip()
            and self.prompt.strip()
            and seen_prompt.strip() != self.prompt.strip()
        ):
            return False
        seen = notification.keyword
        return seen is None or not self.keyword or _same_keyword(seen, self.keyword)


class TokenPair(BaseModel):
    """The answer of ``POST /tokens`` and ``PUT /tokens``."""

    model_config = ConfigDict(extra="ignore")

    access_token: SecretStr = Field(description="Bearer token.")
    refresh_token: SecretStr | None = Field(None, description="One-time refresh token.")
    access_expiration: str | None = Field(None, description="ISO-8601 expiry of the access.")
    refresh_expiration: str | None = Field(None, description="ISO-8601 expiry of the refresh.")


class Account(BaseModel):
    """The answer of ``GET /me`` (only the fields we rely on are typed)."""

    model_config = ConfigDict(extra="allow")

    email: str | None = Field(None, description="Account e-mail.")
    username: str | None = Field(None, description="Account user name.")
    credits: float = Field(0, description="Remaining credits.")
