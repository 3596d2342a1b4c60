"""The ``/edit/*`` routes: uploads (with face detection) and generation starts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

from piktid_prefect.emulator.bodies import read_fields, wire_int, wire_object
from piktid_prefect.emulator.engine import EmulatorEngine
from piktid_prefect.emulator.intake import decoded_upload, faces_in
from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.emulator.starts import request_options, start_generation
from piktid_prefect.emulator.state import ImageRecord
from piktid_prefect.wire.errors import InvalidKeyword
from piktid_prefect.wire.keywords import validate_background_keyword, validate_person_keyword
from piktid_prefect.wire.models import BackgroundOptions, PersonOptions, UploadOptions

__all__ = ["EditRoutes"]


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
        config = self.engine.config
        clock = self.engine.clock
        # Decoding and detection are part of the upload's modelled latency, not extra.
        began = clock.now()
        data, pixels = await decoded_upload(fields, config, ("file",), allow_url=True)
        faces = []
        if options.get("flag_detection", True) is not False:
            faces = await faces_in(self.engine.store, data, pixels)
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
        await decoded_upload(fields, self.engine.config, ("reference",), allow_url=False)
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
        return request_options(self.engine, request, email, fields.get("options"), model)

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
        generation = start_generation(
            self.engine,
            request,
            email,
            kind=kind,
            image=image,
            credits=1,
            person_id=person_id,
            keyword=keyword,
            keyword_json=None if keyword is None else json.dumps(keyword),
            prompt=prompt,
            options=options,
        )
        answer: dict[str, Any] = {"status": "started", "id_image": image.id}
        if person_id is not None:
            answer["id_person"] = person_id
        answer["seed"] = generation.seed
        return JSONResponse(answer)

    def _check_reference(self, email: str, options: dict[str, Any]) -> None:
        name = options.get("reference_name")
        if name is not None and not self.engine.store.has_reference(email, name):
            raise ApiError(400, f"Unknown reference_name {name!r}: upload it to /edit/reference")


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
