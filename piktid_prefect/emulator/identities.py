"""The consistent-identities routes: an identity's face, a target, and the paid swap.

The target answer has PiktID's ``faces`` object (``coordinates_list`` plus one ``1``/``0`` per
face in ``approved_faces`` and ``selected_faces``); the swap ends in a ``download``
notification with ``data.id_image``, ``data.f`` (the face) and ``data.link_hd``, readable
through ``/consistent_identities/notification/read`` and ``/notification_by_name_json``
alike (PiktID's swapid client used one, then the other).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse

from piktid_prefect.emulator.bodies import read_fields, wire_int
from piktid_prefect.emulator.engine import EmulatorEngine
from piktid_prefect.emulator.intake import decoded_upload, faces_in
from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.emulator.starts import request_options, start_generation
from piktid_prefect.wire.models_chain import IdentitySwapOptions, IdentityTargetOptions

__all__ = ["IdentityRoutes"]

# PiktID's eraseid client sends the identity's face as a part named ``face``, swapid as ``file``.
_FACE_PARTS = ("file", "face")


class IdentityRoutes:
    """Handlers of the consistent-identities endpoints, bound to one engine."""

    def __init__(self, engine: EmulatorEngine) -> None:
        self.engine = engine

    def _email(self, request: Request) -> str:
        return self.engine.accounts.authenticate(request.headers.get("authorization"))

    async def upload_face(self, request: Request) -> JSONResponse:
        """``POST /consistent_identities/upload_face``: ``file`` (+ ``identity_name``)."""
        email = self._email(request)
        fields = await read_fields(request)
        config = self.engine.config
        data, pixels = await decoded_upload(fields, config, _FACE_PARTS, allow_url=False)
        faces = await faces_in(self.engine.store, data, pixels)
        # The largest face is the identity; none found means a tight crop of one.
        face = max(faces, key=lambda f: f.w * f.h) if faces else None
        wanted = fields.get("identity_name")
        name = str(wanted).strip() if isinstance(wanted, str) and wanted.strip() else None
        stored = self.engine.identities.add(email, name, pixels, face)
        return JSONResponse({"identity_name": stored})

    async def upload_target(self, request: Request) -> JSONResponse:
        """``POST /consistent_identities/upload_target``: ``file`` + ``options``."""
        email = self._email(request)
        fields = await read_fields(request)
        request_options(self.engine, request, email, fields.get("options"), IdentityTargetOptions)
        config = self.engine.config
        data, pixels = await decoded_upload(fields, config, ("file",), allow_url=False)
        faces = await faces_in(self.engine.store, data, pixels)
        height, width = pixels.shape[:2]
        persons = [
            face.as_wire(i, width, height, config.blur_threshold) for i, face in enumerate(faces)
        ]
        record = self.engine.store.add_image(email, pixels, faces, persons)
        flags = [1 if person["approve"] else 0 for person in persons]
        faces_answer = {
            "number_of_faces": len(persons),
            "coordinates_list": persons,
            "selected_faces": flags,
            "approved_faces": flags,
        }
        return JSONResponse({"image_id": record.id, "id_image": record.id, "faces": faces_answer})

    async def generate(self, request: Request) -> JSONResponse:
        """``POST /consistent_identities/generate``: the identity on one face, notified later."""
        email = self._email(request)
        fields = await read_fields(request)
        image = self.engine.store.image(email, str(fields.get("id_image", "")))
        face_id = wire_int(fields.get("id_face"), "id_face")
        if not 0 <= face_id < len(image.persons):
            raise ApiError(
                400, f"Unknown id_face {face_id}: the image has {len(image.persons)} face(s)"
            )
        if not image.persons[face_id]["approve"]:
            raise ApiError(400, f"Face {face_id} cannot be swapped (not approved)")
        identity = self.engine.identities.get(email, str(fields.get("identity_name") or ""))
        options = request_options(
            self.engine, request, email, fields.get("options"), IdentitySwapOptions
        )
        if options.get("flag_replace_and_download") is not True:
            # Without it PiktID's eraseid flow follows (a new_generation notification, then
            # /pick_face2), which this emulator does not speak: refuse rather than pretend.
            raise ApiError(
                400,
                "The emulator speaks only the swapid flow: send options with "
                '{"flag_replace_and_download": true}',
            )
        prompt = fields.get("prompt")
        generation = start_generation(
            self.engine,
            request,
            email,
            kind="identity_swap",
            image=image,
            credits=self.engine.config.identity_swap_credits,
            person_id=face_id,
            keyword_json=json.dumps({"identity_name": identity.name}),
            prompt=prompt if isinstance(prompt, str) else "",
            options=options,
            duration_seconds=self.engine.config.identity_swap_seconds,
            payload={"identity": identity},
        )
        return JSONResponse(
            {"status": "started", "id_image": image.id, "id_face": face_id, "seed": generation.seed}
        )
