"""Reading request bodies the way PiktID accepts them: JSON, form or multipart alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.requests import Request

from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.wire.errors import InvalidOptions
from piktid_prefect.wire.models import parse_wire_json

__all__ = ["read_fields", "unknown_options", "wire_int", "wire_object", "wire_options"]

_Options = TypeVar("_Options", bound=BaseModel)


async def read_fields(request: Request) -> dict[str, Any]:
    """The request's fields, from a JSON object, a form, or a multipart body.

    Real clients switched between ``json=`` and ``data=`` over time, so every endpoint
    takes both. File parts come back as :class:`UploadFile`.
    """
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_part_size=8 * 1024 * 1024)
        return {key: value for key, value in form.multi_items()}
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object")
    return body


def wire_object(value: Any, field: str) -> dict[str, Any] | None:
    """A field that travels as a JSON-encoded object (or an object); None when absent."""
    if value is None or isinstance(value, UploadFile):
        return None
    try:
        parsed = parse_wire_json(value)
    except ValueError:
        raise ApiError(400, f"{field!r} is not valid JSON: {value!r}") from None
    if parsed in ({}, None):
        return None
    if not isinstance(parsed, dict):
        raise ApiError(400, f"{field!r} must be a JSON object, got {value!r}")
    return parsed


def wire_int(value: Any, field: str) -> int:
    """An integer that may travel as a number or a numeric string."""
    if isinstance(value, bool) or value is None:
        raise ApiError(400, f"{field!r} is required and must be an integer")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ApiError(400, f"{field!r} must be an integer, got {value!r}") from None


def wire_options(value: Any, model: type[_Options]) -> dict[str, Any]:
    """An ``options`` field: the keys ``model`` types are validated, the rest kept as sent.

    PiktID ignores options it does not use; the emulator keeps them so that tests can
    see what arrived (:func:`unknown_options`, the statistics' ``unknown_options``).
    """
    options = wire_object(value, "options") or {}
    known: Mapping[str, Any] = {k: v for k, v in options.items() if k in model.model_fields}
    try:
        parsed = model.coerce(known)  # type: ignore[attr-defined]
    except InvalidOptions as exc:
        raise ApiError(400, str(exc)) from None
    checked: dict[str, Any] = parsed.model_dump(exclude_none=True)
    return {**{k: v for k, v in options.items() if k not in known}, **checked}


def unknown_options(options: Mapping[str, Any], model: type[BaseModel]) -> list[str]:
    """The option names ``model`` does not type, sorted."""
    return sorted(name for name in options if name not in model.model_fields)
