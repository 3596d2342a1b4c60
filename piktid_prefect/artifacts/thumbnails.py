"""Small pictures that live inside an artifact: ``data:`` URIs made from the files.

A result link dies with the emulator, or when PiktID stops keeping it; an image artifact
that points at it becomes a broken image. The downloaded file is what the user keeps, so
the UI shows a thumbnail of *that*, embedded in the artifact as a ``data:image/jpeg``
URI: it loads on any machine that opens the Prefect server, for as long as the server
keeps the artifact. JPEG rather than WEBP: both render in every browser Prefect
supports, but every Pillow build can write JPEG.

Files saved to a Prefect filesystem block (``download_result(..., destination=block)``)
are read back through that block (``read_path``): the record's path is then relative
to the block, not a local path.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "THUMBNAIL_MAX_SIDE",
    "ReadsPaths",
    "ThumbnailUnavailable",
    "read_image_bytes",
    "thumbnail_data_uri",
]

# Long side of a preview: big enough to judge one output; ~15-25 KB as a data: URI for
# the demo's photos (contact sheets use smaller ones, see piktid_prefect.artifacts.sheets).
THUMBNAIL_MAX_SIDE = 320
# JPEG quality 70 keeps faces recognisable at a third of quality 95's bytes.
_JPEG_QUALITY = 70


class ThumbnailUnavailable(Exception):
    """The picture could not be read or decoded (missing file, not an image)."""


class ReadsPaths(Protocol):
    """What a thumbnail needs of a Prefect filesystem block (``LocalFileSystem``, S3...)."""

    def read_path(self, path: str) -> Any: ...


def read_image_bytes(path: str, storage: ReadsPaths | None = None) -> bytes:
    """The bytes at ``path``: a local file, or a path relative to ``storage`` (a block).

    Raises:
        ThumbnailUnavailable: The file cannot be read.
    """
    try:
        if storage is None:
            with open(path, "rb") as handle:
                return handle.read()
        # Prefect's filesystem methods are sync-compatible: called from a thread, they run.
        data = storage.read_path(path)
    except (OSError, ValueError) as exc:
        raise ThumbnailUnavailable(f"cannot read {os.path.basename(path)}: {exc}") from exc
    if not isinstance(data, bytes):
        raise ThumbnailUnavailable(f"{type(storage).__name__}.read_path did not return bytes")
    return data


def thumbnail_data_uri(data: bytes, max_side: int = THUMBNAIL_MAX_SIDE) -> str:
    """A ``data:image/jpeg;base64,...`` thumbnail of ``data``, at most ``max_side`` px long.

    Example:
        >>> uri = thumbnail_data_uri(open("photo.jpg", "rb").read())  # doctest: +SKIP
        >>> uri.startswith("data:image/jpeg;base64,")  # doctest: +SKIP
        True

    Raises:
        ThumbnailUnavailable: ``data`` is not an image Pillow can read.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            # A JPEG decodes straight at 1/2, 1/4 or 1/8 scale: 8x less work than full size.
            image.draft("RGB", (max_side, max_side))
            small = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ThumbnailUnavailable(f"not a readable image: {exc}") from exc
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")
