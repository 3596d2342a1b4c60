"""The outputs table of a 5,088-output run fits Prefect's event limit and stays readable."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

from prefect.server.events.schemas.lifecycle import artifact_collection_created_event
from prefect.settings import get_current_settings
from prefect.types._datetime import now

from piktid_prefect.storage import PREFECT_EVENT_MAX_BYTES, event_bytes, fit_outputs_table

LINK = "https://piktid-results.s3.amazonaws.com/edit/{i}.jpg?X-Amz-Signature=" + "f" * 64


def rows(count: int) -> list[dict[str, Any]]:
    """Rows shaped like the flows' outputs table (``ui._table_rows`` plus a sheet link)."""
    return [
        {
            "image": f"studio-photo-{i // 6:05d}",
            "sheet": f"[contact sheet](/artifacts/artifact/{uuid.UUID(int=i)})",
            "kind": "person" if i % 6 < 4 else "background",
            "person": i % 2,
            "keyword": "Location=Oceania" if i % 6 < 4 else "Background=Beach",
            "seed": 100_000 + i,
            "link": LINK.format(i=i),
            "path": f"s3://studio/out/studio-photo-{i // 6:05d}_p{i % 2}_oceania_s{i}.jpg",
            "seconds": 21.5,
        }
        for i in range(count)
    ]


def server_event_bytes(table: list[dict[str, Any]], description: str) -> int:
    """The size Prefect's server computes for the artifact's event (``Event.size_bytes``)."""
    collection = SimpleNamespace(
        id=uuid.uuid4(),
        key="piktid-outputs",
        type="table",
        data=json.dumps(table),  # create_table_artifact sends the rows as a JSON string
        description=description,
        latest_id=uuid.uuid4(),
        flow_run_id=uuid.uuid4(),
        task_run_id=None,
    )
    return artifact_collection_created_event(collection, now("UTC")).size_bytes  # type: ignore[arg-type]


def test_the_whole_table_of_5088_outputs_is_over_the_limit() -> None:
    """The failure of issue 22, measured the server's way."""
    assert get_current_settings().server.events.maximum_size_bytes == PREFECT_EVENT_MAX_BYTES
    assert server_event_bytes(rows(5088), "5088 PiktID outputs") > PREFECT_EVENT_MAX_BYTES


def test_the_fitted_table_is_accepted_and_points_at_the_complete_manifest() -> None:
    table = fit_outputs_table(rows(5088), "s3://studio/out/manifest.json", note="5,088 credits")
    measured = server_event_bytes(table.rows, table.description)
    assert measured < PREFECT_EVENT_MAX_BYTES
    assert len(table.rows) == 500 and table.omitted == 4588
    assert table.rows == rows(500)  # the first rows, whole
    assert "`s3://studio/out/manifest.json`" in table.description
    assert "5,088 outputs of 848 images (1,696 background, 3,392 person)" in table.description
    assert "First 500 shown" in table.description and table.description.endswith("5,088 credits")
    # The estimate is the event minus its fixed fields (ids, key, type): within ~1 KB.
    assert 0 < measured - table.size_bytes < 1_500


def test_a_byte_budget_smaller_than_the_rows_cuts_by_bytes() -> None:
    table = fit_outputs_table(rows(5088), "out/manifest.json", max_rows=5088, max_bytes=200_000)
    assert table.size_bytes <= 200_000
    assert 0 < len(table.rows) < 5088
    assert event_bytes(table.rows, table.description) == table.size_bytes


def test_a_small_table_is_sent_whole_without_a_count_of_shown_rows() -> None:
    table = fit_outputs_table(rows(12), "/data/out/manifest.json")
    assert table.rows == rows(12) and table.omitted == 0
    assert "shown" not in table.description
