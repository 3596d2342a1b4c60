"""One chained step (an upscale or an identity swap) on a result link: start, wait, save.

The step's input is the previous result's *link*: the client fetches it in memory and
uploads the bytes (no public PiktID client sends a URL to these endpoints), so nothing is
written locally between steps. The step's start is paid, so it goes the way a
variation's start goes:

- the run's budget is charged the step's price first (``/superid_info`` prices an
  upscale, fractions included; a swap costs :data:`IDENTITY_SWAP_CREDITS`), so
  ``max_credits`` and a ``402`` stop hold mid-chain;
- the started job is written to the journal under the chain's identity before the
  wait, so that a run killed mid-chain and re-run waits for the job it paid for
  instead of paying again (PiktID keeps the notification 600 s);
- the wait goes through the account's one notification poller (one poll asks for the
  edits' and the chained products' results at once: the 3 s limit is per account).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from piktid_prefect.runtime import credits
from piktid_prefect.runtime.account import AccountAccess
from piktid_prefect.runtime.chain_models import IdentityStep, StepRecord, StepResult, UpscaleStep
from piktid_prefect.runtime.generation import client_for, hub_for, writable_folder
from piktid_prefect.runtime.journal import JobJournal, default_journal
from piktid_prefect.wire.errors import (
    BadRequest,
    GenerationFailed,
    GenerationStartUnconfirmed,
    InvalidPerson,
    NotificationTimeout,
)
from piktid_prefect.wire.models_chain import IdentitySwapJob, UpscaleJob

__all__ = ["IDENTITY_SWAP_CREDITS", "download_step", "run_step"]

# No public source gives the swap's price and PiktID offers no estimate for it; the
# emulator's configuration uses 1 credit, like an edit.
IDENTITY_SWAP_CREDITS = 1.0
# PiktID keeps a notification 600 s: a journal entry older than that can no longer come.
_NOTIFICATION_LIFETIME_SECONDS = 600.0


def run_step(
    account: AccountAccess,
    source: str,
    identity: str,
    step: UpscaleStep | IdentityStep,
    *,
    steps_so_far: int,
    timeout_seconds: float,
    journal: JobJournal | None = None,
) -> StepResult:
    """Start ``step`` on the image at ``source`` (a result link) and wait for its result.

    Args:
        identity: :func:`~.chain_models.chain_identity` of this step (the journal's key).

    Raises:
        NotEnoughCredits: The run's budget cannot pay the step; nothing was sent.
        GenerationFailed: PiktID reported an error, or a result without a link.
        NotificationTimeout: No result within ``timeout_seconds``.
    """
    journal = journal or default_journal()
    job = _pending(journal, identity, step)
    cost = 0.0  # a job in the journal was paid by the run that crashed
    if job is None:
        job, cost = _start(account, source, step)
        journal.record(identity, job)
    try:
        notification = hub_for(account).wait(job, timeout_seconds=timeout_seconds)
    except (GenerationFailed, NotificationTimeout):
        journal.settle(identity)
        raise
    journal.settle(identity)
    link = notification.result_link
    if link is None:
        raise GenerationFailed(
            f"The notification for {job.label} carries no result link",
            tasks=job.notification_name,
            msg="no result link",
            job=job.label,
        )
    return StepResult(
        identity=identity,
        step=step,
        steps_so_far=steps_so_far,
        link=link.url,
        job=job.label,
        seconds=round(max(0.0, time.time() - job.started_at), 3),
        credits=cost,
    )


def _pending(
    journal: JobJournal, identity: str, step: UpscaleStep | IdentityStep
) -> UpscaleJob | IdentitySwapJob | None:
    lifetime = _NOTIFICATION_LIFETIME_SECONDS
    if isinstance(step, UpscaleStep):
        return journal.pending_as(UpscaleJob, identity, max_age_seconds=lifetime)
    return journal.pending_as(IdentitySwapJob, identity, max_age_seconds=lifetime)


def _start(
    account: AccountAccess, source: str, step: UpscaleStep | IdentityStep
) -> tuple[UpscaleJob | IdentitySwapJob, float]:
    """Upload ``source`` to the step's product, charge the budget, send the paid start."""
    client = client_for(account)
    if isinstance(step, UpscaleStep):
        upload = client.upscale_upload(source)
        cost = client.superid_info(upload, step.scale_factor).required_credits
    else:
        target = client.upload_identity_target(source)
        if not target.approved_face_ids:
            raise InvalidPerson(f"No face to swap in {source.split('?')[0]}")
        cost = IDENTITY_SWAP_CREDITS
    credits.spend(cost)  # raises NotEnoughCredits before anything is sent
    hub_for(account).before_start()
    try:
        if isinstance(step, UpscaleStep):
            job: UpscaleJob | IdentitySwapJob = client.start_upscale(
                upload, step.scale_factor, fast=step.fast, output_format=step.output_format
            )
        else:
            # A variation changes one person; its result is swapped on its first face.
            face = target.approved_face_ids[0]
            job = client.start_identity_swap(
                target.image_id, face, step.identity_name, options=step.options
            )
    except GenerationStartUnconfirmed as exc:
        if not isinstance(exc.job, UpscaleJob | IdentitySwapJob):
            raise
        return exc.job, cost  # maybe paid: its notification settles it
    except BadRequest as exc:
        credits.not_charged(exc, cost)  # refused, nothing paid; a 402 stops the run
        raise
    return job, cost


def download_step(
    account: AccountAccess,
    result: StepResult,
    destination: str | os.PathLike[str],
    filename: str,
) -> StepRecord:
    """Write a step's result under ``filename``; an existing file is kept as is."""
    target = writable_folder(destination) / filename
    if not target.exists():
        client_for(account).download(result.link, target)
    return StepRecord(
        path=str(target),
        step=result.step.label,
        link=result.link,
        seconds=result.seconds,
        credits=result.credits,
        sha256=_sha256(target),
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
