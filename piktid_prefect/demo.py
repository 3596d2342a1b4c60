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


def _where_to_look(flow_run_id: object) -> str:
    """The run's page in the UI: its previews, contact sheets and outputs table."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_API_HOST,
        PREFECT_SERVER_API_PORT,
        PREFECT_UI_URL,
    )

    page = f"/runs/flow-run/{flow_run_id}"
    if PREFECT_API_URL.value():
        ui = PREFECT_UI_URL.value() or PREFECT_API_URL.value()
        return f"See the run and its pictures in the Prefect UI: {ui}{page}"
    # A temporary server ran the flow; `prefect server start` serves the same database.
    ui = f"http://{PREFECT_SERVER_API_HOST.value()}:{PREFECT_SERVER_API_PORT.value()}"
    return (
        "The run was recorded in Prefect's local database. To see it and its pictures: "
        f"`prefect server start`, then open {ui}{page}"
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
        state = batch_variations(
            images=[str(p) for p in sample_images()],
            person_keywords=DEMO_PERSON_KEYWORDS,
            background_keywords=DEMO_BACKGROUND_KEYWORDS,
            relight_strength=0.6,
            credentials=credentials,
            out_dir=str(out),
            stagger_seconds=15.0 * DEMO_TIME_SCALE,
            timeout_seconds=600.0 * DEMO_TIME_SCALE,
            return_state=True,
        )
    result: VariationsResult = state.result()  # raises what the flow raised
    return result, _where_to_look(state.state_details.flow_run_id)
