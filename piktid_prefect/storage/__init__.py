"""Storage for unattended runs: inputs listed in place, outputs in a bucket (issue 22).

- :mod:`.listing`: an inbox's photos by name, size and change token, without
  downloading them; which of them an earlier run already settled.
- :mod:`.location`: one output folder, local or inside a storage block.
- :mod:`.manifest_log`: ``manifest.json`` as one entry per fact, so that two workers
  writing to one location never lose each other's outputs.
- :mod:`.table`: the outputs table cut to what the server accepts and a person reads.

Above :mod:`piktid_prefect.runtime` (it reads Prefect blocks); the flows sit above it.
"""

from piktid_prefect.storage._backends import Backend, ObjectInfo, backend_for
from piktid_prefect.storage.listing import (
    IMAGE_SUFFIXES,
    Settled,
    SourceEntry,
    classify_content,
    list_images,
    pending_entries,
    read_entry,
    source_key,
    wanted_pairs,
)
from piktid_prefect.storage.location import OutputLocation, open_output_location
from piktid_prefect.storage.manifest_log import (
    ENTRIES_FOLDER,
    MANIFEST_NAME,
    ManifestLog,
    ManifestView,
)
from piktid_prefect.storage.table import (
    DEFAULT_TABLE_MAX_BYTES,
    DEFAULT_TABLE_MAX_ROWS,
    PREFECT_EVENT_MAX_BYTES,
    FittedTable,
    event_bytes,
    fit_outputs_table,
)

__all__ = [
    "DEFAULT_TABLE_MAX_BYTES",
    "DEFAULT_TABLE_MAX_ROWS",
    "ENTRIES_FOLDER",
    "IMAGE_SUFFIXES",
    "MANIFEST_NAME",
    "PREFECT_EVENT_MAX_BYTES",
    "Backend",
    "FittedTable",
    "ManifestLog",
    "ManifestView",
    "ObjectInfo",
    "OutputLocation",
    "Settled",
    "SourceEntry",
    "backend_for",
    "classify_content",
    "event_bytes",
    "fit_outputs_table",
    "list_images",
    "open_output_location",
    "pending_entries",
    "read_entry",
    "source_key",
    "wanted_pairs",
]
