"""Consistent identities (the face swap) written once, as pure builders and parsers.

An identity is a face uploaded once under a name (``upload_face``); a target is the picture
whose face it replaces (``upload_target``, with face detection); ``generate`` is the paid
start. Results arrive as ``download`` notifications, read and deleted through the
product's own notification endpoints (PiktID's newest swapid client also finds them through
the general ones: both work, see ``docs/chain-api.md``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from piktid_prefect.wire import _status as status
from piktid_prefect.wire._endpoints import model_parser, start_spec
from piktid_prefect.wire._spec import RequestSpec
from piktid_prefect.wire.errors import InvalidInput, InvalidKeyword, InvalidPerson
from piktid_prefect.wire.images import ImagePayload
from piktid_prefect.wire.models_chain import (
    IdentitySwapJob,
    IdentitySwapOptions,
    IdentityTarget,
    IdentityTargetOptions,
)

__all__ = [
    "IDENTITY_DELETE_PATH",
    "IDENTITY_NOTIFICATIONS_PATH",
    "start_identity_swap",
    "upload_face",
    "upload_identity_target",
]

IDENTITY_NOTIFICATIONS_PATH = "/consistent_identities/notification/read"
IDENTITY_DELETE_PATH = "/consistent_identities/notification/delete"
_parse_target = model_parser(IdentityTarget, "/consistent_identities/upload_target answer")


def _parse_identity_name(
    response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
) -> str:
    status.check(response, spec, secrets)
    name = status.json_object(response, spec).get("identity_name")
    if not name:
        raise status.malformed(response, spec, "the upload_face answer has no identity_name")
    return str(name)


def _check_identity_name(name: str | None, *, required: bool) -> str | None:
    if name is None and not required:
        return None
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"identity_name must be a non-empty string, got {name!r}")
    return name


def upload_face(image: ImagePayload, identity_name: str | None) -> RequestSpec[str]:
    """``POST /consistent_identities/upload_face``: multipart ``file`` (+ form
    ``identity_name``) -> ``identity_name`` (the server names it when none is given)."""
    name = _check_identity_name(identity_name, required=False)
    return RequestSpec(
        "POST",
        "/consistent_identities/upload_face",
        _parse_identity_name,
        timeout="upload",
        data=None if name is None else {"identity_name": name},
        files={"file": (image.filename, image.data, image.content_type)},
    )


def upload_identity_target(
    image: ImagePayload, options: IdentityTargetOptions | Mapping[str, Any] | None
) -> RequestSpec[IdentityTarget]:
    """``POST /consistent_identities/upload_target``: multipart ``file`` + ``options``."""
    wire_options = IdentityTargetOptions.coerce(options).to_wire()
    return RequestSpec(
        "POST",
        "/consistent_identities/upload_target",
        _parse_target,
        timeout="upload",
        data={"options": wire_options},
        files={"file": (image.filename, image.data, image.content_type)},
    )


def start_identity_swap(
    image_id: str,
    face_id: int,
    identity_name: str,
    options: IdentitySwapOptions | Mapping[str, Any] | None,
    prompt: str | None,
) -> RequestSpec[IdentitySwapJob]:
    """``POST /consistent_identities/generate``: a paid start, never sent twice.

    A prompt travels with ``description_type: "txt"``, as PiktID's older swapid client
    sends it (the newest sends none).
    """
    if not isinstance(image_id, str) or not image_id.strip():
        raise InvalidInput(f"image_id must be a non-empty string, got {image_id!r}")
    if isinstance(face_id, bool) or not isinstance(face_id, int) or face_id < 0:
        raise InvalidPerson(f"face_id must be an int >= 0, got {face_id!r}")
    name = _check_identity_name(identity_name, required=True)
    assert name is not None
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidKeyword(f"A prompt must be text, got {type(prompt).__name__}")
    text = (prompt or "").strip()
    swap_options: IdentitySwapOptions = IdentitySwapOptions.coerce(options)
    body: dict[str, Any] = {
        "id_image": image_id,
        "id_face": face_id,
        "identity_name": name,
        "options": swap_options.to_wire(),
    }
    if text:
        body.update({"prompt": text, "description_type": "txt"})
    job = IdentitySwapJob(
        image_id=image_id,
        face_id=face_id,
        identity_name=name,
        prompt=text,
        seed=swap_options.seed,
        started_at=time.time(),
    )
    return start_spec("/consistent_identities/generate", body, job)
