"""The package's public surface."""

from __future__ import annotations

import piktid_prefect


def test_every_exported_name_resolves() -> None:
    for name in piktid_prefect.__all__:
        assert getattr(piktid_prefect, name) is not None, name


def test_public_surface_is_what_users_are_told_about() -> None:
    assert {
        "PiktidClient",
        "AsyncPiktidClient",
        "PiktidCredentials",
        "PiktidError",
        "upload_image",
        "generate_output",
        "generate_people",
        "edit_backgrounds",
        "batch_variations",
        "person_and_background_variations",
        "process_new_images",
    } <= set(piktid_prefect.__all__)
    assert sorted(dir(piktid_prefect)) == sorted(piktid_prefect.__all__)
