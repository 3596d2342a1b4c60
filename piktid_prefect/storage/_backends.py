"""Three ways to reach a folder of objects: a local directory, fsspec, an S3 client.

Every backend lists a folder with what a listing already carries (name, size, a change
token) and reads or writes one object whole. Nothing here downloads to find out whether
something changed: that is the point of issue 22 (5,000 photos copied every 15 minutes
to learn that nothing changed).

Blocks are recognised by what they can do, not by importing their packages: prefect-aws's
``S3Bucket`` is any block with a ``bucket_name`` and ``credentials.get_s3_client()``, so
this module never imports ``prefect_aws`` (nor ``s3fs``).
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from prefect.filesystems import LocalFileSystem

from piktid_prefect.wire.errors import InvalidConfiguration

__all__ = ["Backend", "ObjectInfo", "backend_for"]

# list_objects_v2 answers at most 1,000 keys a page: the page size that costs fewest calls.
_S3_PAGE_SIZE = 1000


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its name under the folder, its size, and a change token.

    ``token`` changes whenever the content may have: an ETag or version for object
    stores, ``<mtime_ns>-<size>`` for files. Empty when the backend offers none (then
    the object is always read to find out).
    """

    name: str
    size: int
    token: str


class Backend(Protocol):
    """A folder of objects, read and written whole."""

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object under ``prefix`` (recursively), names relative to the folder."""
        ...

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None if there is no such object."""
        ...

    def write(self, name: str, data: bytes) -> None:
        """Write the object whole: a reader sees the old or the new bytes, never a part."""
        ...

    def uri(self, name: str) -> str:
        """Where the object is, for people (artifacts, logs)."""
        ...


class LocalBackend:
    """A local directory; writes go through a temporary file renamed over the target."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        found = []
        for path in _walk_files(base):
            stat = path.stat()
            name = path.relative_to(self.root).as_posix()
            found.append(ObjectInfo(name, stat.st_size, f"{stat.st_mtime_ns}-{stat.st_size}"))
        return sorted(found, key=lambda o: o.name)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def uri(self, name: str) -> str:
        return str(self.root / name)


def _walk_files(base: Path) -> Iterator[Path]:
    for folder, _dirs, files in os.walk(base):
        for file in files:
            # Temporary files of a write in progress (ours, and hidden files generally).
            if not file.startswith("."):
                yield Path(folder, file)


class S3Backend:
    """A prefix of an S3 bucket through a boto3 client (one LIST per 1,000 keys).

    Pickles without its client (boto3 clients do not pickle: Dask workers, Prefect
    results); the client is made again from the block's credentials on first use.
    """

    def __init__(self, block: Any, bucket: str, prefix: str) -> None:
        self.block = block
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client: Any = None

    @property
    def client(self) -> Any:
        # prefect-aws caches one client per credentials (thread-safe, as boto3's are).
        if self._client is None:
            self._client = self.block.credentials.get_s3_client()
        return self._client

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def _key(self, name: str) -> str:
        return posixpath.join(self.prefix, name) if self.prefix else name

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        start = self._key(prefix).rstrip("/") + "/" if (self.prefix or prefix) else ""
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=start, PaginationConfig={"PageSize": _S3_PAGE_SIZE}
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = str(item["Key"])[len(self.prefix) + 1 if self.prefix else 0 :]
                token = str(item.get("VersionId") or item.get("ETag") or "").strip('"')
                found.append(ObjectInfo(name, int(item.get("Size", 0)), token))
        return found

    def read(self, name: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise
        return bytes(answer["Body"].read())

    def write(self, name: str, data: bytes) -> None:
        # One PutObject: S3 makes an object visible whole or not at all.
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def uri(self, name: str) -> str:
        return f"s3://{self.bucket}/{self._key(name)}"


def _is_missing(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code", "")) in {"NoSuchKey", "404", "NotFound"}


class FsspecBackend:
    """A folder of any fsspec filesystem (what Prefect's ``RemoteFileSystem`` wraps)."""

    _TOKEN_FIELDS = ("VersionId", "ETag", "etag", "generation", "md5Hash", "checksum")
    _TIME_FIELDS = ("mtime", "LastModified", "last_modified", "updated", "created")

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.protocol = root.split("://", 1)[0] if "://" in root else ""
        self.root = fs._strip_protocol(root).rstrip("/")

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        base = posixpath.join(self.root, prefix) if prefix else self.root
        # s3fs and friends cache listings: a scheduled run must see this minute's objects.
        self.fs.invalidate_cache(base)
        if not self.fs.exists(base):
            return []
        found = []
        for path, info in self.fs.find(base, detail=True).items():
            name = str(path)[len(self.root) + 1 :]
            if info.get("type", "file") != "file" or posixpath.basename(name).startswith("."):
                continue
            found.append(ObjectInfo(name, int(info.get("size") or 0), self._token(info)))
        return sorted(found, key=lambda o: o.name)

    def _token(self, info: dict[str, Any]) -> str:
        for field in (*self._TOKEN_FIELDS, *self._TIME_FIELDS):
            value = info.get(field)
            if value not in (None, ""):
                size = info.get("size") or 0
                return f"{value}".strip('"') + ("" if field in self._TOKEN_FIELDS else f"-{size}")
        return ""

    def read(self, name: str) -> bytes | None:
        try:
            return bytes(self.fs.cat_file(posixpath.join(self.root, name)))
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        path = posixpath.join(self.root, name)
        if self.protocol in ("", "file", "local"):
            # A local fsspec path: the same atomic rename as LocalBackend.
            LocalBackend(self.root).write(name, data)
            return
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        self.fs.pipe_file(path, data)

    def uri(self, name: str) -> str:
        path = posixpath.join(self.root, name)
        return f"{self.protocol}://{path}" if self.protocol not in ("", "file") else path


def _is_s3_bucket_block(block: Any) -> bool:
    credentials = getattr(block, "credentials", None)
    return hasattr(block, "bucket_name") and callable(getattr(credentials, "get_s3_client", None))


def backend_for(storage: Any, folder: str = "") -> Backend:
    """The backend of ``folder`` in ``storage``: a local path (str/PathLike) or a block.

    Blocks: Prefect's ``LocalFileSystem`` and ``RemoteFileSystem``, prefect-aws's
    ``S3Bucket`` (its ``bucket_folder`` comes first), or any block exposing an fsspec
    ``filesystem`` and a ``basepath``.

    Raises:
        InvalidConfiguration: The block cannot list objects.
    """
    folder = str(folder).strip("/") if storage is not None else str(folder)
    if storage is None or isinstance(storage, (str, os.PathLike)):
        return LocalBackend(Path(storage or "", folder))
    if isinstance(storage, LocalFileSystem):
        return LocalBackend(Path(storage.basepath or ".", folder))
    if _is_s3_bucket_block(storage):
        prefix = posixpath.join(str(getattr(storage, "bucket_folder", "") or ""), folder)
        return S3Backend(storage, str(storage.bucket_name), prefix.strip("/"))
    fs = getattr(storage, "filesystem", None)
    basepath = getattr(storage, "basepath", None)
    if fs is not None and hasattr(fs, "find") and basepath is not None:
        return FsspecBackend(fs, posixpath.join(str(basepath).rstrip("/"), folder))
    raise InvalidConfiguration(
        f"{type(storage).__name__} cannot list its objects: use LocalFileSystem,"
        " RemoteFileSystem or S3Bucket"
    )
