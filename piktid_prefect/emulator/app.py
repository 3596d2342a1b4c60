"""The starlette application: routes under ``/api``, result files under ``/files``.

Errors are answered as PiktID's ``{code, message, description}`` JSON body.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from piktid_prefect.emulator.bodies import read_fields, wire_int
from piktid_prefect.emulator.edit import EditRoutes
from piktid_prefect.emulator.engine import EmulatorEngine
from piktid_prefect.emulator.faults import FaultMiddleware, api_path
from piktid_prefect.emulator.identities import IdentityRoutes
from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.emulator.superid import SuperidRoutes

__all__ = ["build_app"]

_CHUNK_BYTES = 64 * 1024


class _Routes:
    def __init__(self, engine: EmulatorEngine) -> None:
        self.engine = engine

    def _email(self, request: Request) -> str:
        return self.engine.accounts.authenticate(request.headers.get("authorization"))

    async def login(self, request: Request) -> JSONResponse:
        email, password = _basic(request.headers.get("authorization"))
        tokens = self.engine.accounts.login(email, password)
        response = JSONResponse(tokens)
        response.set_cookie("refresh_token", tokens["refresh_token"], httponly=True)
        return response

    async def refresh(self, request: Request) -> JSONResponse:
        fields = await read_fields(request)
        refresh = fields.get("refresh_token") or request.cookies.get("refresh_token")
        access = fields.get("access_token")
        tokens = self.engine.accounts.refresh(
            None if access is None else str(access), None if refresh is None else str(refresh)
        )
        response = JSONResponse(tokens)
        response.set_cookie("refresh_token", tokens["refresh_token"], httponly=True)
        return response

    async def logout(self, request: Request) -> Response:
        self._email(request)
        token = str(request.headers["authorization"]).split(" ", 1)[1].strip()
        self.engine.accounts.revoke(token)
        return Response(status_code=204)

    async def me(self, request: Request) -> JSONResponse:
        return JSONResponse(self.engine.accounts.me(self._email(request)))

    async def notifications(self, request: Request) -> JSONResponse:
        email = self._email(request)
        fields = await read_fields(request)
        wait = self.engine.store.check_poll(email)
        if wait is not None:
            self.engine.recorder.rate_limited(email)
            retry_after = self.engine.clock.real_seconds(wait)
            raise ApiError(
                429,
                "Too many requests: poll notifications at most once every "
                f"{self.engine.config.poll_min_interval_seconds:g} seconds",
                headers={"Retry-After": f"{retry_after:.3f}"},
            )
        names = _names(fields.get("name_list"))
        image_id = fields.get("id_image")
        items = self.engine.store.notifications(
            email, names, None if image_id in (None, "") else str(image_id)
        )
        path = api_path(request.url.path)
        if len(items) > 1 and self.engine.faults.fires("shuffle_notifications", path, email):
            items = self.engine.faults.shuffle(items)
        return JSONResponse({"notifications_list": items})

    async def delete_notification(self, request: Request) -> JSONResponse:
        email = self._email(request)
        fields = await read_fields(request)
        notification_id = wire_int(fields.get("id"), "id")
        if not self.engine.store.delete_notification(email, notification_id):
            raise ApiError(404, f"Notification {notification_id} not found (or expired)")
        return JSONResponse({"id": notification_id, "deleted": True})

    async def file(self, request: Request) -> Response:
        name = request.path_params["name"]
        data = self.engine.store.file(name)
        if data is None:
            raise ApiError(404, f"File {name!r} not found")
        delay = self.engine.clock.real_seconds(self.engine.config.download_seconds)

        async def chunks() -> AsyncIterator[bytes]:
            await asyncio.sleep(delay)
            for start in range(0, len(data), _CHUNK_BYTES):
                yield data[start : start + _CHUNK_BYTES]

        media_type = "image/png" if name.endswith(".png") else "image/jpeg"
        return StreamingResponse(
            chunks(), media_type=media_type, headers={"content-length": str(len(data))}
        )


def _basic(authorization: str | None) -> tuple[str, str]:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise ApiError(401, "Log in with HTTP Basic authentication (email:password)")
    try:
        email, sep, password = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(401, "Malformed Basic authorization header") from None
    if not sep:
        raise ApiError(401, "Malformed Basic authorization header")
    return email, password


def _names(value: Any) -> set[str]:
    # Repositories send "edit_generate, error"; the docs send ["edit_generate"].
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise ApiError(400, "'name_list' is required: a comma-separated string or a list")
    return {str(item).strip() for item in items if str(item).strip()}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error = ApiError(exc.status_code, str(exc.detail))
    return JSONResponse(error.body(), status_code=exc.status_code)


def build_app(engine: EmulatorEngine) -> Any:
    """The ASGI app (routes wrapped in the fault/statistics middleware) for ``engine``."""
    routes = _Routes(engine)
    edit = EditRoutes(engine)
    superid = SuperidRoutes(engine)
    identities = IdentityRoutes(engine)
    app = Starlette(
        routes=[
            Route("/api/tokens", routes.login, methods=["POST"]),
            Route("/api/tokens", routes.refresh, methods=["PUT"]),
            Route("/api/tokens", routes.logout, methods=["DELETE"]),
            Route("/api/me", routes.me, methods=["GET"]),
            Route("/api/edit/target", edit.upload_target, methods=["POST"]),
            Route("/api/edit/reference", edit.upload_reference, methods=["POST"]),
            Route("/api/edit/generate", edit.generate, methods=["POST"]),
            Route("/api/edit/background", edit.background, methods=["POST"]),
            Route("/api/notification_by_name_json", routes.notifications, methods=["POST"]),
            Route("/api/notification/delete_json", routes.delete_notification, methods=["DELETE"]),
            Route("/api/superid/upload", superid.upload, methods=["POST"]),
            Route("/api/superid_info", superid.info, methods=["GET"]),
            Route("/api/superid/v2", superid.upscale, methods=["POST"]),
            Route("/api/superid_fast", superid.upscale_fast, methods=["POST"]),
            Route(
                "/api/consistent_identities/upload_face", identities.upload_face, methods=["POST"]
            ),
            Route(
                "/api/consistent_identities/upload_target",
                identities.upload_target,
                methods=["POST"],
            ),
            Route("/api/consistent_identities/generate", identities.generate, methods=["POST"]),
            # The product's own notification endpoints read and delete the same notifications.
            Route(
                "/api/consistent_identities/notification/read",
                routes.notifications,
                methods=["POST"],
            ),
            Route(
                "/api/consistent_identities/notification/delete",
                routes.delete_notification,
                methods=["DELETE"],
            ),
            Route("/files/{name}", routes.file, methods=["GET"]),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    return FaultMiddleware(
        app,
        injector=engine.faults,
        accounts=engine.accounts,
        recorder=engine.recorder,
        clock=engine.clock,
    )
