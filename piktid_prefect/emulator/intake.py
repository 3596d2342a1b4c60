"""Reading an uploaded image the way every PiktID upload endpoint takes it.

A multipart part (``file``, ``reference``, ...) or, where the endpoint accepts one, a form
``url``, which the emulator fetches only on loopback (it is offline on purpose).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from piktid_prefect.emulator.config import EmulatorConfig
from piktid_prefect.emulator.detect import FaceBox, ImageRejected, decode_image, detect_faces
from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.emulator.state import Store

__all__ = ["URL_UPLOAD_HINT", "decoded_upload", "faces_in", "upload_bytes"]

_URL_FETCH_TIMEOUT_SECONDS = 10.0

# Said with every refused URL: the emulator is offline on purpose, and this is the way round.
URL_UPLOAD_HINT = (
    "The emulator works offline: it fetches only loopback http(s) URLs (localhost, "
    "127.0.0.0/8, ::1). To test an upload by URL, serve the file on loopback, e.g. "
    "`python -m http.server 8000 --bind 127.0.0.1` in its folder, then send "
    "url=http://127.0.0.1:8000/<file name>"
)


async def upload_bytes(
    fields: dict[str, Any], parts: tuple[str, ...], *, allow_url: bool, limit: int
) -> bytes:
    """The bytes of the first of ``parts`` sent (or of the form ``url``, if allowed)."""
    upload = next((fields[p] for p in parts if isinstance(fields.get(p), UploadFile)), None)
    if isinstance(upload, UploadFile):
        data = await upload.read(limit + 1)
    elif allow_url and isinstance(fields.get("url"), str):
        data = await _fetch_loopback(fields["url"], limit)
    else:
        named = " or ".join(repr(p) for p in parts)
        source = f"a multipart part {named}" + (" or a form field 'url'" if allow_url else "")
        raise ApiError(400, f"Send the image as {source}")
    if len(data) > limit:
        raise ApiError(413, f"The image is larger than {limit} bytes")
    return data


async def decoded_upload(
    fields: dict[str, Any], config: EmulatorConfig, parts: tuple[str, ...], *, allow_url: bool
) -> tuple[bytes, np.ndarray]:
    """The uploaded bytes and their BGR array, or a 4xx answer saying what is wrong."""
    data = await upload_bytes(fields, parts, allow_url=allow_url, limit=config.max_upload_bytes)
    return data, await run_in_threadpool(decode, data, config.max_image_pixels)


async def faces_in(store: Store, data: bytes, pixels: np.ndarray) -> list[FaceBox]:
    """The faces of an upload: known if it is one of the emulator's results, else detected."""
    known = store.faces_of_result(data)
    if known is not None:
        return known
    return await run_in_threadpool(detect_faces, pixels)


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Decode, answering 400 for anything that is not a whole PNG/JPEG/WEBP."""
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageRejected as exc:
        raise ApiError(400, str(exc)) from None


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
