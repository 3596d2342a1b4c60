"""SuperID (the upscaler) written once, as pure builders and parsers like ``_endpoints``.

The start is checked before anything is paid: the scale factor (x2 or x4), the output
format, every option's range, and, when the input size is known, the limits PiktID's own
client enforces (shortest side at least 64 px, upscaled longest side at most 8192 px).
Scale factors travel as text (``"2"``), as PiktID's client sends them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from piktid_prefect.wire._endpoints import model_parser, start_spec
from piktid_prefect.wire._spec import RequestSpec
from piktid_prefect.wire.errors import InvalidInput, InvalidOptions, UnsupportedImage
from piktid_prefect.wire.images import ImagePayload
from piktid_prefect.wire.models_chain import (
    MAX_UPSCALED_SIDE,
    MIN_UPSCALE_SIDE,
    SCALE_FACTORS,
    UPSCALE_BODY_FIELDS,
    UPSCALE_FAST_BODY_FIELDS,
    OutputFormat,
    UpscaleEstimate,
    UpscaleJob,
    UpscaleOptions,
    UpscaleUpload,
)

__all__ = [
    "check_scale_factor",
    "check_upscale_size",
    "start_upscale",
    "superid_info",
    "upscale_upload",
]

_parse_upload = model_parser(UpscaleUpload, "/superid/upload answer (no id_project/id_image)")
_parse_info = model_parser(UpscaleEstimate, "/superid_info answer")
# What PiktID's newest client sends to /superid_info besides the ids and the scale factor.
_INFO_DEFAULTS = {"upscaling_mode": "normal", "strength": "0.35", "num_inference_steps": 20}


def check_scale_factor(scale_factor: int) -> int:
    """``scale_factor`` if it is 2 or 4, else :class:`InvalidOptions`."""
    if isinstance(scale_factor, bool) or scale_factor not in SCALE_FACTORS:
        raise InvalidOptions(f"scale_factor must be 2 or 4, got {scale_factor!r}")
    return int(scale_factor)


def check_upscale_size(width: int, height: int, scale_factor: int) -> None:
    """Refuse, before paying, a size PiktID's own client refuses."""
    if min(width, height) < MIN_UPSCALE_SIDE:
        raise UnsupportedImage(
            f"The image is {width}x{height}; SuperID needs at least {MIN_UPSCALE_SIDE} px "
            "on the shortest side"
        )
    if max(width, height) * scale_factor > MAX_UPSCALED_SIDE:
        raise UnsupportedImage(
            f"The image is {width}x{height}; x{scale_factor} would exceed SuperID's "
            f"{MAX_UPSCALED_SIDE} px limit on the longest side (try x2, or a smaller image)"
        )


def _check_ids(project_id: str, image_id: str) -> None:
    for name, value in (("project_id", project_id), ("image_id", image_id)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"{name} must be a non-empty string, got {value!r}")


def _output_format(value: str) -> OutputFormat:
    text = value.upper() if isinstance(value, str) else ""
    text = "JPEG" if text == "JPG" else text
    if text == "PNG":
        return "PNG"
    if text == "JPEG":
        return "JPEG"
    raise InvalidOptions(f"output_format must be PNG or JPEG, got {value!r}")


def upscale_upload(image: ImagePayload) -> RequestSpec[UpscaleUpload]:
    """``POST /superid/upload``: multipart ``file`` -> ``{id_project, id_image}``."""

    def parse(
        response: httpx.Response, spec: RequestSpec[Any], secrets: Sequence[str]
    ) -> UpscaleUpload:
        upload = _parse_upload(response, spec, secrets)
        size = {"width": image.width, "height": image.height} if image.width else {}
        return upload.model_copy(update=size)

    return RequestSpec(
        "POST",
        "/superid/upload",
        parse,
        timeout="upload",
        files={"file": (image.filename, image.data, image.content_type)},
    )


def superid_info(project_id: str, image_id: str, scale_factor: int) -> RequestSpec[UpscaleEstimate]:
    """``GET /superid_info`` with a JSON body (as PiktID's client sends it): time and price."""
    _check_ids(project_id, image_id)
    body = {
        "id_project": project_id,
        "id_image": image_id,
        "scale_factor": str(check_scale_factor(scale_factor)),
        **_INFO_DEFAULTS,
    }
    return RequestSpec("GET", "/superid_info", _parse_info, json=body, image_id=image_id)


def start_upscale(
    upload: UpscaleUpload,
    scale_factor: int,
    *,
    fast: bool,
    output_format: str,
    prompt: str | None,
    options: UpscaleOptions | Mapping[str, Any] | None,
) -> RequestSpec[UpscaleJob]:
    """``POST /superid/v2`` (or ``/superid_fast``): a paid start, never sent twice."""
    _check_ids(upload.project_id, upload.image_id)
    scale = check_scale_factor(scale_factor)
    fmt = _output_format(output_format)
    if upload.width and upload.height:
        check_upscale_size(upload.width, upload.height, scale)
    settings: UpscaleOptions = UpscaleOptions.coerce(options)
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidOptions(f"A prompt must be text, got {type(prompt).__name__}")
    text = (prompt or "").strip()
    values = settings.model_dump(exclude_none=True)
    top_level = UPSCALE_FAST_BODY_FIELDS if fast else UPSCALE_BODY_FIELDS
    if fast:
        refused = sorted(set(values) & (set(UPSCALE_BODY_FIELDS) - set(top_level)))
        if refused or text:
            named = ", ".join(refused + (["prompt"] if text else []))
            raise InvalidOptions(f"The fast upscaler takes no {named}; use fast=False")
    body: dict[str, Any] = {
        "id_project": upload.project_id,
        "id_image": upload.image_id,
        "scale_factor": str(scale),
        "flag_email": False,
        "output_format": fmt,
    }
    body.update({name: values.pop(name) for name in top_level if name in values})
    if text:
        body["prompt"] = text
    body["options"] = json.dumps(values, sort_keys=True)
    job = UpscaleJob(
        project_id=upload.project_id,
        image_id=upload.image_id,
        scale_factor=scale,
        fast=fast,
        output_format=fmt,
        prompt=text,
        seed=settings.seed,
        started_at=time.time(),
    )
    return start_spec("/superid_fast" if fast else "/superid/v2", body, job)
