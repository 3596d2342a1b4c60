"""The demo's pictures, seen in a real browser: every image loads, sheets show each variation.

As the README has a new user do it: ``piktid-prefect demo`` with no Prefect server (a
temporary one records the run in PREFECT_HOME's database), then ``prefect server start``
and the URL the demo printed, opened in headless Chromium. By then the demo's emulator
has stopped, so its result links are dead: only pictures embedded in the artifacts load.

``PIKTID_UI_SCREENSHOT=docs/contact-sheet.png pytest -m ui`` also refreshes the README's
screenshot of a contact sheet.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from piktid_prefect.artifacts.sheets import sheet_key, variation_label
from piktid_prefect.runtime.results import Manifest, OutputRecord
from tests.helpers.chromium import Page, chromium_path, headless_page
from tests.helpers.prefect_server import PROJECT_ROOT, PrefectServer, free_port, prefect_server

pytestmark = [
    pytest.mark.ui,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(chromium_path() is None, reason="needs chromium (apt-get install chromium)"),
]

DEMO = str(Path(sys.executable).with_name("piktid-prefect"))
DEMO_TIMEOUT_SECONDS = 240.0
# Every image of the page loaded (a broken image has naturalWidth 0): [total, broken].
IMAGES_LOADED = (
    "(() => { const i = [...document.images]; return i.length > 0 && i.every(x => x.complete)"
    " ? [i.length, i.filter(x => x.naturalWidth === 0).map(x => x.alt)] : null })()"
)


class DemoRun:
    """The demo's flow run on the server: what it printed, made, and stored as artifacts."""

    def __init__(self, server: PrefectServer, stdout: str, out: Path) -> None:
        self.server = server
        self.stdout = stdout
        match = re.search(re.escape(server.ui_url) + r"/runs/flow-run/([0-9a-f-]{36})", stdout)
        assert match, f"the demo does not print the run's URL:\n{stdout[-2000:]}"
        self.flow_run_id = match.group(1)
        self.outputs = Manifest.model_validate_json((out / "manifest.json").read_text()).outputs
        self.artifacts: list[dict[str, Any]] = httpx.post(
            f"{server.api_url}/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [self.flow_run_id]}}},
            timeout=30,
        ).json()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [a for a in self.artifacts if a["type"] == kind]

    def sheet(self, image: str) -> dict[str, Any]:
        (sheet,) = [a for a in self.of_type("markdown") if a["key"] == sheet_key(image)]
        return sheet

    def by_image(self) -> dict[str, list[OutputRecord]]:
        grouped: dict[str, list[OutputRecord]] = {}
        for record in self.outputs:
            grouped.setdefault(record.image, []).append(record)
        return grouped


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    home = tmp_path_factory.mktemp("prefect-ui-home")
    out = tmp_path_factory.mktemp("demo-output")
    port = free_port()  # what `prefect server start` will use, and the demo will print
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # The temporary server migrates a fresh database first: ~20 s on 2 busy cores.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "COLUMNS": "200",
    }
    for name in ("PREFECT_API_URL", "PREFECT_PROFILES_PATH"):
        env.pop(name, None)
    done = subprocess.run(
        [DEMO, "demo", "--out", str(out)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "`prefect server start`" in done.stdout
    with prefect_server(home, port=port) as server:
        yield DemoRun(server, done.stdout, out)


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with headless_page() as opened:
        yield opened


def open_artifact(page: Page, run: DemoRun, artifact_id: str) -> list[Any]:
    """Open an artifact's page; return [image count, alts of broken images] once all loaded."""
    page.goto(f"{run.server.ui_url}/artifacts/artifact/{artifact_id}")
    loaded = list(page.wait_for(IMAGES_LOADED, timeout=60))
    # Nothing runs off the page (an image artifact prints its whole data: URL as text).
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    return loaded


def test_the_demo_prints_the_runs_page_and_its_result_links_are_gone(demo_run: DemoRun) -> None:
    assert len(demo_run.outputs) == 16
    with pytest.raises(httpx.TransportError):  # the emulator stopped with the demo
        httpx.get(demo_run.outputs[0].link, timeout=5)


def test_every_preview_loads_from_the_artifact_itself(demo_run: DemoRun, page: Page) -> None:
    previews = [a for a in demo_run.of_type("markdown") if a["key"] is None]
    assert len(previews) == len(demo_run.outputs)
    for artifact in previews:
        assert "](data:image/jpeg;base64," in artifact["data"]
        assert open_artifact(page, demo_run, artifact["id"]) == [1, []]


def test_each_sheet_shows_the_original_beside_every_variation(
    demo_run: DemoRun, page: Page
) -> None:
    for image, outputs in demo_run.by_image().items():
        sheet = demo_run.sheet(image)
        count, broken = open_artifact(page, demo_run, sheet["id"])
        assert broken == [] and count == 1 + len(outputs)
        alts = page.evaluate("[...document.images].map(i => i.alt)")
        assert alts[0] == f"original {image}"
        assert sorted(alts[1:]) == sorted(Path(r.path).name for r in outputs)
        text = page.evaluate("document.querySelector('.markdown-renderer table').innerText")
        for record in outputs:
            assert "\n".join(variation_label(record)) in text


def test_the_table_links_every_row_to_its_images_sheet(demo_run: DemoRun, page: Page) -> None:
    (table,) = demo_run.of_type("table")
    page.goto(f"{demo_run.server.ui_url}/artifacts/artifact/{table['id']}")
    page.wait_for("document.querySelectorAll('table tbody tr').length >= 16", timeout=60)
    hrefs = page.evaluate(
        "[...document.querySelectorAll('table a')].map(a => a.getAttribute('href'))"
    )
    expected = [f"/artifacts/artifact/{demo_run.sheet(r.image)['id']}" for r in demo_run.outputs]
    assert sorted(h for h in hrefs if "/artifacts/" in h) == sorted(expected)
    # Followed, a link opens the sheet with its pictures.
    page.goto(demo_run.server.ui_url + expected[-1])
    count, broken = page.wait_for(IMAGES_LOADED, timeout=60)
    assert broken == [] and count > 1


def test_a_contact_sheet_screenshot(demo_run: DemoRun, page: Page, tmp_path: Path) -> None:
    """Kept in docs/ for the README when PIKTID_UI_SCREENSHOT names the file."""
    open_artifact(page, demo_run, demo_run.sheet("group_of_three")["id"])
    shot = tmp_path / "contact-sheet.png"
    page.screenshot(shot, selector=".markdown-renderer:has(table)")
    assert shot.stat().st_size > 10_000
    # The grid fits the page of a 1440 px wide screen: no sideways scrolling.
    overflow = page.evaluate(
        "(() => { const t = document.querySelector('.markdown-renderer table');"
        " const s = t.closest('.p-table') || t.parentElement;"
        " return s.scrollWidth - s.clientWidth })()"
    )
    assert overflow <= 0, json.dumps(overflow)
    target = os.environ.get("PIKTID_UI_SCREENSHOT")
    if target:
        # 256 colours, dithered: a third of the bytes, the same picture at README size.
        with Image.open(shot) as full:
            small = full.convert("RGB").quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
        small.save(PROJECT_ROOT / target, optimize=True)
