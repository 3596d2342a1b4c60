"""An S3-compatible server on loopback for the storage tests, and a fresh bucket per test.

The S3 tests skip without the extras (``pip install -e ".[test]"`` brings them); the
local-folder and table tests run regardless.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.moto_s3 import MotoS3, moto_s3


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoS3]:
    """One ``moto_server`` for the session (~2 s to start); buckets keep tests apart."""
    pytest.importorskip("moto", reason="needs moto[server] (the test extra)")
    pytest.importorskip("boto3", reason="needs boto3 (with prefect-aws, the s3 extra)")
    with moto_s3() as server:
        yield server


@pytest.fixture
def bucket(moto: MotoS3) -> str:
    """A fresh, empty bucket."""
    return moto.new_bucket()


@pytest.fixture
def s3_bucket_block(moto: MotoS3, bucket: str) -> Any:
    """prefect-aws ``S3Bucket`` on the fresh bucket (endpoint in ``aws_client_parameters``)."""
    pytest.importorskip("prefect_aws", reason='needs the s3 extra: pip install ".[s3]"')
    return moto.s3_bucket_block(bucket)
