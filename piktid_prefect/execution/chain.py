"""The steps chained after each variation of a run (``RunSettings.then``, issue 24).

After a variation is delivered, :func:`deliver` hands its result link to the first step's
task (:func:`~piktid_prefect.tasks.chain.upscale` or
:func:`~piktid_prefect.tasks.chain.swap_identity`), that step's link to the next, and
writes each step's image beside the variation's, listed under it in ``manifest.json``.
Each step is its own cached task run, keyed on the chain's identity, so a re-run pays
only for the steps not yet delivered; the run's budget is charged each step's price
(fractions included), so ``max_credits`` and a ``402`` stop hold mid-chain.

A variation already listed in ``manifest.json`` with its file skips its task; when the
run asks for steps that record does not list, :func:`with_chains_to_run` runs it again
(its variation comes from the cache, free) so its chain is completed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.execution.preflight import Preflight
from piktid_prefect.execution.settings import RunSettings
from piktid_prefect.runtime import chain, credits, generation
from piktid_prefect.runtime.chain_models import StepResult, UpscaleStep, step_filename
from piktid_prefect.runtime.results import (
    GenerationResult,
    GenerationSpec,
    OutputRecord,
    UploadedImage,
    output_filename,
)
from piktid_prefect.tasks.chain import swap_identity, upscale

__all__ = ["deliver", "has_chain", "with_chains_to_run"]


def deliver(
    credentials: PiktidCredentials,
    result: GenerationResult,
    settings: RunSettings,
    budget: credits.CreditBudget,
) -> OutputRecord:
    """Download a variation, then run and download each step of ``settings.then`` after it.

    Runs on a thread of the fan-out's pool, in a copy of the flow's context, so each step
    is a task run of the flow run.
    """
    record = generation.download(credentials, result, settings.out_dir)
    previous: GenerationResult | StepResult = result
    steps = []
    for place, step in enumerate(settings.then, start=1):
        if isinstance(step, UpscaleStep):
            previous = upscale(
                credentials,
                previous,
                step.scale_factor,
                fast=step.fast,
                output_format=step.output_format,
                timeout_seconds=settings.timeout_seconds,
                budget=budget,
            )
        else:
            previous = swap_identity(
                credentials,
                previous,
                step.identity_name,
                options=step.options,
                timeout_seconds=settings.timeout_seconds,
                budget=budget,
            )
        name = step_filename(Path(record.path).name, settings.then[:place])
        steps.append(chain.download_step(credentials, previous, settings.out_dir, name))
    return record.model_copy(update={"chain": steps})


def has_chain(record: OutputRecord, settings: RunSettings) -> bool:
    """Whether ``record`` lists every step ``settings.then`` asks for, files present."""
    if not settings.then:
        return True
    wanted = [
        step_filename(Path(record.path).name, settings.then[:place])
        for place in range(1, len(settings.then) + 1)
    ]
    listed = [Path(step.path).name for step in record.chain]
    return listed == wanted and all(Path(step.path).is_file() for step in record.chain)


def with_chains_to_run(
    check: Preflight, work: list[tuple[UploadedImage, GenerationSpec]], settings: RunSettings
) -> Preflight:
    """``check`` with the delivered variations whose chain is incomplete moved to run."""
    if not settings.then:
        return check
    by_name = {output_filename(image.name, spec): (image, spec) for image, spec in work}
    kept, again = [], []
    for record in check.delivered:
        item = by_name.get(Path(record.path).name)
        if item is None or has_chain(record, settings):
            kept.append(record)
        else:
            again.append(item)
    return replace(check, delivered=kept, to_run=again + check.to_run)
