"""Small builders shared by the storage tests."""

from __future__ import annotations

import hashlib
from typing import Any

from piktid_prefect.runtime.results import OutputRecord

LINK = "https://results.example/" + "x" * 180  # result links are long signed URLs


def record(
    image: str,
    keyword: str = "Oceania",
    *,
    image_sha256: str | None = None,
    source_key: str = "",
    kind: str = "person",
    path: str | None = None,
) -> OutputRecord:
    """An output of ``image`` for one keyword, as the flows would record it."""
    category = "Location" if kind == "person" else "Background"
    name = f"{image}_p0_{keyword.lower()}_s1.jpg"
    fields: dict[str, Any] = {
        "path": path or name,
        "id_image": "img-" + image,
        "image": image,
        "image_sha256": image_sha256 or hashlib.sha256(image.encode()).hexdigest(),
        "kind": kind,
        "person": 0 if kind == "person" else None,
        "keyword": {category: keyword},
        "seed": 1,
        "link": LINK,
        "seconds": 12.5,
        "sha256": hashlib.sha256(name.encode()).hexdigest(),
        "source_key": source_key,
    }
    return OutputRecord(**fields)
