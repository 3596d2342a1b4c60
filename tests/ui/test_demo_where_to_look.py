"""The demo tells the user where its run and pictures are, with or without a server."""

from __future__ import annotations

from uuid import uuid4

from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_API_PORT,
    PREFECT_UI_URL,
    temporary_settings,
)

from piktid_prefect.demo import _where_to_look


def test_with_a_server_the_demo_prints_the_runs_page_in_its_ui() -> None:
    run = uuid4()
    with temporary_settings(
        {PREFECT_API_URL: "http://127.0.0.1:4321/api", PREFECT_UI_URL: "http://127.0.0.1:4321"}
    ):
        assert _where_to_look(run).endswith(f"http://127.0.0.1:4321/runs/flow-run/{run}")


def test_without_a_server_the_demo_says_how_to_start_one_and_where_to_look() -> None:
    run = uuid4()
    with temporary_settings(
        {PREFECT_SERVER_API_PORT: 4299}, restore_defaults={PREFECT_API_URL, PREFECT_UI_URL}
    ):
        text = _where_to_look(run)
    assert "`prefect server start`" in text
    assert text.endswith(f"http://127.0.0.1:4299/runs/flow-run/{run}")
