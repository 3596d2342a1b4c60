"""What is measured: the emulator's latencies, the batch, and one subprocess's job."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from piktid_prefect.emulator import EmulatorConfig
from piktid_prefect.wire.keywords import BACKGROUND_KEYWORDS, LOCATIONS

# The latency model, in API-seconds (what the real service would take). Generation and
# warm-up are the emulator's defaults; upload and download are set a little above them so
# that a batch's I/O is not free.
GENERATION_SECONDS = 8.0
MASK_WARMUP_SECONDS = 12.0
UPLOAD_SECONDS = 1.0
DOWNLOAD_SECONDS = 0.5
# PiktID's rules: a poll every 3 s at most, a 15 s stagger after a person's first call.
POLL_MIN_INTERVAL_SECONDS = 3.0
STAGGER_SECONDS = 15.0
# The public sample scripts wait one job at a time and poll every 5 s.
SEQUENTIAL_POLL_SECONDS = 5.0
MAX_IN_FLIGHT = 32

PERSONS_PER_IMAGE = 3
PERSON_KEYWORDS = [{"Location": location} for location in LOCATIONS][:8]
# One value of each of 16 distinct (category, value) pairs: the first 8 make the batch.
BACKGROUND_POOL = [
    {category: value} for category, values in BACKGROUND_KEYWORDS.items() for value in values[:2]
][:16]
BACKGROUND_KEYWORDS_USED = BACKGROUND_POOL[:8]


def emulator_config(time_scale: float) -> EmulatorConfig:
    """The emulator with the documented latencies, running ``1 / time_scale`` x faster."""
    return EmulatorConfig(
        time_scale=time_scale,
        seed=5,
        generation_seconds=GENERATION_SECONDS,
        mask_warmup_seconds=MASK_WARMUP_SECONDS,
        upload_seconds=UPLOAD_SECONDS,
        download_seconds=DOWNLOAD_SECONDS,
        poll_min_interval_seconds=POLL_MIN_INTERVAL_SECONDS,
    )


@dataclass
class Job:
    """Everything a client subprocess needs (written as JSON, read by ``child``)."""

    mode: str  # prefect | bare | sequential
    base_url: str
    access_token: str
    images: list[str]
    person_keywords: list[dict[str, str]]
    background_keywords: list[dict[str, str]]
    time_scale: float
    out_dir: str
    result_path: str
    max_in_flight: int = MAX_IN_FLIGHT
    extra: dict[str, Any] = field(default_factory=dict)

    def real(self, api_seconds: float) -> float:
        """Real seconds of a duration given in API-seconds."""
        return api_seconds * self.time_scale

    def write(self, path: Path) -> Path:
        """Save as JSON."""
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def read(cls, path: Path) -> Job:
        """Load from JSON."""
        return cls(**json.loads(path.read_text()))
