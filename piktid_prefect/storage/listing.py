"""What an inbox holds, from its listing alone: name, size and change token per photo.

Today a scheduled run copies the whole inbox and hashes every file to learn what is new.
A listing already says enough: an object whose ``<name>#<token>`` (its *source key*) is
recorded in the manifest, by an output or a rejection, was settled by an earlier run and
costs nothing now. Only the others are read (:func:`read_entry`), hashed, and — when the
same bytes were settled under another key (a touched file, a copy) — recorded as *seen*
so that the next run skips them too.

Example:
    ```python
    from piktid_prefect.storage import list_images, open_output_location, pending_entries

    entries = list_images(block, "inbox")           # one LIST per 1,000 objects
    view = open_output_location("out", block).manifest.read()
    todo = pending_entries(entries, view, wanted)   # nothing read so far
    ```
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from piktid_prefect.runtime.results import Manifest
from piktid_prefect.storage._backends import Backend, LocalBackend, backend_for

__all__ = [
    "IMAGE_SUFFIXES",
    "Settled",
    "SourceEntry",
    "classify_content",
    "list_images",
    "pending_entries",
    "read_entry",
    "source_key",
    "wanted_pairs",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
Settled = Literal["new", "done", "rejected"]
# One requested output of an image: ("person" | "background", "<Category>=<value>").
Pair = tuple[str, str]


def source_key(name: str, token: str) -> str:
    """``<name>#<token>``: the same object unchanged has the same key in every listing."""
    return f"{name}#{token}"


@dataclass(frozen=True)
class SourceEntry:
    """One image of the inbox, as listed (nothing downloaded)."""

    name: str
    size: int
    token: str
    # Where to read it from; not part of what the entry *is* (equality, repr).
    backend: Backend = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        """The source key recorded in the manifest (empty token: never settled by key)."""
        return source_key(self.name, self.token) if self.token else ""

    @property
    def stem(self) -> str:
        """The file stem, used in output names (as for local files)."""
        return posixpath.splitext(posixpath.basename(self.name))[0]

    @property
    def uri(self) -> str:
        """Where the photo is (for logs and artifacts)."""
        return self.backend.uri(self.name)

    @property
    def local_path(self) -> Path | None:
        """The file itself when the inbox is a local folder (nothing to copy), else None."""
        return self.backend.root / self.name if isinstance(self.backend, LocalBackend) else None


def list_images(storage: Any, folder: str = "", *, recursive: bool = False) -> list[SourceEntry]:
    """The images (by suffix) in ``folder`` of ``storage``, sorted by name.

    Args:
        storage: A local folder (``str``/``PathLike``, then ``folder`` is inside it, or
            ``None`` with ``folder`` the local path), or a Prefect filesystem block
            (``LocalFileSystem``, ``RemoteFileSystem``, prefect-aws ``S3Bucket``).
        folder: The inbox inside ``storage``.
        recursive: Include sub-folders (a local inbox has always meant its top level).
    """
    backend = backend_for(storage, folder)
    return [
        SourceEntry(o.name, o.size, o.token, backend)
        for o in backend.list()
        if posixpath.splitext(o.name)[1].lower() in IMAGE_SUFFIXES
        and (recursive or "/" not in o.name)
    ]


def read_entry(entry: SourceEntry) -> bytes:
    """The photo's bytes (one GET).

    Raises:
        FileNotFoundError: It was deleted since the listing.
    """
    data = entry.backend.read(entry.name)
    if data is None:
        raise FileNotFoundError(entry.uri)
    return data


def wanted_pairs(
    person_keywords: Sequence[Mapping[str, str]],
    background_keywords: Sequence[Mapping[str, str]],
) -> set[Pair]:
    """The outputs asked of every image, as (kind, "Category=value") pairs."""
    return {("person", "=".join(p)) for k in person_keywords for p in k.items()} | {
        ("background", "=".join(p)) for k in background_keywords for p in k.items()
    }


@dataclass(frozen=True)
class _Index:
    done: dict[str, set[Pair]]  # image sha256 -> outputs made
    rejected: set[str]  # image sha256
    by_key: dict[str, str]  # source key -> image sha256


def _index(manifest: Manifest, seen: Mapping[str, str]) -> _Index:
    done: dict[str, set[Pair]] = {}
    by_key = dict(seen)
    for record in manifest.outputs:
        for pair in record.keyword.items():
            done.setdefault(record.image_sha256, set()).add((record.kind, "=".join(pair)))
        if record.source_key:
            by_key[record.source_key] = record.image_sha256
    for rejected in manifest.rejected.values():
        if rejected.source_key:
            by_key[rejected.source_key] = rejected.sha256
    return _Index(done, set(manifest.rejected), by_key)


def _settled(index: _Index, sha256: str, wanted: set[Pair]) -> Settled:
    if sha256 in index.rejected:
        return "rejected"
    return "done" if wanted <= index.done.get(sha256, set()) else "new"


def pending_entries(
    entries: Iterable[SourceEntry],
    manifest: Manifest,
    wanted: set[Pair],
    seen: Mapping[str, str] | None = None,
) -> list[SourceEntry]:
    """The entries to read: those whose source key does not settle them.

    An entry is settled without reading when its key maps (through an output, a
    rejection, or ``seen``) to an image hash that has every ``wanted`` output or was
    rejected. A changed object has a new token, hence a new key: it is read again.
    """
    index = _index(manifest, seen or {})
    todo = []
    for entry in entries:
        sha256 = index.by_key.get(entry.key) if entry.key else None
        if sha256 is None or _settled(index, sha256, wanted) == "new":
            todo.append(entry)
    return todo


def classify_content(
    data: bytes, manifest: Manifest, wanted: set[Pair], seen: Mapping[str, str] | None = None
) -> tuple[str, Settled]:
    """The bytes' sha256, and whether that content was already done or rejected.

    For an entry :func:`pending_entries` had to read: "done"/"rejected" means the same
    bytes were settled under another key; record it with
    :meth:`~piktid_prefect.storage.manifest_log.ManifestLog.record_seen` and move on.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    return sha256, _settled(_index(manifest, seen or {}), sha256, wanted)
