"""Deterministic result pictures: a redrawn face, or a new background behind the subject.

Nothing here is generative AI; it is enough for a client to see that the right region
changed, differently per keyword and seed, and identically for identical inputs.
"""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from piktid_prefect.emulator.detect import FaceBox

__all__ = ["encode_jpeg", "render_background", "render_person", "subject_mask"]

_JPEG_QUALITY = 92
# Skin and hair base colours (RGB) per Location: the point is a visible, keyword-specific
# change, not an ethnographic claim.
_SKIN = {
    "Africa": (120, 82, 58),
    "Central Africa": (92, 60, 42),
    "Middle East": (190, 146, 110),
    "East Asia": (228, 192, 158),
    "North Europe": (240, 208, 190),
    "South Europe": (214, 170, 130),
    "North America": (222, 180, 150),
    "South America": (184, 132, 96),
    "Oceania": (150, 104, 74),
}
_HAIR = {
    "Africa": (28, 22, 20),
    "Central Africa": (18, 14, 12),
    "Middle East": (40, 28, 22),
    "East Asia": (14, 12, 12),
    "North Europe": (214, 184, 120),
    "South Europe": (70, 46, 30),
    "North America": (120, 80, 46),
    "South America": (46, 30, 22),
    "Oceania": (60, 40, 28),
}


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def encode_jpeg(bgr: np.ndarray) -> bytes:
    """JPEG bytes of a BGR array (Pillow's encoder is deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).save(
        buffer, format="JPEG", quality=_JPEG_QUALITY
    )
    return buffer.getvalue()


def _jitter(color: tuple[int, int, int], rng: np.random.Generator, amount: int) -> tuple[int, ...]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def _draw_face(width: int, height: int, location: str, rng: np.random.Generator) -> Image.Image:
    skin = _jitter(_SKIN.get(location, (200, 160, 130)), rng, 14)
    hair = _jitter(_HAIR.get(location, (50, 35, 25)), rng, 18)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    w, h = width, height
    top = int(h * rng.uniform(0.0, 0.08))
    draw.ellipse((0, top, w - 1, int(h * 0.75)), fill=(*hair, 255))
    draw.ellipse((int(w * 0.14), int(h * 0.16), int(w * 0.86), h - 1), fill=(*skin, 255))
    eye_y = int(h * rng.uniform(0.44, 0.5))
    eye_w, eye_h = max(2, int(w * 0.12)), max(2, int(h * 0.05))
    iris = _jitter((60, 40, 25) if rng.random() < 0.7 else (60, 100, 150), rng, 20)
    for cx in (int(w * 0.36), int(w * 0.64)):
        draw.ellipse((cx - eye_w, eye_y - eye_h, cx + eye_w, eye_y + eye_h), fill=(245, 245, 240))
        r = max(1, eye_h - 1)
        draw.ellipse((cx - r, eye_y - r, cx + r, eye_y + r), fill=(*iris, 255))
        brow = eye_y - 2 * eye_h
        draw.line((cx - eye_w, brow, cx + eye_w, brow), fill=hair, width=3)
    shade = tuple(int(c * 0.8) for c in skin)
    draw.line((w // 2, eye_y, w // 2 - int(w * 0.04), int(h * 0.68)), fill=shade, width=2)
    mouth_y = int(h * rng.uniform(0.76, 0.82))
    lips = _jitter((170, 80, 80), rng, 25)
    smile = int(h * rng.uniform(0.02, 0.08))
    draw.arc(
        (int(w * 0.36), mouth_y - smile, int(w * 0.64), mouth_y + smile),
        0,
        180,
        fill=lips,
        width=max(2, h // 40),
    )
    return layer


def _prompt_location(prompt: str) -> str:
    """The look a free-text prompt asks for: a Location it names, else one of its own."""
    lowered = prompt.lower()
    named = [name for name in _SKIN if name.lower() in lowered]
    if named:
        return max(named, key=len)  # "Central Africa" over "Africa"
    looks = sorted(_SKIN)
    return looks[_stable(" ".join(lowered.split())) % len(looks)]


def render_person(
    pixels: np.ndarray, face: FaceBox, location: str | None, seed: int, prompt: str = ""
) -> bytes:
    """Replace one face (and its hair) with a drawn one themed by ``location``/``prompt``.

    The keyword's Location picks the colours; without one, the prompt does (a Location
    it names, else a look derived from its text). The prompt also varies the drawing, so
    two prompts give two pictures and one prompt always the same. The original's
    shading is kept on the new face so it sits in the same light; outside the enlarged,
    feathered face region the picture is untouched.
    """
    look = location or _prompt_location(prompt)
    entropy = [seed, _stable(look)] + ([_stable(prompt)] if prompt.strip() else [])
    rng = np.random.default_rng(entropy)
    height, width = pixels.shape[:2]
    x0 = max(0, int(face.x - 0.12 * face.w))
    y0 = max(0, int(face.y - 0.25 * face.h))
    x1 = min(width, int(face.x + 1.12 * face.w))
    y1 = min(height, int(face.y + 1.08 * face.h))
    layer = _draw_face(x1 - x0, y1 - y0, look, rng)
    alpha = np.asarray(layer.split()[3].filter(ImageFilter.GaussianBlur(3)), np.float32) / 255
    new = np.asarray(layer.convert("RGB"), np.float32)[:, :, ::-1]
    region = pixels[y0:y1, x0:x1].astype(np.float32)
    grey = cv2.cvtColor(pixels[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)
    shading = 0.75 + 0.25 * grey / max(1.0, float(grey.mean()))
    new = np.clip(new * shading[:, :, None], 0, 255)
    out = pixels.copy()
    out[y0:y1, x0:x1] = (alpha[:, :, None] * new + (1 - alpha[:, :, None]) * region).astype(
        np.uint8
    )
    return encode_jpeg(out)


def subject_mask(pixels: np.ndarray, faces: list[FaceBox]) -> np.ndarray:
    """A soft 0..1 mask of the subject, by GrabCut seeded from the faces.

    The rectangle runs from above the faces down to the bottom edge (bodies hang below
    faces); without faces the centre of the picture is taken as the subject.
    """
    height, width = pixels.shape[:2]
    scale = min(1.0, 320 / max(height, width))
    small = cv2.resize(pixels, (max(1, int(width * scale)), max(1, int(height * scale))))
    sh, sw = small.shape[:2]
    mask = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    # One probable-foreground column per face (a body hangs below each face), so that
    # several people do not merge into one rectangle that swallows the scene between them.
    # Shoulders reach about 1.5 face widths each side of the face.
    columns = [(f.x - 1.5 * f.w, f.x + 2.5 * f.w, f.y - 0.4 * f.h) for f in faces]
    if not columns:
        columns = [(width * 0.2, width * 0.8, height * 0.12)]
    for left, right, top in columns:
        x0, x1 = max(1, int(left * scale)), min(sw - 1, int(right * scale))
        mask[max(1, int(top * scale)) : sh, x0:x1] = cv2.GC_PR_FGD
    for f in faces:
        fx, fy = int(f.x * scale), int(f.y * scale)
        mask[fy : fy + int(f.h * scale), fx : fx + int(f.w * scale)] = cv2.GC_FGD
        # The neck and chest right below a face are the subject too: anchoring them keeps
        # GrabCut from giving the body away to a background of similar colour.
        chest_top, chest_bottom = fy + int(f.h * scale), min(sh, fy + int(2.2 * f.h * scale))
        cx0, cx1 = int((f.x + 0.2 * f.w) * scale), int((f.x + 0.8 * f.w) * scale)
        mask[chest_top:chest_bottom, cx0:cx1] = cv2.GC_FGD
    try:
        # GrabCut seeds its GMMs with k-means++ on OpenCV's thread-local RNG: reseed it so
        # the same picture always gives the same mask.
        cv2.setRNGSeed(1234)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(small, mask, (0, 0, 0, 0), bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
        hard = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    except cv2.error:
        hard = (mask != cv2.GC_BGD).astype(np.float32)
    soft = cv2.GaussianBlur(cv2.resize(hard, (width, height)), (0, 0), 2.0)
    return np.clip(soft, 0.0, 1.0)


def _background(width: int, height: int, theme: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, _stable(theme)])
    hue = _stable(theme) % 180
    hsv = np.array(
        [
            [[hue, 160, 230]],
            [[(hue + 20 + rng.integers(0, 30)) % 180, 200, 90 + rng.integers(0, 60)]],
        ],
        np.uint8,
    )
    top, bottom = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).reshape(2, 3).astype(np.float32)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    canvas = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1)
    canvas = np.ascontiguousarray(canvas.astype(np.uint8))
    style = _stable(theme.split(":")[0]) % 3
    for _ in range(int(rng.integers(6, 14))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(max(2, width // 30), max(3, width // 6)))
        if style == 0:
            cv2.circle(canvas, (cx, cy), size, color, -1, cv2.LINE_AA)
        elif style == 1:
            cv2.rectangle(canvas, (cx, cy), (cx + size, cy + 2 * size), color, -1)
        else:
            cv2.line(canvas, (cx - size, cy - size), (cx + size, cy + size), color, 6)
    return cv2.GaussianBlur(canvas, (0, 0), 3.0)


def render_background(
    pixels: np.ndarray,
    mask: np.ndarray,
    theme: str,
    seed: int,
    *,
    relight_strength: float = 1.0,
    strength: float = 1.0,
) -> bytes:
    """Put the subject (``mask``) on a drawn background themed by ``theme``.

    Args:
        pixels: The original BGR picture.
        mask: The subject mask (0..1) from :func:`subject_mask`.
        theme: ``category:value`` of the keyword, or the prompt.
        seed: Varies shapes and colours.
        relight_strength: 0 leaves the subject as it was; 1 tints it fully toward the
            background's mean colour.
        strength: How much the new background replaces the old one.
    """
    height, width = pixels.shape[:2]
    original = pixels.astype(np.float32)
    backdrop = _background(width, height, theme, seed).astype(np.float32)
    backdrop = strength * backdrop + (1 - strength) * original
    light = backdrop.reshape(-1, 3).mean(axis=0)
    luminance = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY).astype(np.float32)[:, :, None] / 255
    lit = np.clip(luminance * light * 1.6, 0, 255)
    weight = 0.6 * relight_strength
    subject = (1 - weight) * original + weight * lit
    alpha = mask[:, :, None]
    out = alpha * subject + (1 - alpha) * backdrop
    return encode_jpeg(np.clip(out, 0, 255).astype(np.uint8))
