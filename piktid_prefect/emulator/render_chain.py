"""Result pictures of the chained products: an upscale, and an identity's face swapped in.

Like :mod:`piktid_prefect.emulator.render`, nothing generative: the upscale is a real
Lanczos resampling (with a light sharpening, so it is not the input's bytes) to exactly
``scale x`` the input size; the swap puts the identity's own face pixels, colour-matched to
the target's light, into the target face's region, so a test can see whose face it is.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from piktid_prefect.emulator.detect import FaceBox
from piktid_prefect.emulator.render import encode_jpeg

__all__ = ["face_region", "render_identity_swap", "render_upscale"]


def _encode(bgr: np.ndarray, output_format: str) -> bytes:
    if output_format == "JPEG":
        return encode_jpeg(bgr)
    buffer = io.BytesIO()
    # Level 1: a x4 PNG is large and the emulator's time belongs to the modelled latency.
    Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def render_upscale(pixels: np.ndarray, scale_factor: int, output_format: str) -> bytes:
    """``pixels`` resampled to ``scale_factor`` times its size, as PNG or JPEG bytes."""
    height, width = pixels.shape[:2]
    size = (width * scale_factor, height * scale_factor)
    big = cv2.resize(pixels, size, interpolation=cv2.INTER_LANCZOS4)
    soft = cv2.GaussianBlur(big, (0, 0), 1.0 * scale_factor)
    sharp = cv2.addWeighted(big, 1.3, soft, -0.3, 0)
    return _encode(sharp, output_format)


def face_region(
    face: FaceBox, width: int, height: int, *, with_hair: bool
) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the face box, enlarged upward over the hair for a head swap."""
    top = 0.35 if with_hair else 0.1
    x0 = max(0, int(face.x - 0.05 * face.w))
    y0 = max(0, int(face.y - top * face.h))
    x1 = min(width, int(face.x + 1.05 * face.w))
    y1 = min(height, int(face.y + 1.05 * face.h))
    return x0, y0, x1, y1


def _identity_crop(pixels: np.ndarray, face: FaceBox | None, with_hair: bool) -> np.ndarray:
    if face is None:  # a tight face crop: the whole picture is the face
        return pixels
    height, width = pixels.shape[:2]
    x0, y0, x1, y1 = face_region(face, width, height, with_hair=with_hair)
    return pixels[y0:y1, x0:x1]


def _match_light(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``source`` with the per-channel mean and spread of ``reference`` (in Lab)."""
    src = cv2.cvtColor(source, cv2.COLOR_BGR2LAB).astype(np.float32)
    ref = cv2.cvtColor(reference, cv2.COLOR_BGR2LAB).astype(np.float32)
    src_mean, src_std = src.mean(axis=(0, 1)), src.std(axis=(0, 1)) + 1e-3
    ref_mean, ref_std = ref.mean(axis=(0, 1)), ref.std(axis=(0, 1))
    matched = (src - src_mean) / src_std * ref_std + ref_mean
    relit: np.ndarray = cv2.cvtColor(np.clip(matched, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)
    return relit


def render_identity_swap(
    target: np.ndarray,
    face: FaceBox,
    identity: np.ndarray,
    identity_face: FaceBox | None,
    seed: int,
    *,
    strength: float = 0.9,
    transfer_hair: bool = False,
) -> bytes:
    """The identity's face placed over ``face`` of ``target``; the rest untouched.

    Args:
        target: The target picture (BGR).
        face: The target face to replace.
        identity: The identity's picture (BGR).
        identity_face: Its detected face, or None to take the whole picture.
        seed: Varies the blend slightly (same seed, same picture).
        strength: ``prompt_strength``: 1 is the identity's face as is (relit), 0 the target's.
        transfer_hair: Take the hair too (a larger region, above the face).
    """
    height, width = target.shape[:2]
    x0, y0, x1, y1 = face_region(face, width, height, with_hair=transfer_hair)
    region = target[y0:y1, x0:x1]
    crop = _identity_crop(identity, identity_face, transfer_hair)
    placed = cv2.resize(crop, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    relit = _match_light(placed, region).astype(np.float32)
    # An ellipse feathered at its edge, so the face sits in the picture without a seam.
    ellipse = np.zeros((y1 - y0, x1 - x0), np.float32)
    centre = ((x1 - x0) // 2, (y1 - y0) // 2)
    axes = (max(1, (x1 - x0) // 2 - 2), max(1, (y1 - y0) // 2 - 2))
    cv2.ellipse(ellipse, centre, axes, 0, 0, 360, 1.0, -1)
    mask: np.ndarray = cv2.GaussianBlur(ellipse, (0, 0), max(1.0, (x1 - x0) / 30))
    jitter = float(np.random.default_rng(seed).uniform(-0.03, 0.03))
    alpha = (mask * float(np.clip(strength + jitter, 0.0, 1.0)))[:, :, None]
    out = target.copy()
    out[y0:y1, x0:x1] = (alpha * relit + (1 - alpha) * region.astype(np.float32)).astype(np.uint8)
    return encode_jpeg(out)
