"""The spend is visible: the table artifact, and a piktid.credits.low event for automations."""

from __future__ import annotations

import time

from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter

from piktid_prefect.flows import edit_backgrounds
from tests.prefect.test_observability import read_artifacts


def test_low_balance_emits_an_event_and_the_table_shows_the_spend(
    account_with, samples, tmp_path, time_scale
) -> None:
    account, creds = account_with(5)
    state = edit_backgrounds(
        image=str(samples["astronaut"]),
        keywords=[{"seasonal": "Autumn"}, {"seasonal": "Spring"}],
        credentials=creds,
        out_dir=str(tmp_path),
        low_credits_threshold=4,
        timeout_seconds=600 * time_scale,
        return_state=True,
    )
    assert state.is_completed()

    (table,) = [a for a in read_artifacts(state.state_details.flow_run_id) if a["type"] == "table"]
    assert "credits: 2 spent by this run, balance 5 -> 3" in table["description"]
    resource_id = f"piktid.account.{creds.account_key}"
    events: list = []
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while not events and time.monotonic() < deadline:
            page = client.read_events(
                filter=EventFilter(event=EventNameFilter(name=["piktid.credits.low"])), limit=50
            )
            events = [e for e in page.events if e.resource.id == resource_id]
            time.sleep(0.3)
    (event,) = events
    assert event.payload == {"balance": 3.0, "threshold": 4.0, "spent_by_run": 2}
    assert account.email not in str(event.model_dump())  # the key is secret-free
