"""How a user tests their own flow offline with the emulator's pytest fixtures.

Run: ``pytest examples/test_my_flow.py`` (the fixtures come with the package's pytest plugin).
"""

from __future__ import annotations

from pathlib import Path

from piktid_prefect import PiktidCredentials, generate_people

PHOTO = Path(__file__).parent / "images" / "group_of_three.jpg"


# piktid_prefect_harness: one throw-away Prefect server for the session's flow runs.
def test_my_flow(piktid_prefect_harness, piktid_emulator, piktid_account, tmp_path):  # type: ignore[no-untyped-def]
    credentials = PiktidCredentials(
        base_url=piktid_account.base_url,
        email=piktid_account.email,
        password=piktid_account.password,
        poll_interval_seconds=0.05,  # the emulator runs 100x faster in tests
    )
    result = generate_people(
        str(PHOTO),
        [{"Location": "Oceania"}],
        persons=[1],
        credentials=credentials,
        out_dir=str(tmp_path),
        stagger_seconds=0.15,
        timeout_seconds=6,
    )
    assert [o.person for o in result.outputs] == [1]
    assert piktid_emulator.stats(piktid_account.email).credits_charged == 1
