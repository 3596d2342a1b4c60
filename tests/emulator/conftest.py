"""Helpers for the emulator tests: real loopback HTTP with httpx, fast virtual time."""

from __future__ import annotations

import functools
import http.server
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from piktid_prefect.emulator import EmulatorAccount, EmulatorServer

SAMPLES = Path(__file__).resolve().parents[2] / "piktid_prefect" / "samples"


def sample_bytes(name: str) -> bytes:
    """The bytes of a bundled sample photo."""
    return (SAMPLES / name).read_bytes()


def reencode(data: bytes, fmt: str, **save: Any) -> bytes:
    """``data`` (any image) saved again as ``fmt``."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, format=fmt, **save)
    return buffer.getvalue()


class Api:
    """A thin httpx wrapper around one account (not the project's client)."""

    def __init__(self, emulator: EmulatorServer, account: EmulatorAccount) -> None:
        self.emulator = emulator
        self.account = account
        self.http = httpx.Client(
            base_url=account.base_url,
            headers={"Authorization": f"Bearer {account.access_token}"},
            timeout=30,
        )

    def upload(self, data: bytes, filename: str = "image.jpg") -> httpx.Response:
        return self.http.post(
            "/edit/target", files={"file": (filename, data)}, data={"options": "{}"}
        )

    def upload_id(self, name: str = "astronaut.jpg") -> str:
        response = self.upload(sample_bytes(name))
        assert response.status_code == 200, response.text
        return str(response.json()["id_image"])

    def generate(
        self, image_id: str, person: int | str = 0, location: str = "Oceania", **options: Any
    ) -> httpx.Response:
        return self.http.post(
            "/edit/generate",
            json={
                "id_image": image_id,
                "id_person": person,
                "keyword": json.dumps({"Location": location}),
                "category": "person",
                "options": json.dumps(options),
            },
        )

    def background(
        self, image_id: str, keyword: dict[str, str] | None = None, **options: Any
    ) -> httpx.Response:
        body: dict[str, Any] = {"id_image": image_id, "prompt": "", "options": json.dumps(options)}
        if keyword is not None:
            body["keyword"] = json.dumps(keyword)
        return self.http.post("/edit/background", json=body)

    def poll(self, names: Any = "edit_generate, edit_background, error", **extra: Any) -> Any:
        """One poll that respects the rate limit (the virtual clock is advanced past it)."""
        self.emulator.advance(self.emulator.config.poll_min_interval_seconds)
        response = self.http.post("/notification_by_name_json", json={"name_list": names, **extra})
        assert response.status_code == 200, response.text
        return response.json()["notifications_list"]

    def wait_for(self, count: int, names: Any = "edit_generate, edit_background, error") -> Any:
        """Advance time until ``count`` notifications exist, and return them."""
        deadline = time.monotonic() + 20
        while True:
            self.emulator.advance(30)
            self.emulator.drain()
            found = self.poll(names)
            if len(found) >= count or time.monotonic() > deadline:
                return found

    def download(self, url: str) -> bytes:
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200
        return response.content

    def credits(self) -> int:
        return int(self.http.get("/me").json()["credits"])


@pytest.fixture
def api(piktid_emulator: EmulatorServer, piktid_account: EmulatorAccount) -> Iterator[Api]:
    client = Api(piktid_emulator, piktid_account)
    yield client
    client.http.close()


@pytest.fixture
def other_api(piktid_emulator: EmulatorServer) -> Iterator[Api]:
    client = Api(piktid_emulator, piktid_emulator.create_account(credits=100))
    yield client
    client.http.close()


@pytest.fixture
def loopback_files() -> Iterator[str]:
    """The sample photos served on loopback (the emulator fetches only loopback URLs)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLES))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
