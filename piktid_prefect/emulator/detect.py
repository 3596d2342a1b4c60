"""Decoding uploads and finding faces in them (OpenCV Haar cascades)."""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

__all__ = ["FaceBox", "ImageRejected", "decode_image", "detect_faces", "sniff_format"]

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
)
# Tuned on the bundled samples: minNeighbors=5 finds a false fourth face in
# group_of_three.jpg; 6 does not, and the containment filter below is a second guard.
_SCALE_FACTOR = 1.1
_MIN_NEIGHBORS = 6
_MIN_FACE_FRACTION = 1 / 20


class ImageRejected(ValueError):
    """The upload is not an image we accept; the message says why."""


@dataclass(frozen=True)
class FaceBox:
    """A detected face, in pixels, with its sharpness (variance of Laplacian)."""

    x: int
    y: int
    w: int
    h: int
    sharpness: float

    def as_wire(self, index: int, width: int, height: int, blur_threshold: float) -> dict[str, Any]:
        """The ``coordinates_list`` entry (fractions of the image size)."""
        return {
            "id": index,
            "approve": self.sharpness >= blur_threshold,
            "centerX": round((self.x + self.w / 2) / width, 4),
            "centerY": round((self.y + self.h / 2) / height, 4),
            "cornerX": round(self.x / width, 4),
            "cornerY": round(self.y / height, 4),
            "boxWidth": round(self.w / width, 4),
            "boxHeight": round(self.h / height, 4),
        }


def sniff_format(data: bytes) -> str | None:
    """``PNG``, ``JPEG`` or ``WEBP`` from the magic bytes, else None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(data: bytes, *, max_pixels: int) -> np.ndarray:
    """Decode PNG/JPEG/WEBP bytes into a BGR array, rejecting anything else.

    Pillow is used (not ``cv2.imdecode``) because it refuses truncated files instead of
    silently padding them with grey.

    Raises:
        ImageRejected: empty, not PNG/JPEG/WEBP, truncated, or too many pixels.
    """
    if not data:
        raise ImageRejected("The uploaded file is empty")
    kind = sniff_format(data)
    if kind is None:
        raise ImageRejected("Unsupported image format: only WEBP, JPEG and PNG are accepted")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                raise ImageRejected(f"Image too large: more than {max_pixels} pixels")
            image.load()
    except ImageRejected:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"The {kind} file is truncated or corrupt: {exc}") from None
    rgb = np.asarray(image.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


# One classifier per thread: a shared cv2.CascadeClassifier is not thread-safe, and
# concurrent uploads made detectMultiScale fail (getScaleData assertion).
_cascades = threading.local()


def _classifier() -> Any:
    cascade = getattr(_cascades, "cascade", None)
    if cascade is None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        cascade = _cascades.cascade = cv2.CascadeClassifier(path)
    return cascade


def _inside(inner: tuple[int, ...], outer: tuple[int, ...]) -> bool:
    ix, iy, iw, ih = inner
    ox, oy, ow, oh = outer
    left, top = max(ix, ox), max(iy, oy)
    right, bottom = min(ix + iw, ox + ow), min(iy + ih, oy + oh)
    overlap = max(0, right - left) * max(0, bottom - top)
    return overlap >= 0.5 * iw * ih


def detect_faces(image: np.ndarray) -> list[FaceBox]:
    """Frontal faces, left to right then top to bottom, each with its sharpness.

    Boxes mostly inside a larger face are dropped: Haar cascades like to find a second
    "face" in the features of a large one.
    """
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    side = max(24, int(min(grey.shape) * _MIN_FACE_FRACTION))
    found = _classifier().detectMultiScale(
        grey, scaleFactor=_SCALE_FACTOR, minNeighbors=_MIN_NEIGHBORS, minSize=(side, side)
    )
    boxes = sorted((tuple(int(v) for v in box) for box in found), key=lambda b: -b[2] * b[3])
    kept: list[tuple[int, ...]] = []
    for box in boxes:
        if not any(_inside(box, bigger) for bigger in kept):
            kept.append(box)
    kept.sort(key=lambda b: (b[0], b[1]))
    faces = []
    for x, y, w, h in kept:
        crop = grey[y : y + h, x : x + w]
        sharpness = float(cv2.Laplacian(crop, cv2.CV_64F).var())
        faces.append(FaceBox(x, y, w, h, round(sharpness, 2)))
    return faces
