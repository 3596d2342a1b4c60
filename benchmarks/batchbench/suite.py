"""The benchmark's runs, in order, against two emulators (batch runs, memory runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchbench import spec
from batchbench.bound import BatchShape, Latencies, ideal_client, lower_bound
from batchbench.driver import Measured, Runner, check_uploads
from batchbench.images import make_images
from batchbench.report import Results
from piktid_prefect.emulator import EmulatorServer

__all__ = ["Suite"]

IMAGES = 8
# Memory runs: small images (half size), fast emulator; outputs = images x (3 x 8 + 16).
RSS_TIME_SCALE = 0.05
RSS_IMAGE_SCALE = 0.5
RSS_OUTPUTS_PER_IMAGE = spec.PERSONS_PER_IMAGE * 8 + 16


class Suite:
    """All runs of one benchmark.

    Args:
        work: Scratch folder.
        env: Environment of the client subprocesses (Prefect API URL, storage).
        time_scale: Real seconds per API-second of the batch runs.
        quick: Smaller sequential subset and a 200-output (not 1,000) memory run.
        profile: cProfile the flow's process (``profile.pstats`` in its work folder).
        batch_only: Only the flow and the bare script (no sequential, no memory runs).
    """

    def __init__(
        self,
        work: Path,
        env: dict[str, str],
        *,
        time_scale: float,
        quick: bool,
        profile: bool,
        batch_only: bool = False,
    ) -> None:
        self.work = work
        self.env = env
        self.time_scale = time_scale
        self.quick = quick
        self.profile = profile
        self.batch_only = batch_only
        self.shape = BatchShape(
            IMAGES,
            spec.PERSONS_PER_IMAGE,
            len(spec.PERSON_KEYWORDS),
            len(spec.BACKGROUND_KEYWORDS_USED),
        )
        self.latencies = Latencies(
            generation=spec.GENERATION_SECONDS,
            warmup=spec.MASK_WARMUP_SECONDS,
            upload=spec.UPLOAD_SECONDS,
            download=spec.DOWNLOAD_SECONDS,
            stagger=spec.STAGGER_SECONDS,
            poll=spec.POLL_MIN_INTERVAL_SECONDS,
            max_in_flight=spec.MAX_IN_FLIGHT,
        )
        # Sequential subset: (images, persons per image, person keywords, backgrounds).
        self.sequential_subset = (1, 1, 3, 2) if quick else (1, 3, 8, 8)
        self.rss_images = (1, 5 if quick else 25)

    def describe(self) -> list[str]:
        """What was run, for the report's header."""
        lat, s = self.latencies, self.shape
        return [
            f"Batch: {s.images} images x {s.persons} persons x {s.person_keywords} Location "
            f"keywords + {s.background_keywords} background keywords per image = "
            f"{s.outputs} outputs, through `batch_variations` (max_in_flight {lat.max_in_flight},"
            f" stagger {lat.stagger:g} API-s, poll interval {lat.poll:g} API-s).",
            f"Emulator latencies (API-seconds): generation {lat.generation:g}, mask warm-up "
            f"{lat.warmup:g}, upload {lat.upload:g}, download {lat.download:g}; polls closer "
            f"than {lat.poll:g} s answer 429. time_scale {self.time_scale:g} for the batch "
            f"runs (1 API-s = {self.time_scale:g} real s), {RSS_TIME_SCALE:g} for the memory "
            "runs. Every client runs in a fresh subprocess with a fresh account.",
        ]

    def run(self) -> Results:
        """Every run, then the results."""
        images = make_images(self.work / "images", IMAGES)
        extra = {"poll_seconds": self.latencies.poll, "stagger_seconds": self.latencies.stagger}
        pk, bk = spec.PERSON_KEYWORDS, spec.BACKGROUND_KEYWORDS_USED
        with EmulatorServer(spec.emulator_config(self.time_scale)) as emulator:
            check_uploads(emulator, images, spec.PERSONS_PER_IMAGE)
            runner = Runner(emulator, self.work / "batch", self.env)
            # One small flow first: the Prefect server's first-use costs are not the batch's.
            runner.run("prefect", images[:1], pk[:1], bk[:1], extra=extra)
            prefect = runner.run("prefect", images, pk, bk, extra=extra, profile=self.profile)
            bare = runner.run("bare", images, pk, bk, extra=extra)
            results = Results(
                header=[],
                bound=lower_bound(self.shape, self.latencies),
                ideal=ideal_client(self.shape, self.latencies),
                prefect=prefect,
                bare=bare,
                images=IMAGES,
                outputs=self.shape.outputs,
            )
            if self.batch_only:
                return results
            n_img, n_person, n_kw, n_bg = self.sequential_subset
            results.sequential = runner.run(
                "sequential",
                images[:n_img],
                pk[:n_kw],
                bk[:n_bg],
                extra={"poll_seconds": spec.SEQUENTIAL_POLL_SECONDS, "persons": n_person},
            )
        results.sequential_api_seconds, results.sequential_note = self._extrapolate(
            results.sequential
        )
        small = make_images(self.work / "small", self.rss_images[1], scale=RSS_IMAGE_SCALE)
        with EmulatorServer(spec.emulator_config(RSS_TIME_SCALE)) as emulator:
            check_uploads(emulator, small, spec.PERSONS_PER_IMAGE)
            runner = Runner(emulator, self.work / "memory", self.env)
            results.rss_small = runner.run(
                "prefect", small[:1], pk[:2], spec.BACKGROUND_POOL[:4], extra=extra
            )
            results.rss_large = runner.run("prefect", small, pk, spec.BACKGROUND_POOL, extra=extra)
        return results

    def _extrapolate(self, run: Measured) -> tuple[float, str]:
        """The whole batch's sequential time from the subset: mean per kind of step x count."""
        seconds: dict[str, list[float]] = run.child["seconds"]
        s = self.shape
        counts = {
            "upload": s.images,
            "first": s.images * s.persons,
            "follow_up": s.images * s.persons * (s.person_keywords - 1),
            "background": s.images * s.background_keywords,
        }
        total_real = sum(_mean(seconds[kind]) * count for kind, count in counts.items())
        measured = sum(len(v) for k, v in seconds.items() if k != "upload")
        note = (
            f"measured {measured} of {s.outputs} jobs in {run.api_seconds:.0f} API-s "
            f"({run.real_seconds:.0f} s real); the rest extrapolated linearly per kind of job "
            "(upload, person's first, follow-up, background)"
        )
        return total_real / self.time_scale, note


def _mean(values: list[Any]) -> float:
    return sum(values) / len(values) if values else 0.0
