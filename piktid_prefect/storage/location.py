"""Where a run's outputs go: a local folder, or ``out_dir`` inside a storage block.

Outputs used to land in a local ``out_dir`` of whichever worker ran the flow. An
:class:`OutputLocation` is the same folder anywhere: images, the manifest's entries and
its compacted ``manifest.json`` are written whole (a temporary file renamed over the
target locally; one PUT in an object store), and :meth:`OutputLocation.uri` says where
each one is, for artifacts.

Example:
    ```python
    from prefect import flow
    from piktid_prefect.storage import open_output_location

    @flow
    def deliver(records, images):
        out = open_output_location("studio/2026-12", "studio-bucket")  # a saved S3Bucket
        for record, data in zip(records, images):
            record.path = out.write_image(record.path, data)
            out.manifest.record_output(record)
        out.manifest.compact()
    ```
"""

from __future__ import annotations

import os
import posixpath
from typing import Any

from prefect.blocks.core import Block

from piktid_prefect.storage._backends import Backend, LocalBackend, backend_for
from piktid_prefect.storage.manifest_log import MANIFEST_NAME, ManifestLog
from piktid_prefect.wire.errors import InvalidConfiguration

__all__ = ["OutputLocation", "open_output_location"]


class OutputLocation:
    """One output folder: images and the manifest, local or in a block."""

    def __init__(self, backend: Backend, *, local: bool) -> None:
        self.backend = backend
        self.local = local
        self.manifest = ManifestLog(backend)

    def write_image(self, name: str, data: bytes) -> str:
        """Write an output image (by its file name) whole; return where it is."""
        filename = posixpath.basename(str(name).replace(os.sep, "/"))
        self.backend.write(filename, data)
        return self.backend.uri(filename)

    def read(self, name: str) -> bytes | None:
        """An object of the location (``None`` if missing), e.g. for a thumbnail."""
        return self.backend.read(name)

    def read_path(self, path: str) -> bytes:
        """The bytes of an output named by the path or URI its record holds (thumbnails).

        Raises:
            FileNotFoundError: There is no such object.
        """
        name = posixpath.basename(str(path).replace(os.sep, "/"))
        data = self.backend.read(name)
        if data is None:
            raise FileNotFoundError(self.uri(name))
        return data

    def image_names(self) -> set[str]:
        """The file names at the top of the location (one listing, nothing read)."""
        return {o.name for o in self.backend.list() if "/" not in o.name}

    def uri(self, name: str = "") -> str:
        """Where ``name`` is (the folder itself when empty)."""
        return self.backend.uri(name) if name else self.backend.uri("").rstrip("/")

    @property
    def manifest_uri(self) -> str:
        """Where the complete ``manifest.json`` is (for artifacts)."""
        return self.backend.uri(MANIFEST_NAME)

    @property
    def local_folder(self) -> str | None:
        """The local folder, for code that still writes files itself (else None)."""
        if isinstance(self.backend, LocalBackend):
            return str(self.backend.root)
        return None


def open_output_location(out_dir: str, storage: Any = None) -> OutputLocation:
    """The output location of a run.

    Args:
        out_dir: A local folder, or a path inside ``storage``.
        storage: None (local), a filesystem block, or a saved block as
            ``"<block-type-slug>/<name>"`` (e.g. ``"s3-bucket/studio"``), as the flows'
            ``output_storage_block``.

    Raises:
        InvalidConfiguration: The block cannot be loaded or cannot list its objects.
    """
    if storage is None:
        return OutputLocation(LocalBackend(out_dir), local=True)
    if isinstance(storage, str):
        try:
            storage = Block.load(storage)
        except (ValueError, RuntimeError) as exc:
            raise InvalidConfiguration(f"Cannot load storage block {storage!r}: {exc}") from exc
    backend = backend_for(storage, out_dir)
    return OutputLocation(backend, local=isinstance(backend, LocalBackend))
