"""The outputs table, kept small enough for Prefect's event limit and for a person.

Creating an artifact makes the server publish an ``artifact-collection`` event that
carries the artifact's ``data`` and ``description``
(``prefect/server/events/schemas/lifecycle.py``, ``ArtifactCollectionEventPayload``).
An event larger than ``PREFECT_SERVER_EVENTS_MAXIMUM_SIZE_BYTES`` (alias
``PREFECT_EVENTS_MAXIMUM_SIZE_BYTES``; default 1,500,000 bytes, measured as the event's
JSON, ``Event.size_bytes``) is refused: the 5,088-output table (1.8 MB) was. A table's
rows travel as a JSON *string* inside that JSON, so every quote is escaped once more;
:func:`event_bytes` counts them that way.

:func:`fit_outputs_table` keeps the first rows that fit both a row count a person can
read and a byte budget well under the limit, and says in the description how many rows
were left out and where the complete manifest is. Pure: the Prefect layer creates the
artifact.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_TABLE_MAX_BYTES",
    "DEFAULT_TABLE_MAX_ROWS",
    "PREFECT_EVENT_MAX_BYTES",
    "FittedTable",
    "event_bytes",
    "fit_outputs_table",
]

# Prefect 3.8's default for PREFECT_SERVER_EVENTS_MAXIMUM_SIZE_BYTES.
PREFECT_EVENT_MAX_BYTES = 1_500_000
# Two thirds of the limit: the event's own fields (ids, related runs, key) take ~1 KB,
# and a server configured lower than the default is not unusual.
DEFAULT_TABLE_MAX_BYTES = 1_000_000
# What someone scrolls in the UI; the rest is one click away in manifest.json.
DEFAULT_TABLE_MAX_ROWS = 500


@dataclass(frozen=True)
class FittedTable:
    """Rows to send, and a description that says what was left out and where it is."""

    rows: list[dict[str, Any]]
    description: str
    omitted: int
    size_bytes: int


def event_bytes(rows: Sequence[Mapping[str, Any]], description: str) -> int:
    """The bytes ``rows`` and ``description`` add to the artifact's event JSON."""
    data = json.dumps(list(rows), default=str)
    return len(json.dumps(data).encode()) + len(json.dumps(description).encode())


def _summary(rows: Sequence[Mapping[str, Any]]) -> str:
    kinds = Counter(str(row.get("kind", "")) for row in rows)
    images = len({str(row.get("image", "")) for row in rows})
    parts = ", ".join(f"{count:,} {kind}" for kind, count in sorted(kinds.items()) if kind)
    return f"{len(rows):,} outputs of {images:,} images" + (f" ({parts})" if parts else "")


def fit_outputs_table(
    rows: Sequence[Mapping[str, Any]],
    manifest_uri: str,
    *,
    note: str = "",
    max_rows: int = DEFAULT_TABLE_MAX_ROWS,
    max_bytes: int = DEFAULT_TABLE_MAX_BYTES,
) -> FittedTable:
    """The first rows of the outputs table that fit; the description points at the rest.

    Args:
        rows: Every output's row, in the table's order (e.g. by path).
        manifest_uri: Where the complete ``manifest.json`` is (a path or ``s3://...``).
        note: Appended to the description (e.g. the run's credits line).
        max_rows: Most rows shown.
        max_bytes: Budget for rows plus description, as counted by :func:`event_bytes`.

    Example:
        ```python
        table = fit_outputs_table(rows, "s3://studio/out/manifest.json")
        create_table_artifact(table=table.rows, key="piktid-outputs",
                              description=table.description)
        ```
    """
    head = f"{_summary(rows)}; complete list: `{manifest_uri}`"
    tail = f"; {note}" if note else ""
    shown: list[dict[str, Any]] = []
    # The description's longest form, so that the rows chosen still fit with it.
    budget = max_bytes - event_bytes([], f"{head}. First {len(rows):,} shown{tail}") - 2
    for row in rows[:max_rows]:
        cost = len(json.dumps(json.dumps(dict(row), default=str))) + 2  # ", " between rows
        if cost > budget:
            break
        budget -= cost
        shown.append(dict(row))
    omitted = len(rows) - len(shown)
    description = head + (f". First {len(shown):,} shown" if omitted else "") + tail
    return FittedTable(shown, description, omitted, event_bytes(shown, description))
