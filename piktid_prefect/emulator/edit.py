"""The ``/edit/*`` routes: uploads (with face detection) and generation starts."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse

from piktid_prefect.emulator.bodies import (
    read_fields,
    unknown_options,
    wire_int,
    wire_object,
    wire_options,
)
from piktid_prefect.emulator.detect import ImageRejected, decode_image, detect_faces
from piktid_prefect.emulator.engine import EmulatorEngine
from piktid_prefect.emulator.faults import api_path
from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.emulator.state import ImageRecord
from piktid_prefect.wire.errors import InvalidKeyword
from piktid_prefect.wire.keywords import validate_background_keyword, validate_person_keyword
from piktid_prefect.wire.models import BackgroundOptions, PersonOptions, UploadOptions

__all__ = ["EditRoutes"]

_URL_FETCH_TIMEOUT_SECONDS = 10.0


class EditRoutes:
    """Handlers of the edit endpoints, bound to one engine."""

    def __init__(self, engine: EmulatorEngine) -> None:
        self.engine = engine

    def _email(self, request: Request) -> str:
        return self.engine.accounts.authenticate(request.headers.get("authorization"))

    async def upload_target(self, request: Request) -> JSONResponse:
        """``POST /edit/target``: multipart ``file`` or form ``url``, plus ``options``."""
        email = self._email(request)
        fields = await read_fields(request)
        options = self._options(request, email, fields, UploadOptions)
        data = await self._image_bytes(fields, "file", allow_url=True)
        config = self.engine.config
        clock = self.engine.clock
        # Decoding and detection are part of the upload's modelled latency, not extra.
        began = clock.now()
        pixels = await run_in_threadpool(_decode, data, config.max_image_pixels)
        faces = []
        if options.get("flag_detection", True) is not False:
            faces = await run_in_threadpool(detect_faces, pixels)
        if len(faces) > config.max_persons:
            raise ApiError(
                400,
                f"The image contains more than {config.max_persons} persons "
                f"({len(faces)} detected)",
            )
        height, width = pixels.shape[:2]
        persons = [
            face.as_wire(i, width, height, config.blur_threshold) for i, face in enumerate(faces)
        ]
        record = self.engine.store.add_image(email, pixels, faces, persons)
        remaining = config.upload_seconds - (clock.now() - began)
        if remaining > 0:
            await asyncio.sleep(clock.real_seconds(remaining))
        return JSONResponse(
            {
                "id_image": record.id,
                "image_id": record.id,
                "num_persons": len(persons),
                "coordinates_list": persons,
            }
        )

    async def upload_reference(self, request: Request) -> JSONResponse:
        """``POST /edit/reference``: multipart ``reference`` -> ``{reference_name}``."""
        email = self._email(request)
        fields = await read_fields(request)
        data = await self._image_bytes(fields, "reference", allow_url=False)
        await run_in_threadpool(_decode, data, self.engine.config.max_image_pixels)
        return JSONResponse({"reference_name": self.engine.store.add_reference(email)})

    async def generate(self, request: Request) -> JSONResponse:
        """``POST /edit/generate``: replace one person, answered at once, notified later."""
        email = self._email(request)
        fields = await read_fields(request)
        image = self.engine.store.image(email, str(fields.get("id_image", "")))
        category = fields.get("category", "person")
        if category != "person":
            raise ApiError(400, f"Unknown category {category!r}; the only one is 'person'")
        person_id = wire_int(fields.get("id_person"), "id_person")
        keyword = _keyword(fields.get("keyword"), validate_person_keyword)
        prompt = _prompt(fields)
        if keyword is None and not prompt.strip():
            raise ApiError(
                400,
                "A 'keyword' (e.g. {\"Location\": \"Oceania\"}) or a 'prompt' "
                '(e.g. "a woman in a red dress") is required',
            )
        _check_person(image, person_id)
        options = self._options(request, email, fields, PersonOptions)
        self._check_reference(email, options)
        return self._start(request, email, image, "person", person_id, keyword, prompt, options)

    async def background(self, request: Request) -> JSONResponse:
        """``POST /edit/background``: new background and light, notified later."""
        email = self._email(request)
        fields = await read_fields(request)
        image = self.engine.store.image(email, str(fields.get("id_image", "")))
        keyword = _keyword(fields.get("keyword"), validate_background_keyword)
        prompt = _prompt(fields)
        if keyword is None and not prompt.strip():
            raise ApiError(400, "A 'prompt' is required when no 'keyword' is given")
        options = self._options(request, email, fields, BackgroundOptions)
        self._check_reference(email, options)
        return self._start(request, email, image, "background", None, keyword, prompt, options)

    def _options(
        self, request: Request, email: str, fields: dict[str, Any], model: type[BaseModel]
    ) -> dict[str, Any]:
        """The request's ``options``, its unknown names counted in the statistics."""
        options = wire_options(fields.get("options"), model)
        unknown = unknown_options(options, model)
        if unknown:
            self.engine.recorder.unknown_options(email, api_path(request.url.path), unknown)
        return options

    def _start(
        self,
        request: Request,
        email: str,
        image: ImageRecord,
        kind: str,
        person_id: int | None,
        keyword: dict[str, str] | None,
        prompt: str,
        options: dict[str, Any],
    ) -> JSONResponse:
        engine = self.engine
        engine.accounts.charge(email)
        engine.recorder.charged(email)
        path = api_path(request.url.path)
        faults = frozenset(
            kind_
            for kind_ in ("lose_notification", "duplicate_notification", "error_notification")
            if engine.faults.fires(kind_, path, email)
        )
        generation = engine.store.schedule(
            owner=email,
            kind=kind,
            image=image,
            person_id=person_id,
            keyword=keyword,
            keyword_json=None if keyword is None else json.dumps(keyword),
            prompt=prompt,
            seed=options.get("seed"),
            options=options,
            files_url=str(request.base_url).rstrip("/"),
            faults=faults,
        )
        engine.prerender(generation)
        engine.wake()
        answer: dict[str, Any] = {"status": "started", "id_image": image.id}
        if person_id is not None:
            answer["id_person"] = person_id
        answer["seed"] = generation.seed
        return JSONResponse(answer)

    def _check_reference(self, email: str, options: dict[str, Any]) -> None:
        name = options.get("reference_name")
        if name is not None and not self.engine.store.has_reference(email, name):
            raise ApiError(400, f"Unknown reference_name {name!r}: upload it to /edit/reference")

    async def _image_bytes(self, fields: dict[str, Any], part: str, *, allow_url: bool) -> bytes:
        upload = fields.get(part)
        limit = self.engine.config.max_upload_bytes
        if isinstance(upload, UploadFile):
            data = await upload.read(limit + 1)
        elif allow_url and isinstance(fields.get("url"), str):
            data = await _fetch_loopback(fields["url"], limit)
        else:
            source = f"a multipart part {part!r}" + (" or a form field 'url'" if allow_url else "")
            raise ApiError(400, f"Send the image as {source}")
        if len(data) > limit:
            raise ApiError(413, f"The image is larger than {limit} bytes")
        return data


def _decode(data: bytes, max_pixels: int) -> Any:
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageRejected as exc:
        raise ApiError(400, str(exc)) from None


def _keyword(value: Any, validate: Any) -> dict[str, str] | None:
    raw = wire_object(value, "keyword")
    if raw is None:
        return None
    try:
        keyword: dict[str, str] = validate(raw)
    except InvalidKeyword as exc:
        raise ApiError(400, str(exc)) from None
    return keyword


def _prompt(fields: dict[str, Any]) -> str:
    value = fields.get("prompt")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"'prompt' must be a string, got {value!r}")
    return value


def _check_person(image: ImageRecord, person_id: int) -> None:
    if not 0 <= person_id < len(image.persons):
        raise ApiError(
            400,
            f"Unknown id_person {person_id}: the image has {len(image.persons)} person(s)",
        )
    if not image.persons[person_id]["approve"]:
        raise ApiError(400, f"Person {person_id} is too blurry to be replaced (approve=false)")


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Said with every refused URL: the emulator is offline on purpose, and this is the way round.
URL_UPLOAD_HINT = (
    "The emulator works offline: it fetches only loopback http(s) URLs (localhost, "
    "127.0.0.0/8, ::1). To test an upload by URL, serve the file on loopback, e.g. "
    "`python -m http.server 8000 --bind 127.0.0.1` in its folder, then send "
    "url=http://127.0.0.1:8000/<file name>"
)


async def _fetch_loopback(url: str, limit: int) -> bytes:
    # The emulator has no business on the internet: only loopback URLs are fetched.
    if urlsplit(url).scheme not in ("http", "https") or not _is_loopback(url):
        raise ApiError(400, f"Cannot fetch {url!r}. {URL_UPLOAD_HINT}")
    try:
        async with httpx.AsyncClient(timeout=_URL_FETCH_TIMEOUT_SECONDS) as client:
            response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ApiError(
            400,
            f"Could not fetch {url!r} ({type(exc).__name__}): is a server listening there? "
            f"{URL_UPLOAD_HINT}",
        ) from None
    if response.status_code != 200:
        raise ApiError(
            400, f"Could not fetch {url!r}: HTTP {response.status_code} from the loopback server"
        )
    return response.content[: limit + 1]
