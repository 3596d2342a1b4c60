"""Fault soak: many outputs through the flows while the emulator injects every fault it has.

Proves, with the emulator's own books as the judge, that a batch left running unattended
loses nothing, pays nothing twice, and writes only valid images:

- every fault kind of :data:`~piktid_prefect.emulator.config.FAULT_KINDS` is injected at
  once, tuned so that about ``fault_rate`` of all requests are hit;
- the flow is re-run (as a user would) until every output is delivered; completed outputs
  are cached, so a re-run pays only for what is still missing;
- the accounting is honest about what cannot be saved: a ``lose_notification`` or
  ``error_notification`` fault means the generation was charged but never delivered, so
  the re-run that makes it pays again. Those are counted apart (``repaid_lost`` and
  ``repaid_failed``) from ``duplicate_charges``: a second start of a generation whose
  first start *was* delivered, i.e. a credit our client wasted. That one must be 0.

Long form (1,000 outputs, about 5 minutes):

    python benchmarks/soak.py --outputs 1000

The short form runs in the test suite (``tests/reliability/test_soak.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorConfig, EmulatorServer, FaultConfig
from piktid_prefect.emulator.config import FAULT_KINDS
from piktid_prefect.emulator.stats import EmulatorStats
from piktid_prefect.flows import batch_variations
from piktid_prefect.runtime.results import Manifest
from piktid_prefect.wire.keywords import BACKGROUND_KEYWORDS, LOCATIONS

__all__ = ["SoakReport", "fault_config", "run_soak"]

PERSONS_PER_IMAGE = 3  # group_of_three.jpg: three sharp, approved faces
BACKGROUNDS = [{category: values[0]} for category, values in BACKGROUND_KEYWORDS.items()][:13]
PERSON_KEYWORDS = [{"Location": location} for location in LOCATIONS]
OUTPUTS_PER_IMAGE = PERSONS_PER_IMAGE * len(PERSON_KEYWORDS) + len(BACKGROUNDS)  # 40

# Where a kind is rolled decides its rate. About 60 % of the fault budget goes to the
# kinds rolled on every request, 10 % to lost answers of (charged) starts, 30 % to the
# notification faults rolled once per generation; a poll's list is shuffled at the full
# rate (there are few polls). In a soak that adds up to ~``fault_rate`` of all requests.
_EVERY_REQUEST = (
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "drop_connection",
    "slow_response",
    "expire_token",
)
_PER_GENERATION = ("lose_notification", "duplicate_notification", "error_notification")


def fault_config(fault_rate: float, seed: int) -> FaultConfig:
    """Every fault kind of the emulator at once, about ``fault_rate`` of requests hit."""
    rates = {kind: 0.6 * fault_rate / len(_EVERY_REQUEST) for kind in _EVERY_REQUEST}
    rates.update({kind: fault_rate / len(_PER_GENERATION) for kind in _PER_GENERATION})
    rates.update(lose_response_after_start=0.3 * fault_rate, shuffle_notifications=fault_rate)
    assert set(rates) == set(FAULT_KINDS)
    return FaultConfig(seed=seed, slow_response_seconds=20.0, **rates)


@dataclass
class SoakReport:
    """What a soak measured (counts from the emulator's books, not from the client)."""

    outputs_expected: int
    outputs_delivered: int = 0
    invalid_images: list[str] = field(default_factory=list)
    rounds: int = 0
    round_failures: list[int] = field(default_factory=list)
    requests: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    credits_charged: int = 0
    generations_paid_once: int = 0
    repaid_lost: int = 0
    repaid_failed: int = 0
    repaid_late: int = 0
    repaid_unsettled: int = 0
    duplicate_charges: int = 0
    duplicate_charge_keys: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def faults_injected(self) -> int:
        """Every injected fault, all kinds."""
        return sum(self.faults.values())

    @property
    def lost_outputs(self) -> int:
        """Outputs never delivered, after every round."""
        return self.outputs_expected - self.outputs_delivered

    @property
    def faulted_request_share(self) -> float:
        """Injected faults per request (a request rarely draws two)."""
        return self.faults_injected / self.requests if self.requests else 0.0

    def summary(self) -> dict[str, Any]:
        """The report as plain JSON-able data, derived numbers included."""
        return {
            **asdict(self),
            "faults_injected": self.faults_injected,
            "faulted_request_share": round(self.faulted_request_share, 4),
            "lost_outputs": self.lost_outputs,
        }


def make_images(folder: Path, count: int) -> list[Path]:
    """``count`` distinct copies of the three-person sample (one corner pixel differs)."""
    base = next(p for p in sample_images() if p.stem == "group_of_three")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with Image.open(base) as original:
        rgb = original.convert("RGB")
    for index in range(count):
        copy = rgb.copy()
        copy.putpixel((0, 0), (index % 256, (index // 256) % 256, 7))
        path = folder / f"group-{index:03d}.png"
        copy.save(path, format="PNG")
        paths.append(path)
    return paths


def account_charges(stats: EmulatorStats, report: SoakReport, deadline_seconds: float) -> None:
    """Sort every charged start: paid once, re-paid after a loss, or a duplicate charge.

    A re-start is judged by the starts of the same generation before it:

    - one of them was notified in time (within ``deadline_seconds`` of its start, the
      client's wait): a duplicate charge, a credit our client wasted;
    - one was notified only after that deadline (the server was late, the client had
      given up as documented): ``repaid_late``;
    - otherwise the start just before it was lost (no notification) or failed (an
      ``error`` notification): ``repaid_lost`` / ``repaid_failed``, the price of a
      server-side loss. (The one just before: after a loss and then a failure, the
      failure is what made the client start again.)
    """
    by_key: dict[Any, list[Any]] = {}
    for record in stats.generations:
        by_key.setdefault(record.key, []).append(record)
    for key, records in by_key.items():
        records.sort(key=lambda r: r.id)
        report.generations_paid_once += 1
        for index, record in enumerate(records[1:], start=1):
            earlier = records[:index]
            notified = [r for r in earlier if r.outcome == "notified"]
            if any(r.completed_at - r.started_at <= deadline_seconds for r in notified):
                report.duplicate_charges += 1
                history = ", ".join(
                    f"#{r.id} {r.outcome} {r.started_at:.2f}->{r.completed_at} seen {r.seen_at}"
                    for r in records
                )
                report.duplicate_charge_keys.append(f"{record.id}: {key!r} ({history})")
            elif notified:
                report.repaid_late += 1
            elif earlier[-1].outcome == "lost":
                report.repaid_lost += 1
            elif earlier[-1].outcome == "error":
                report.repaid_failed += 1
            else:
                report.repaid_unsettled += 1


def check_outputs(out_dir: Path, report: SoakReport) -> None:
    """Count delivered outputs; every file must decode and match its manifest hash."""
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.exists():
        return
    manifest = Manifest.model_validate_json(manifest_path.read_text())
    for record in manifest.outputs:
        path = Path(record.path)
        try:
            data = path.read_bytes()
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
            if hashlib.sha256(data).hexdigest() != record.sha256:
                raise ValueError("content differs from the manifest")
        except Exception as exc:  # any reason makes it an invalid output
            report.invalid_images.append(f"{path.name}: {exc}")
            continue
        report.outputs_delivered += 1


@contextmanager
def _quiet() -> Iterator[None]:
    # Hundreds of injected faults mean hundreds of warnings; the report has the numbers.
    names = ("prefect", "piktid_prefect", "httpx")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def run_soak(
    outputs: int = 1000,
    *,
    fault_rate: float = 0.10,
    seed: int = 6,
    time_scale: float = 0.01,
    max_rounds: int = 6,
    workdir: Path | None = None,
) -> SoakReport:
    """Run the soak against a private emulator and return what its books say.

    Args:
        outputs: Outputs wanted (rounded up to a whole number of 40-output images).
        fault_rate: Share of requests hit by request-level faults, and the per-generation
            rate of notification faults.
        seed: Seed of the fault RNG (same seed, same fault sequence per request order).
        time_scale: Emulator speed (0.01 = 100x faster than PiktID).
        max_rounds: Flow runs at most, re-running while outputs are missing.
        workdir: Where images and outputs go (a temporary folder by default).
    """
    images = math.ceil(outputs / OUTPUTS_PER_IMAGE)
    report = SoakReport(outputs_expected=images * OUTPUTS_PER_IMAGE)
    root = workdir or Path(tempfile.mkdtemp(prefix="piktid-soak-"))
    make_images(root / "images", images)
    out_dir = root / "outputs"
    started = time.monotonic()
    config = EmulatorConfig(time_scale=time_scale, seed=seed)
    with EmulatorServer(config) as emulator, _quiet():
        account = emulator.create_account(credits=1_000_000)
        credentials = PiktidCredentials(
            base_url=account.base_url,
            email=account.email,
            password=account.password,
            poll_interval_seconds=3.0 * time_scale * 1.5,
        )
        emulator.set_faults(fault_config(fault_rate, seed))
        for _ in range(max_rounds):
            report.rounds += 1
            state = batch_variations(
                images=str(root / "images"),
                person_keywords=PERSON_KEYWORDS,
                background_keywords=BACKGROUNDS,
                credentials=credentials,
                out_dir=str(out_dir),
                stagger_seconds=15.0 * time_scale,
                timeout_seconds=600.0 * time_scale,
                return_state=True,
            )
            if state.is_completed():
                report.round_failures.append(0)
                break
            report.round_failures.append(_failed_count(state))
        emulator.drain()
        stats = emulator.stats(account.email)
    report.seconds = round(time.monotonic() - started, 1)
    report.requests = sum(stats.requests.values())
    report.faults = dict(Counter(stats.faults))
    report.credits_charged = stats.credits_charged
    account_charges(stats, report, deadline_seconds=600.0)
    check_outputs(out_dir, report)
    return report


def _failed_count(state: Any) -> int:
    message = str(state.message or "")
    # "N of M outputs failed ..." from run_outputs; -1 when the flow failed otherwise.
    words = message.split("of", 1)[0].split()
    return int(words[-1]) if words and words[-1].isdigit() else -1


def main() -> None:
    """``python benchmarks/soak.py [--outputs 1000] [--fault-rate 0.1]``: print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--max-rounds", type=int, default=6)
    args = parser.parse_args()
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        report = run_soak(
            args.outputs,
            fault_rate=args.fault_rate,
            seed=args.seed,
            time_scale=args.time_scale,
            max_rounds=args.max_rounds,
        )
    print(json.dumps(report.summary(), indent=2))


if __name__ == "__main__":
    main()
