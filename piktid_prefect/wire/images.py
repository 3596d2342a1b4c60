"""Input validation that runs before any request: images, image URLs and the base URL.

A bad input must fail here, with an error that says what is wrong, rather than on the
server after a credit was spent (or with a vague HTTP 400). Images are checked by their
magic bytes (PiktID takes PNG, JPEG and WEBP only), for emptiness, size, pixel count
(decompression bombs) and by a full Pillow decode (truncated files).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
from PIL import Image

from piktid_prefect.wire.errors import InvalidConfiguration, InvalidInput, UnsupportedImage

__all__ = [
    "CONTENT_TYPES",
    "MAX_IMAGE_PIXELS",
    "MAX_UPLOAD_BYTES",
    "ImagePayload",
    "ImageSource",
    "check_base_url",
    "check_link_url",
    "detect_format",
    "is_image_url",
    "load_image",
]

# Our own ceilings (PiktID documents none): far above any photo worth editing, low enough
# that a mistaken upload of a huge scan fails fast instead of timing out.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}

ImageSource = str | os.PathLike[str] | bytes | BinaryIO
"""A path, raw bytes, a binary file object, or (uploads only) a public ``http(s)://`` URL."""


@dataclass(frozen=True)
class ImagePayload:
    """A validated image, ready to upload.

    Attributes:
        data: The file's bytes, unchanged.
        filename: The name sent in the multipart part.
        content_type: ``image/png``, ``image/jpeg`` or ``image/webp``.
        sha256: Hex digest of ``data`` (upper layers use it as the cache key).
        width: Pixels across (0 when not decoded).
        height: Pixels down (0 when not decoded).
    """

    data: bytes
    filename: str
    content_type: str
    sha256: str
    width: int = 0
    height: int = 0

    def __repr__(self) -> str:
        size = len(self.data)
        return f"ImagePayload(filename={self.filename!r}, bytes={size}, sha256={self.sha256[:12]})"


def detect_format(data: bytes) -> str:
    """The image format named by the magic bytes (``PNG``, ``JPEG``, ``GIF``, ...)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data[4:8] == b"ftyp":
        return "AVIF" if data[8:12] in (b"avif", b"avis") else "HEIC"
    if data.startswith(b"BM"):
        return "BMP"
    if data.startswith(b"%PDF"):
        return "PDF"
    return "unknown"


def is_image_url(source: object) -> bool:
    """Whether ``source`` is a text ``http(s)://`` URL (an upload by URL)."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def load_image(source: ImageSource, *, filename: str | None = None) -> ImagePayload:
    """Read and validate an image from a path, bytes or a binary file object.

    Args:
        source: A file path, the image bytes, or a binary file object (read from its
            current position).
        filename: The name to upload under; defaults to the file's own name.

    Returns:
        The validated :class:`ImagePayload`.

    Raises:
        UnsupportedImage: Not PNG/JPEG/WEBP, empty, truncated, too big, too many pixels.
        InvalidInput: The path does not exist, or ``source`` is a URL or of another type.

    Example:
        >>> payload = load_image("portrait.jpg")  # doctest: +SKIP
        >>> payload.content_type
        'image/jpeg'
    """
    data, name = _read(source)
    if not data:
        raise UnsupportedImage(f"{name or 'The image'} is empty")
    fmt = detect_format(data)
    if fmt not in CONTENT_TYPES:
        raise UnsupportedImage(
            f"{name or 'The image'} is {fmt if fmt != 'unknown' else 'not a known image'}"
            f" format; PiktID accepts PNG, JPEG and WEBP only"
        )
    width, height = _decode_fully(data, fmt, name)
    final_name = filename or name or f"image{_EXTENSIONS[fmt]}"
    return ImagePayload(
        data=data,
        filename=final_name,
        content_type=CONTENT_TYPES[fmt],
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
    )


def _too_big(name: str | None, size: int) -> UnsupportedImage:
    return UnsupportedImage(
        f"{name or 'The image'} is {size} bytes; the upload limit is {MAX_UPLOAD_BYTES} bytes"
    )


def _read(source: ImageSource) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_UPLOAD_BYTES:
            raise _too_big(None, len(data))
        return data, None
    if is_image_url(source):
        raise InvalidInput("A URL cannot be read locally; upload_target() accepts it as a URL")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
            # Check the size before reading: a 2 GB file should not be loaded to be refused.
            if size > MAX_UPLOAD_BYTES:
                raise _too_big(path.name, size)
            return path.read_bytes(), path.name
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise InvalidInput(f"No image file at {str(path)!r}") from None
    if hasattr(source, "read"):
        data = source.read(MAX_UPLOAD_BYTES + 1)
        if not isinstance(data, bytes):
            raise InvalidInput("The file object must be opened in binary mode ('rb')")
        raw_name = getattr(source, "name", None)
        name = os.path.basename(raw_name) if isinstance(raw_name, str) else None
        if len(data) > MAX_UPLOAD_BYTES:
            raise _too_big(name, len(data))
        return data, name
    raise InvalidInput(f"Cannot read an image from a {type(source).__name__}")


def _decode_fully(data: bytes, fmt: str, name: str | None) -> tuple[int, int]:
    label = name or "The image"
    # Pillow warns (and later errors) on decompression bombs; we want our own error and no
    # warning, with our lower pixel limit. The header gives the size before any decoding.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                size = image.width, image.height
                pixels = image.width * image.height
                if pixels <= MAX_IMAGE_PIXELS:
                    image.load()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            pixels = MAX_IMAGE_PIXELS + 1
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UnsupportedImage(f"{label} is truncated or corrupt ({exc})") from None
    if pixels > MAX_IMAGE_PIXELS:
        raise UnsupportedImage(
            f"{label} has more than {MAX_IMAGE_PIXELS} pixels (a decompression bomb or a "
            "very large scan); resize it first"
        )
    return size


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """Return ``base_url`` without a trailing slash, or raise InvalidConfiguration.

    Plain ``http`` is accepted only for loopback hosts (the emulator): elsewhere it would
    send the bearer token and the account password in clear text.
    """
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidConfiguration(f"Invalid base URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidConfiguration(
            "The base URL must be http(s)://host/..., e.g. https://api.piktid.com/api"
        )
    if url.userinfo:
        raise InvalidConfiguration("The base URL must not carry credentials; pass them apart")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise InvalidConfiguration(
            f"Plain http is allowed only for loopback hosts, not {url.host!r}; use https"
        )
    return str(url.copy_with(query=None, fragment=None)).rstrip("/")


def check_link_url(url: str, *, what: str = "link") -> str:
    """Return ``url`` if it is an ``http(s)`` URL with a host, else raise InvalidInput."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise InvalidInput(f"The {what} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidInput(f"The {what} must be an http(s) URL, got scheme {parsed.scheme!r}")
    return url
