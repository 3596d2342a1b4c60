"""Per-account server state: images, references, generations, notifications, result files.

One lock guards it all; lifetimes (24 h images, 600 s notifications) run on the virtual
clock and are enforced lazily, on access.
"""

from __future__ import annotations

import hashlib
import heapq
import random
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from piktid_prefect.emulator.clock import VirtualClock
from piktid_prefect.emulator.config import EmulatorConfig
from piktid_prefect.emulator.detect import FaceBox
from piktid_prefect.emulator.problems import ApiError
from piktid_prefect.emulator.stats import GenerationKey, GenerationRecord, StatsRecorder

__all__ = ["Generation", "ImageRecord", "Store"]


@dataclass
class ImageRecord:
    """An uploaded target."""

    id: str
    owner: str
    pixels: np.ndarray
    faces: list[FaceBox]
    persons: list[dict[str, Any]]
    expires_at: float
    # Earliest virtual time a person's mask warm-up is (or will be) done.
    warm_ready: dict[int, float] = field(default_factory=dict)
    subject_mask: np.ndarray | None = None
    # Several backgrounds of one image render at once: the mask is made once.
    mask_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # SuperID uploads belong to a project; the other uploads to none.
    project_id: str | None = None


@dataclass
class Generation:
    """A started (and charged) generation, waiting for its due time."""

    id: int
    owner: str
    kind: str  # person | background
    image: ImageRecord
    person_id: int | None
    keyword_json: str | None
    keyword: dict[str, str] | None
    prompt: str
    seed: int
    options: dict[str, Any]
    started_at: float
    due_at: float
    warmup_paid: bool
    files_url: str
    faults: frozenset[str] = frozenset()
    # What a product needs besides the image (scale factor, identity, ...).
    payload: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The result, drawn while the generation runs (see EmulatorEngine.prerender).
    rendered: Future[bytes] | None = field(default=None, compare=False, repr=False)

    def __lt__(self, other: Generation) -> bool:
        return (self.due_at, self.id) < (other.due_at, other.id)


@dataclass
class _Notification:
    id: int
    owner: str
    name: str
    created_at: float
    timestamp: float
    data: dict[str, Any]
    generation_id: int | None = None


class Store:
    """Thread-safe state of every account except credentials.

    Args:
        clock: The virtual clock.
        config: The emulator configuration (read at each use, so it may change).
        recorder: Where events are counted.
    """

    def __init__(
        self, clock: VirtualClock, config: EmulatorConfig, recorder: StatsRecorder
    ) -> None:
        self._clock = clock
        self._config = config
        self._recorder = recorder
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._images: dict[str, ImageRecord] = {}
        self._references: dict[str, str] = {}
        self._queue: list[Generation] = []
        self._next_generation = 1
        self._next_notification = 1
        self._notifications: dict[int, _Notification] = {}
        self._last_poll: dict[str, float] = {}
        self._files: dict[str, tuple[bytes, float]] = {}
        # Where the emulator drew faces in its own results, by the file's SHA-256 (see
        # faces_of_result): its drawn faces are no photos a cascade can find again.
        self._result_faces: dict[str, tuple[str, list[FaceBox]]] = {}

    # --- images and references ---------------------------------------------------------

    def add_image(
        self,
        owner: str,
        pixels: np.ndarray,
        faces: list[FaceBox],
        persons: list[dict[str, Any]],
        *,
        with_project: bool = False,
    ) -> ImageRecord:
        """Store an upload (in a new SuperID project if asked); it expires
        ``image_ttl_seconds`` later."""
        with self._lock:
            image_id = f"{self._rng.getrandbits(96):024x}"
            record = ImageRecord(
                id=image_id,
                owner=owner,
                pixels=pixels,
                faces=faces,
                persons=persons,
                expires_at=self._clock.now() + self._config.image_ttl_seconds,
                project_id=f"{self._rng.getrandbits(48):012x}" if with_project else None,
            )
            self._images[image_id] = record
            return record

    def image(self, owner: str, image_id: str) -> ImageRecord:
        """The owner's image, or 405 like the real API for an invalid or expired id."""
        with self._lock:
            record = self._images.get(str(image_id))
            if record is not None and record.expires_at <= self._clock.now():
                del self._images[record.id]
                record = None
            if record is None or record.owner != owner:
                raise ApiError(405, f"The image {image_id!r} is expired or unknown")
            return record

    def add_reference(self, owner: str) -> str:
        """Register a style reference and return its name."""
        with self._lock:
            name = f"{self._rng.getrandbits(64):016x}"
            self._references[name] = owner
            return name

    def has_reference(self, owner: str, name: str) -> bool:
        """Whether ``name`` is one of the owner's references."""
        with self._lock:
            return self._references.get(name) == owner

    def random_seed(self) -> int:
        """A server-picked seed (the request had none)."""
        with self._lock:
            return self._rng.randint(0, 1_000_000)

    # --- generations ------------------------------------------------------------------

    def schedule(
        self,
        *,
        owner: str,
        kind: str,
        image: ImageRecord,
        person_id: int | None,
        keyword: dict[str, str] | None,
        keyword_json: str | None,
        prompt: str,
        seed: int | None,
        options: dict[str, Any],
        files_url: str,
        faults: frozenset[str],
        duration_seconds: float | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Generation:
        """Queue a charged generation; it is due after the generation latency.

        The first generation of an (image, person) also builds the person's masks. A call
        that starts while no warm-up has finished yet pays its own, which is why the docs
        ask for a 15 s stagger between the first call and the others.
        """
        effective_seed = self.random_seed() if seed is None else seed
        with self._lock:
            now = self._clock.now()
            warmup = False
            # Only person generations build masks (an identity swap's person_id is a face).
            if kind == "person" and person_id is not None:
                ready = image.warm_ready.get(person_id)
                if ready is None or ready > now:
                    warmup = True
                    finish = now + self._config.mask_warmup_seconds
                    image.warm_ready[person_id] = finish if ready is None else min(ready, finish)
            duration = self._config.generation_seconds
            if duration_seconds is not None:
                duration = duration_seconds
            if warmup:
                duration += self._config.mask_warmup_seconds
            generation = Generation(
                id=self._next_generation,
                owner=owner,
                kind=kind,
                image=image,
                person_id=person_id,
                keyword_json=keyword_json,
                keyword=keyword,
                prompt=prompt,
                seed=effective_seed,
                options=options,
                started_at=now,
                due_at=now + duration,
                warmup_paid=warmup,
                files_url=files_url,
                faults=faults,
                payload=payload or {},
            )
            self._next_generation += 1
            heapq.heappush(self._queue, generation)
        key = GenerationKey(kind, image.id, person_id, keyword_json, prompt, seed)
        self._recorder.generation(
            GenerationRecord(
                id=generation.id,
                email=owner,
                key=key,
                seed=effective_seed,
                started_at=generation.started_at,
                due_at=generation.due_at,
                warmup_paid=warmup,
                options=dict(options),
            )
        )
        return generation

    def pop_due(self) -> list[Generation]:
        """Remove and return the generations whose due time has come."""
        with self._lock:
            now = self._clock.now()
            due = []
            while self._queue and self._queue[0].due_at <= now:
                due.append(heapq.heappop(self._queue))
            return due

    def next_due(self) -> float | None:
        """Virtual time of the next due generation, if any."""
        with self._lock:
            return self._queue[0].due_at if self._queue else None

    # --- result files -----------------------------------------------------------------

    def add_file(
        self, data: bytes, suffix: str = ".jpg", faces: list[FaceBox] | None = None
    ) -> str:
        """Store a result (and the faces in it) and return its file name."""
        with self._lock:
            name = f"{self._rng.getrandbits(96):024x}{suffix}"
            self._files[name] = (data, self._clock.now() + self._config.result_ttl_seconds)
            if faces:
                self._result_faces[hashlib.sha256(data).hexdigest()] = (name, faces)
            return name

    def faces_of_result(self, data: bytes) -> list[FaceBox] | None:
        """The faces of one of the emulator's own results uploaded again as is, else None.

        A real result has a real face that detection finds again; the emulator's drawn one
        would be missed, and a chained upload (an edit's result to a swap) would find none.
        """
        with self._lock:
            entry = self._result_faces.get(hashlib.sha256(data).hexdigest())
            return None if entry is None or entry[0] not in self._files else list(entry[1])

    def file(self, name: str) -> bytes | None:
        """A result file's bytes, if it exists."""
        with self._lock:
            entry = self._files.get(name)
            if entry is None or entry[1] <= self._clock.now():
                return None
            return entry[0]

    # --- notifications ----------------------------------------------------------------

    def notify(
        self,
        owner: str,
        name: str,
        data: dict[str, Any],
        copies: int = 1,
        generation_id: int | None = None,
    ) -> list[int]:
        """Create ``copies`` notifications with the same data; return their ids."""
        with self._lock:
            now = self._clock.now()
            ids = []
            for _ in range(copies):
                note = _Notification(
                    self._next_notification,
                    owner,
                    name,
                    now,
                    # Real time, not virtual: a client ages notifications by it.
                    self._clock.wall_clock(),
                    data,
                    generation_id,
                )
                self._notifications[note.id] = note
                self._next_notification += 1
                ids.append(note.id)
        self._recorder.notification(owner, "created", copies)
        return ids

    def check_poll(self, owner: str) -> float | None:
        """API-seconds to wait if ``owner`` polls too fast, else None (and count the poll)."""
        with self._lock:
            now = self._clock.now()
            last = self._last_poll.get(owner)
            interval = self._config.poll_min_interval_seconds
            if last is not None and now - last < interval:
                return interval - (now - last)
            self._last_poll[owner] = now
            return None

    def notifications(
        self, owner: str, names: set[str], image_id: str | None
    ) -> list[dict[str, Any]]:
        """The owner's live notifications with one of ``names`` (and ``image_id``), by id."""
        self.purge()
        with self._lock:
            notes = [
                n
                for n in self._notifications.values()
                if n.owner == owner
                and n.name in names
                and (image_id is None or _image_of(n.data) == str(image_id))
            ]
            now = self._clock.now()
        self._recorder.seen([n.generation_id for n in notes if n.generation_id is not None], now)
        return [
            {"id": n.id, "name": n.name, "timestamp": n.timestamp, "data": dict(n.data)}
            for n in sorted(notes, key=lambda n: n.id)
        ]

    def delete_notification(self, owner: str, notification_id: int) -> bool:
        """Delete one of the owner's notifications; False if unknown or expired."""
        self.purge()
        with self._lock:
            note = self._notifications.get(notification_id)
            if note is None or note.owner != owner:
                return False
            del self._notifications[notification_id]
        self._recorder.notification(owner, "deleted")
        return True

    def purge(self) -> None:
        """Drop expired notifications, images and result files."""
        with self._lock:
            now = self._clock.now()
            ttl = self._config.notification_ttl_seconds
            expired = [n for n in self._notifications.values() if now - n.created_at >= ttl]
            for note in expired:
                del self._notifications[note.id]
            for image_id in [i for i, r in self._images.items() if r.expires_at <= now]:
                del self._images[image_id]
            for name in [n for n, (_, until) in self._files.items() if until <= now]:
                del self._files[name]
            for digest in [d for d, (n, _) in self._result_faces.items() if n not in self._files]:
                del self._result_faces[digest]
        for note in expired:
            self._recorder.notification(note.owner, "expired")


def _image_of(data: dict[str, Any]) -> str:
    # Edit notifications name the image ``address``; superid and download ``id_image``.
    return str(data.get("address", data.get("id_image")))
