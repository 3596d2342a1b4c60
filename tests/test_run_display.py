"""RunDisplay: artifacts leave the fan-out loop, coalesce, and never fail a run."""

from __future__ import annotations

import logging
import threading
from typing import Any
from uuid import uuid4

import pytest

from piktid_prefect import ui
from piktid_prefect.runtime.results import OutputRecord


class FakeArtifacts:
    """Stands in for the Prefect artifact API; ``gate`` holds every call until set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_images = False
        for name in (
            "create_progress_artifact",
            "update_progress_artifact",
            "create_image_artifact",
            "create_table_artifact",
        ):
            monkeypatch.setattr(ui, name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.gate.wait(10)
            if name == "create_image_artifact" and self.fail_images:
                raise RuntimeError("Prefect API unreachable")
            self.calls.append((name, kwargs))
            return uuid4()

        return call

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]


def record(n: int) -> OutputRecord:
    return OutputRecord(
        path=f"/out/img_{n:04d}.jpg",
        id_image="abc",
        image="img",
        kind="person",
        person=0,
        keyword={"Location": "Oceania"},
        seed=n,
        link=f"http://127.0.0.1/files/{n}.jpg",
        seconds=1.0,
        sha256="0" * 64,
    )


def test_deliveries_never_wait_for_the_prefect_api(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeArtifacts(monkeypatch)
    fake.gate.clear()  # the API hangs
    display = ui.RunDisplay(50)
    for n in range(50):
        display.delivered(record(n))  # returns although no artifact call can finish
    assert display.done == 50 and fake.calls == []
    fake.gate.set()
    display.finish([record(n) for n in range(50)])
    display.close()
    assert fake.named("update_progress_artifact")[-1]["progress"] == 100.0
    (table,) = fake.named("create_table_artifact")
    assert len(table["table"]) == 50


def test_progress_updates_coalesce_and_images_stop_at_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeArtifacts(monkeypatch)
    display = ui.RunDisplay(1000)
    records = [record(n) for n in range(1000)]
    for r in records[:400]:
        display.delivered(r)
    for _ in range(600):
        display.failed_one()
    display.finish(records[:400])
    display.close()
    updates = fake.named("update_progress_artifact")
    # At most one per 1 % of the outputs (plus the final one), not one per output.
    assert 1 <= len(updates) <= 101
    assert [u["progress"] for u in updates] == sorted(u["progress"] for u in updates)
    assert updates[-1]["progress"] == 100.0
    assert updates[-1]["description"] == "1000 of 1000 PiktID outputs done, 600 failed"
    images = fake.named("create_image_artifact")
    assert len(images) == ui.MAX_IMAGE_ARTIFACTS
    assert images[0]["image_url"] == records[0].link


def test_a_failing_artifact_call_is_logged_and_the_rest_still_goes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeArtifacts(monkeypatch)
    fake.fail_images = True
    display = ui.RunDisplay(3)
    with caplog.at_level(logging.WARNING, logger=ui.__name__):
        for n in range(3):
            display.delivered(record(n))
        display.finish([record(n) for n in range(3)])
        display.close()
    assert "Prefect API unreachable" in caplog.text
    assert len(fake.named("create_table_artifact")) == 1
    assert fake.named("update_progress_artifact")[-1]["progress"] == 100.0
