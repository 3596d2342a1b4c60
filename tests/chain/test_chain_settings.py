"""Chained steps and a bucket output are refused together, before anything is paid."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from piktid_prefect.execution.settings import RunSettings


def test_chained_steps_with_an_output_bucket_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="cannot be combined with output_storage_block"):
        RunSettings(
            then=[{"step": "upscale", "scale_factor": 2}],
            output_storage_block="s3-bucket/photos",
        )


def test_either_alone_is_accepted() -> None:
    assert RunSettings(then=[{"step": "upscale", "scale_factor": 2}]).then
    assert RunSettings(output_storage_block="s3-bucket/photos").output_storage_block
