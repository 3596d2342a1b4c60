"""Eight distinct three-person photos made from the bundled ``group_of_three.jpg``.

Each variant is a crop, a mirror image or a brightness/contrast/colour change of the real
photo: the bytes (and so the content hash the flows key outputs on) all differ, while the
three faces stay detectable and sharp. ``run.py`` checks that against the emulator's own
upload answer before measuring anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from piktid_prefect.demo import sample_images

__all__ = ["make_images", "sha256_of"]

Variant = Callable[[Image.Image], Image.Image]


def _variants(width: int, height: int) -> list[tuple[str, Variant]]:
    return [
        ("original", lambda im: im),
        ("mirror", ImageOps.mirror),
        ("brighter", lambda im: ImageEnhance.Brightness(im).enhance(1.10)),
        ("darker", lambda im: ImageEnhance.Brightness(im).enhance(0.90)),
        ("crop", lambda im: im.crop((10, 10, width - 10, height - 10))),
        ("mirror-bright", lambda im: ImageEnhance.Brightness(ImageOps.mirror(im)).enhance(1.05)),
        ("contrast", lambda im: ImageEnhance.Contrast(im).enhance(1.10)),
        ("crop-mirror", lambda im: ImageOps.mirror(im.crop((20, 0, width, height - 16)))),
        ("muted", lambda im: ImageEnhance.Color(im).enhance(0.80)),
    ]


def make_images(folder: Path, count: int, *, scale: float = 1.0) -> list[Path]:
    """Write ``count`` distinct JPEG variants into ``folder``; ``scale`` < 1 shrinks them.

    Beyond the nine named variants, later images repeat one with a slightly different
    JPEG quality (still a distinct hash), which the memory runs use for 25+ images.
    """
    base = next(p for p in sample_images() if p.stem == "group_of_three")
    with Image.open(base) as original:
        photo = original.convert("RGB")
    if scale != 1.0:
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    variants = _variants(photo.width, photo.height)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        name, variant = variants[index % len(variants)]
        quality = 92 - index // len(variants)
        path = folder / f"group-{index:03d}-{name}.jpg"
        variant(photo).save(path, format="JPEG", quality=quality)
        paths.append(path)
    hashes = {sha256_of(p) for p in paths}
    if len(hashes) != len(paths):
        raise RuntimeError("Two benchmark images have the same content hash")
    return paths


def sha256_of(path: Path) -> str:
    """Content hash of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
