"""The SuperID routes: upload, the price and time estimate, and the two upscalers.

``/superid_info`` answers the input's size and what the upscale will cost; the start
charges exactly that (a fraction of a credit for x2) and ends in a ``superid``
notification whose ``data.link`` is one link object. The size limits PiktID's own client
enforces (shortest side >= 64 px, upscaled longest side <= 8192 px) are refused here with
400 before any charge: the real service's answer to them is not known.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from piktid_prefect.emulator.bodies import read_fields
from piktid_prefect.emulator.engine import EmulatorEngine
from piktid_prefect.emulator.intake import decoded_upload
from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.emulator.starts import request_options, start_generation
from piktid_prefect.emulator.state import ImageRecord
from piktid_prefect.wire.models_chain import (
    MAX_UPSCALED_SIDE,
    MIN_UPSCALE_SIDE,
    UPSCALE_BODY_FIELDS,
    UPSCALE_FAST_BODY_FIELDS,
    UpscaleOptions,
)

__all__ = ["SuperidRoutes"]


class SuperidRoutes:
    """Handlers of the SuperID endpoints, bound to one engine."""

    def __init__(self, engine: EmulatorEngine) -> None:
        self.engine = engine

    def _email(self, request: Request) -> str:
        return self.engine.accounts.authenticate(request.headers.get("authorization"))

    async def upload(self, request: Request) -> JSONResponse:
        """``POST /superid/upload``: multipart ``file`` -> ``{id_project, id_image}``."""
        email = self._email(request)
        fields = await read_fields(request)
        _, pixels = await decoded_upload(fields, self.engine.config, ("file",), allow_url=False)
        record = self.engine.store.add_image(email, pixels, [], [], with_project=True)
        return JSONResponse({"id_project": record.project_id, "id_image": record.id})

    async def info(self, request: Request) -> JSONResponse:
        """``GET /superid_info`` (a JSON body): ``{eta, required_credits, width, height}``."""
        email = self._email(request)
        fields = await read_fields(request)
        image = self._image(email, fields)
        scale = _scale_factor(fields.get("scale_factor"))
        height, width = image.pixels.shape[:2]
        fast = fields.get("upscaling_mode") == "fast"
        return JSONResponse(
            {
                "eta": self._seconds(fast),
                "required_credits": self._price(scale),
                "width": width,
                "height": height,
            }
        )

    async def upscale(self, request: Request) -> JSONResponse:
        """``POST /superid/v2``: settings at top level, flags in ``options``."""
        return await self._start(request, fast=False)

    async def upscale_fast(self, request: Request) -> JSONResponse:
        """``POST /superid_fast``: seed at top level, flags in ``options``."""
        return await self._start(request, fast=True)

    async def _start(self, request: Request, *, fast: bool) -> JSONResponse:
        email = self._email(request)
        fields = await read_fields(request)
        image = self._image(email, fields)
        scale = _scale_factor(fields.get("scale_factor"))
        output_format = _output_format(fields.get("output_format"))
        _check_size(image, scale)
        names = UPSCALE_FAST_BODY_FIELDS if fast else UPSCALE_BODY_FIELDS
        flags = request_options(self.engine, request, email, fields.get("options"), UpscaleOptions)
        top = {name: fields[name] for name in names if fields.get(name) is not None}
        settings = request_options(self.engine, request, email, json.dumps(top), UpscaleOptions)
        prompt = "" if fast else str(fields.get("prompt") or "")
        generation = start_generation(
            self.engine,
            request,
            email,
            kind="upscale",
            image=image,
            credits=self._price(scale),
            keyword_json=json.dumps({"scale_factor": scale, "fast": fast}),
            prompt=prompt,
            options={**flags, **settings},
            duration_seconds=self._seconds(fast),
            payload={"scale_factor": scale, "output_format": output_format},
        )
        return JSONResponse(
            {
                "status": "started",
                "id_project": image.project_id,
                "id_image": image.id,
                "seed": generation.seed,
                "eta": self._seconds(fast),
            }
        )

    def _image(self, email: str, fields: dict[str, Any]) -> ImageRecord:
        image = self.engine.store.image(email, str(fields.get("id_image", "")))
        if image.project_id is None or str(fields.get("id_project", "")) != image.project_id:
            raise ApiError(405, "Unknown id_project for this image: upload it to /superid/upload")
        return image

    def _price(self, scale: int) -> float:
        config = self.engine.config
        return config.upscale_credits_x2 if scale == 2 else config.upscale_credits_x4

    def _seconds(self, fast: bool) -> float:
        config = self.engine.config
        return config.upscale_fast_seconds if fast else config.upscale_seconds


def _scale_factor(value: Any) -> int:
    # PiktID's client sends it as text ("2"); a number is accepted too.
    text = str(value).strip() if value is not None and not isinstance(value, bool) else ""
    if text not in ("2", "4"):
        raise ApiError(400, f"'scale_factor' must be 2 or 4, got {value!r}")
    return int(text)


def _output_format(value: Any) -> str:
    text = "PNG" if value in (None, "") else str(value).upper()
    if text not in ("PNG", "JPEG"):
        raise ApiError(400, f"'output_format' must be PNG or JPEG, got {value!r}")
    return text


def _check_size(image: ImageRecord, scale: int) -> None:
    height, width = image.pixels.shape[:2]
    if min(width, height) < MIN_UPSCALE_SIDE:
        raise ApiError(400, f"The image is {width}x{height}: the shortest side is under 64 px")
    if max(width, height) * scale > MAX_UPSCALED_SIDE:
        raise ApiError(
            400, f"The image is {width}x{height}: x{scale} exceeds {MAX_UPSCALED_SIDE} px"
        )
