"""What a run shows: artifacts and events, read back through the Prefect API."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.settings import PREFECT_API_URL

from piktid_prefect.flows import generate_people


def read_artifacts(flow_run_id: Any = None) -> list[dict[str, Any]]:
    """Artifacts through the server's REST API (as the UI reads them)."""
    body: dict[str, Any] = {"limit": 200}
    if flow_run_id is not None:
        body["artifacts"] = {"flow_run_id": {"any_": [str(flow_run_id)]}}
    response = httpx.post(f"{PREFECT_API_URL.value()}/artifacts/filter", json=body)
    response.raise_for_status()
    return response.json()


def test_run_publishes_progress_table_images_and_events(
    credentials, samples, tmp_path, time_scale
) -> None:
    state = generate_people(
        image=str(samples["grace_hopper"]),
        keywords=[{"Location": "Oceania"}, {"Location": "South Europe"}],
        credentials=credentials,
        out_dir=str(tmp_path),
        stagger_seconds=15.0 * time_scale,
        timeout_seconds=600.0 * time_scale,
        return_state=True,
    )
    assert state.is_completed()
    flow_run_id = state.state_details.flow_run_id

    artifacts = read_artifacts(flow_run_id)
    with get_client(sync_client=True) as client:
        by_type: dict[str, list] = {}
        for artifact in artifacts:
            by_type.setdefault(artifact["type"], []).append(artifact)
        assert by_type["progress"][0]["data"] == 100.0
        (table,) = by_type["table"]
        rows = json.loads(table["data"])
        assert len(rows) == 2
        assert {"image", "person", "keyword", "seed", "link", "path", "seconds"} <= set(rows[0])
        previews = [a for a in by_type["markdown"] if a["key"] is None]
        assert len(previews) == 2
        assert [a["key"] for a in by_type["markdown"] if a["key"]] == ["piktid-sheet-grace-hopper"]

        events = []
        deadline = time.monotonic() + 30
        while len(events) < 2 and time.monotonic() < deadline:
            page = client.read_events(
                filter=EventFilter(event=EventNameFilter(name=["piktid.generation.completed"])),
                limit=50,
            )
            events = [
                e
                for e in page.events
                if e.resource.get("prefect.resource.name") == "grace_hopper"
                and e.payload.get("keyword", {}).get("Location") in ("Oceania", "South Europe")
            ]
            time.sleep(0.5)
    assert len(events) >= 2
    assert all(e.payload["link"].startswith("http://127.0.0.1") for e in events)


def test_secret_token_never_reaches_logs_results_or_artifacts(
    piktid_account, samples, tmp_path, time_scale, caplog
) -> None:
    from piktid_prefect.credentials import PiktidCredentials

    token = piktid_account.access_token
    credentials = PiktidCredentials(
        base_url=piktid_account.base_url,
        access_token=token,
        poll_interval_seconds=3.0 * time_scale * 1.5,
    )
    assert token not in repr(credentials)
    result = generate_people(
        image=str(samples["astronaut"]),
        keywords=[{"Location": "Oceania"}],
        credentials=credentials,
        out_dir=str(tmp_path),
        timeout_seconds=600.0 * time_scale,
    )
    assert token not in result.model_dump_json()
    assert token not in (tmp_path / "manifest.json").read_text()
    assert token not in caplog.text
    for artifact in read_artifacts():
        assert token not in json.dumps(artifact)
