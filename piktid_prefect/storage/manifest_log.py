"""``manifest.json`` that two workers can add to at once without losing an entry.

One JSON file rewritten by every run is last-writer-wins: two workers that read it, add
their outputs and write it back lose one side. Here every fact is its own small object,
written whole by whoever learnt it, under a name derived from the fact itself:

    manifest.d/o-<hash of the output file name>.json   an OutputRecord
    manifest.d/r-<image sha256>.json                   a RejectedImage
    manifest.d/s-<hash of the source key>.json         {"source_key", "sha256"}: seen

Two workers writing the same fact write the same name (same output, same content):
nothing is duplicated. ``manifest.json`` stays, as a *compacted view* rebuilt from the
entries (:meth:`ManifestLog.compact`), and lists the entry names it includes, so a
reader fetches the view plus only the entries written since (one LIST of
``manifest.d/`` per 1,000 entries, no GET per entry). Entries are never deleted: a
compaction racing another loses nothing, since what one view lacks is still an entry.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from piktid_prefect.runtime.credits import CreditSummary
from piktid_prefect.runtime.results import Manifest, OutputRecord, RejectedImage
from piktid_prefect.storage._backends import Backend

__all__ = ["ENTRIES_FOLDER", "MANIFEST_NAME", "ManifestLog", "ManifestView"]

MANIFEST_NAME = "manifest.json"
ENTRIES_FOLDER = "manifest.d"
# Entries written since the last compaction are fetched a few at once (object stores
# answer each GET in a round trip; 8 keep 2 cores busy without a thread per entry).
_READ_THREADS = 8


@dataclass
class ManifestView:
    """The compacted manifest merged with every entry: what the output location holds."""

    manifest: Manifest = field(default_factory=Manifest)
    seen: dict[str, str] = field(default_factory=dict)
    entries: set[str] = field(default_factory=set)

    def copy(self) -> ManifestView:
        """A copy that reading more entries into leaves this one as it is."""
        return ManifestView(self.manifest, dict(self.seen), set(self.entries))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def output_entry_name(record: OutputRecord) -> str:
    """The entry of an output: one per output file name in the location."""
    return f"{ENTRIES_FOLDER}/o-{_digest(posixpath.basename(record.path))}.json"


class ManifestLog:
    """The manifest of one output location (see the module docstring)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # --- writing facts ---------------------------------------------------------------

    def record_output(self, record: OutputRecord) -> str:
        """Write ``record``'s entry (by the worker that delivered it); return its name."""
        name = output_entry_name(record)
        self.backend.write(name, record.model_dump_json().encode())
        return name

    def record_outputs(self, records: Iterable[OutputRecord]) -> list[str]:
        """:meth:`record_output` for each record."""
        return [self.record_output(record) for record in records]

    def record_rejected(self, rejected: RejectedImage) -> str:
        """Write a skipped image's entry (same bytes are not tried again)."""
        name = f"{ENTRIES_FOLDER}/r-{rejected.sha256}.json"
        self.backend.write(name, rejected.model_dump_json().encode())
        return name

    def record_seen(self, source_key: str, sha256: str) -> str:
        """A source object read once whose content was already settled (a touched file)."""
        name = f"{ENTRIES_FOLDER}/s-{_digest(source_key)}.json"
        body = json.dumps({"source_key": source_key, "sha256": sha256})
        self.backend.write(name, body.encode())
        return name

    # --- reading ---------------------------------------------------------------------

    def read(self, since: ManifestView | None = None) -> ManifestView:
        """The compacted view plus every entry written since it (merged by output path).

        Args:
            since: A view this run already read: only entries it lacks are fetched, and
                ``manifest.json`` is not read again (it is the large part: ~800 bytes
                per output).
        """
        view = self._compacted() if since is None else since.copy()
        names = [o.name for o in self.backend.list(ENTRIES_FOLDER)]
        fresh = sorted(n for n in names if n.endswith(".json") and n not in view.entries)
        if not fresh:
            return view
        with ThreadPoolExecutor(min(_READ_THREADS, len(fresh))) as pool:
            bodies = list(pool.map(self.backend.read, fresh))
        outputs = {r.path: r for r in view.manifest.outputs}
        rejected = dict(view.manifest.rejected)
        for name, body in zip(fresh, bodies, strict=True):
            if body is not None and _apply(name, body, outputs, rejected, view.seen):
                view.entries.add(name)
        view.manifest = _settle(outputs.values(), rejected, view.manifest.credits)
        return view

    def _compacted(self) -> ManifestView:
        body = self.backend.read(MANIFEST_NAME)
        if body is None:
            return ManifestView()
        try:
            raw = json.loads(body)
            manifest = Manifest.model_validate(raw)
        except (ValueError, ValidationError):
            # A damaged view is rebuilt from the entries; nothing in it is only there.
            return ManifestView()
        seen = {str(k): str(v) for k, v in dict(raw.get("seen") or {}).items()}
        return ManifestView(manifest, seen, {str(n) for n in raw.get("entries") or []})

    # --- the compacted view ------------------------------------------------------------

    def compact(
        self, credits: CreditSummary | None = None, since: ManifestView | None = None
    ) -> ManifestView:
        """Rebuild ``manifest.json`` from the view and the entries, write it whole.

        Args:
            credits: What the run that compacts spent (kept from the view if None).
            since: The view the run read at its start (see :meth:`read`): entries are
                never deleted, so whatever another worker wrote since is still fetched.
        """
        view = self.read(since)
        if credits is not None:
            view.manifest = view.manifest.model_copy(update={"credits": credits})
        body: dict[str, Any] = view.manifest.model_dump(mode="json")
        body["seen"] = dict(sorted(view.seen.items()))
        body["entries"] = sorted(view.entries)
        self.backend.write(MANIFEST_NAME, json.dumps(body, indent=2).encode())
        return view

    def uri(self) -> str:
        """Where ``manifest.json`` is."""
        return self.backend.uri(MANIFEST_NAME)


def _apply(
    name: str,
    body: bytes,
    outputs: dict[str, OutputRecord],
    rejected: dict[str, RejectedImage],
    seen: dict[str, str],
) -> bool:
    kind = posixpath.basename(name)[:2]
    try:
        if kind == "o-":
            record = OutputRecord.model_validate_json(body)
            outputs[record.path] = record
        elif kind == "r-":
            skipped = RejectedImage.model_validate_json(body)
            rejected[skipped.sha256] = skipped
        elif kind == "s-":
            raw = json.loads(body)
            seen[str(raw["source_key"])] = str(raw["sha256"])
        else:
            return False
    except (ValueError, KeyError, TypeError):
        return False  # not ours, or cut short by hand: read again next time
    return True


def _settle(
    outputs: Iterable[OutputRecord],
    rejected: dict[str, RejectedImage],
    credits: CreditSummary | None,
) -> Manifest:
    # As Manifest.merged: an image that now has outputs is no longer rejected.
    records: Sequence[OutputRecord] = sorted(outputs, key=lambda r: r.path)
    hashes = {r.image_sha256 for r in records}
    names = {r.image for r in records}
    kept = {h: r for h, r in rejected.items() if h not in hashes and r.image not in names}
    return Manifest(outputs=list(records), rejected=kept, credits=credits)
