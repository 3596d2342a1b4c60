"""``piktid-prefect demo``: the whole pipeline on the embedded emulator, no account needed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.flows import VariationsResult, batch_variations

__all__ = ["DEMO_BACKGROUND_KEYWORDS", "DEMO_PERSON_KEYWORDS", "run_demo", "sample_images"]

# The emulator's latencies (8 s generation, 12 s mask warm-up) run 10x faster in the demo;
# the client's poll interval and stagger are scaled the same way.
DEMO_TIME_SCALE = 0.1
DEMO_PERSON_KEYWORDS = [{"Location": "Oceania"}, {"Location": "East Asia"}]
DEMO_BACKGROUND_KEYWORDS = [{"nature_landscapes": "Beach"}, {"indoor_spaces": "Office"}]


def sample_images() -> list[Path]:
    """The real photos bundled with the package."""
    folder = resources.files("piktid_prefect").joinpath("samples")
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".jpg"))


def _where_to_look() -> str:
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    if PREFECT_API_URL.value():
        return f"See the run in the Prefect UI: {PREFECT_UI_URL.value() or PREFECT_API_URL.value()}"
    return (
        "The run was recorded in Prefect's local database. To browse it in the UI: "
        "`prefect server start`, then open http://127.0.0.1:4200/runs"
    )


def run_demo(out: Path) -> tuple[VariationsResult, str]:
    """Start the emulator, run person + background variations on the samples into ``out``."""
    from piktid_prefect.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(time_scale=DEMO_TIME_SCALE)) as emulator:
        account = emulator.create_account(credits=1_000)
        credentials = PiktidCredentials(
            base_url=account.base_url,
            email=account.email,
            password=account.password,
            poll_interval_seconds=3.0 * DEMO_TIME_SCALE,
        )
        result = batch_variations(
            images=[str(p) for p in sample_images()],
            person_keywords=DEMO_PERSON_KEYWORDS,
            background_keywords=DEMO_BACKGROUND_KEYWORDS,
            relight_strength=0.6,
            credentials=credentials,
            out_dir=str(out),
            stagger_seconds=15.0 * DEMO_TIME_SCALE,
            timeout_seconds=600.0 * DEMO_TIME_SCALE,
        )
    return result, _where_to_look()
