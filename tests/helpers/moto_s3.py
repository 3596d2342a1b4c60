"""A local S3-compatible server (moto's server mode) on loopback, for tests and benchmarks.

``moto_server -H 127.0.0.1 -p PORT`` runs as a subprocess in its own process group,
stopped (and its group killed) whatever the caller did. Clients use path-style URLs on
the IP endpoint. Every request the server answered is in its access log, one line each
(``"GET /bucket/key HTTP/1.1" 200``): :meth:`MotoS3.requests` reads them back, so a test
counts what reached the object store rather than what the client meant to send.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from tests.helpers.prefect_server import free_port, start_process, stop_process

MOTO_START_TIMEOUT_SECONDS = 30.0
# moto accepts any key pair; the region must be set for boto3 to sign requests.
ACCESS_KEY, SECRET_KEY, REGION = "testing", "testing", "us-east-1"
_LOG_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


@dataclass(frozen=True)
class S3Request:
    """One request moto answered."""

    method: str
    bucket: str
    key: str
    query: str
    status: int

    @property
    def is_object_read(self) -> bool:
        """A GET of an object (a download), not a listing."""
        return self.method == "GET" and bool(self.key)

    @property
    def is_listing(self) -> bool:
        return self.method == "GET" and not self.key and "list-type" in self.query


class MotoS3:
    """A running moto server: its endpoint, clients for it, and its request log."""

    def __init__(self, endpoint_url: str, log: Path) -> None:
        self.endpoint_url = endpoint_url
        self.log = log

    def client(self) -> Any:
        """A boto3 S3 client for this server (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self, prefix: str = "piktid") -> str:
        """Create a bucket with a fresh name; return the name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def s3_bucket_block(self, bucket: str, folder: str = "") -> Any:
        """prefect-aws ``S3Bucket`` for ``bucket``, the endpoint set in the credentials."""
        from prefect_aws import AwsCredentials, S3Bucket
        from prefect_aws.client_parameters import AwsClientParameters

        credentials = AwsCredentials(
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            aws_client_parameters=AwsClientParameters(
                endpoint_url=self.endpoint_url, config={"s3": {"addressing_style": "path"}}
            ),
        )
        return S3Bucket(bucket_name=bucket, credentials=credentials, bucket_folder=folder)

    def s3fs_options(self) -> dict[str, Any]:
        """``RemoteFileSystem(settings=...)`` for ``s3://`` paths on this server."""
        return {
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": REGION},
            "config_kwargs": {"s3": {"addressing_style": "path"}},
            # A fresh filesystem per block: s3fs caches instances and their listings.
            "skip_instance_cache": True,
        }

    def requests(self) -> list[S3Request]:
        """Every request answered so far (the server writes its log line after answering)."""
        found = []
        for match in _LOG_LINE.finditer(self.log.read_text(errors="replace")):
            url = urlsplit(match["target"])
            bucket, _, key = unquote(url.path).lstrip("/").partition("/")
            if bucket.startswith("moto-api"):
                continue
            found.append(S3Request(match["method"], bucket, key, url.query, int(match["status"])))
        return found

    def mark(self) -> int:
        """How many requests so far: pass to :meth:`since` to count what follows."""
        return len(self.requests())

    def since(self, mark: int, bucket: str | None = None) -> list[S3Request]:
        """The requests answered after :meth:`mark` (of one bucket, if given)."""
        return [r for r in self.requests()[mark:] if bucket is None or r.bucket == bucket]

    def settle(self, seconds: float = 0.05) -> None:
        """Let the last answered request reach the log (written just after the answer)."""
        time.sleep(seconds)


def moto_server_command() -> str:
    found = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError('moto_server is not installed: pip install "moto[server]"')
    return found


@contextmanager
def moto_s3(port: int | None = None) -> Iterator[MotoS3]:
    """Start ``moto_server`` on a free loopback port; stop it (and its group) on exit."""
    port = port or free_port()
    folder = Path(tempfile.mkdtemp(prefix="piktid-moto-"))
    log = folder / "moto.log"
    endpoint = f"http://127.0.0.1:{port}"
    process = start_process(
        [moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
        {**os.environ, "PYTHONUNBUFFERED": "1"},
        log,
        cwd=folder,
    )
    try:
        deadline = time.monotonic() + MOTO_START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{endpoint}/moto-api/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto_server not healthy in {MOTO_START_TIMEOUT_SECONDS} s")
            time.sleep(0.1)
        yield MotoS3(endpoint, log)
    finally:
        stop_process(process)
        shutil.rmtree(folder, ignore_errors=True)
