"""The faces uploaded to ``/consistent_identities/upload_face``, per account and name."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import numpy as np

from piktid_prefect.emulator.detect import FaceBox
from piktid_prefect.emulator.problems import ApiError

__all__ = ["IdentityBook", "IdentityRecord"]


@dataclass(frozen=True)
class IdentityRecord:
    """An identity's face; ``face`` is None when none was detected (a tight crop): then
    the whole picture is the face."""

    name: str
    pixels: np.ndarray = field(repr=False)
    face: FaceBox | None


class IdentityBook:
    """Thread-safe identities; uploading under a name again replaces it.

    Args:
        seed: Seed of the names made for identities uploaded without one.
    """

    def __init__(self, seed: int | None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._identities: dict[tuple[str, str], IdentityRecord] = {}

    def add(self, owner: str, name: str | None, pixels: np.ndarray, face: FaceBox | None) -> str:
        """Store (or replace) an identity; return its name (one is made if None)."""
        with self._lock:
            name = name or f"identity-{self._rng.getrandbits(48):012x}"
            self._identities[(owner, name)] = IdentityRecord(name, pixels, face)
            return name

    def get(self, owner: str, name: str) -> IdentityRecord:
        """One of the owner's identities, or a 400 answer."""
        with self._lock:
            record = self._identities.get((owner, name))
        if record is None:
            hint = "upload it to /consistent_identities/upload_face"
            raise ApiError(400, f"Unknown identity_name {name!r}: {hint}")
        return record
