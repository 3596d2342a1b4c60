"""What a run would make and cost, before paying: sorting outputs, reading the balance.

Each output a flow asks for is one of:

- **delivered**: ``manifest.json`` in the output folder lists it (same file name, same
  source image content) and the file is there. The run hands back that record and pays
  nothing; nothing is uploaded for it either.
- **cached**: Prefect's result cache of :func:`~piktid_prefect.tasks.generate_output`
  holds its key (the output's identity): the run collects it and pays nothing.
- **to pay**: one credit each (:data:`~piktid_prefect.runtime.credits.CREDITS_PER_OUTPUT`).

:func:`preflight` (run by every flow before its first start) adds one ``GET /me`` to read
the balance, and refuses a run that cannot be paid for, or, with ``allow_partial``, keeps
the first outputs that fit. The check is one request; it cannot reserve credits, so
another run on the same account may spend them between the check and the starts: the
run then meets a ``402``, stops its new starts at once and fails naming how many outputs
were not started (see :mod:`piktid_prefect.runtime.credits`).

The ``plan_*`` functions (:mod:`piktid_prefect.execution.plan`) answer "what would this run make
and cost?" with no upload and no start: images are hashed locally, and the balance is
read with ``GET /me``. What a plan cannot know: the persons PiktID would detect in an
image it has not seen. An image uploaded by an earlier run (its upload is still in
Prefect's cache, 23 h) is planned with its real persons; with explicit person ids, those
ids are planned (whether they exist is checked by the run, after its upload). Otherwise
its person outputs are listed once per keyword as ``persons unknown`` and the credits
are a lower bound ("at least").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger
from prefect.results import get_result_store
from pydantic import BaseModel, Field

from piktid_prefect.credentials import PiktidCredentials
from piktid_prefect.runtime import credits, generation
from piktid_prefect.runtime.blocking import run_async
from piktid_prefect.runtime.results import (
    GenerationSpec,
    OutputRecord,
    UploadedImage,
    output_filename,
)
from piktid_prefect.storage import ManifestView, OutputLocation, open_output_location
from piktid_prefect.tasks.steps import (
    generate_output,
    generation_cache_key,
    upload_cache_key,
    upload_image,
)
from piktid_prefect.wire.errors import AuthenticationFailed, PiktidError
from piktid_prefect.wire.images import load_image
from piktid_prefect.wire.models import Person

__all__ = [
    "CreditPlan",
    "OutputStatus",
    "PlannedOutput",
    "Preflight",
    "local_image",
    "plan_outputs",
    "preflight",
    "read_balance",
]

logger = logging.getLogger(__name__)

OutputStatus = Literal["delivered", "cached", "to pay", "left out", "persons unknown"]
Work = tuple[UploadedImage, GenerationSpec]


class PlannedOutput(BaseModel):
    """One output of a plan and what it would cost."""

    image: str = Field(description="Source image name.")
    kind: str = Field(description="person or background.")
    person: int | None = Field(None, description="Person id (None: background or unknown).")
    keyword: dict[str, str] = Field(default_factory=dict, description="The keyword pair.")
    seed: int | None = Field(None, description="The seed it would use.")
    file: str = Field("", description="The file name it would be written under.")
    status: OutputStatus = Field(description="delivered, cached, to pay, left out, ...")


class CreditPlan(BaseModel):
    """What a run would make and spend; made with no upload and no start."""

    outputs: list[PlannedOutput] = Field(default_factory=list, description="Every output.")
    balance: float | None = Field(description="The account's credits now (GET /me), if known.")
    max_credits: int | None = Field(None, description="The run's cap, if any.")

    def count(self, status: OutputStatus) -> int:
        """How many outputs have ``status``."""
        return sum(1 for o in self.outputs if o.status == status)

    @property
    def exact(self) -> bool:
        """False when some images' persons are unknown until they are uploaded."""
        return self.count("persons unknown") == 0

    @property
    def credits_needed(self) -> int:
        """Credits the outputs not yet made need (a lower bound when not :attr:`exact`);
        the ones marked ``left out`` are those the balance or ``max_credits`` cannot pay."""
        paid = self.count("to pay") + self.count("left out") + self.count("persons unknown")
        return paid * credits.CREDITS_PER_OUTPUT

    def line(self) -> str:
        """``6 outputs: 2 delivered, 1 cached, 3 to pay; needs 3 credits, balance 10``."""
        parts = [
            f"{self.count(s)} {s}"
            for s in ("delivered", "cached", "to pay", "left out", "persons unknown")
            if self.count(s)
        ]
        needs = f"{'' if self.exact else 'at least '}{self.credits_needed}"
        text = f"{len(self.outputs)} outputs: {', '.join(parts) or 'none'}; needs {needs}"
        cap = "" if self.max_credits is None else f", max_credits {self.max_credits}"
        has = "balance unknown" if self.balance is None else "the account has "
        has += "" if self.balance is None else credits.format_credits(self.balance)
        return f"{text} credits, {has}{cap}"


@dataclass
class Preflight:
    """What a run will do, decided before its first start."""

    delivered: list[OutputRecord] = field(default_factory=list)
    to_run: list[Work] = field(default_factory=list)  # cached and paid, in the flow's order
    left_out: list[Work] = field(default_factory=list)
    paid: int = 0
    balance: float | None = None


def read_balance(account: PiktidCredentials) -> float | None:
    """The account's credits: one ``GET /me``; None if the answer does not say.

    A failed read (other than refused credentials) is logged, not raised: the run goes on
    without the balance check, and a ``402`` would still stop its starts.
    """
    try:
        balance = generation.balance(account)
    except AuthenticationFailed:
        raise
    except PiktidError as exc:
        _logger().warning("Could not read the PiktID balance (GET /me): %s", exc)
        return None
    if balance is None:
        _logger().warning("GET /me did not say the balance: the run goes on without the check")
    return balance


def preflight(
    account: PiktidCredentials,
    work: Sequence[Work],
    out_dir: str | OutputLocation,
    *,
    max_credits: int | None,
    allow_partial: bool,
    view: ManifestView | None = None,
) -> Preflight:
    """Sort ``work`` into delivered, cached and paid; refuse what cannot be paid for.

    ``out_dir`` is a local folder or an output location (a bucket); ``view`` is its
    manifest if the run already read it (else it is read here).

    Raises:
        NotEnoughCredits: The balance (or ``max_credits``) is short and ``allow_partial``
            is False. Nothing was started.
    """
    result = Preflight()
    store = _generation_results()
    delivered = _Delivered.of(out_dir, view)
    to_pay: list[int] = []
    cached: list[int] = []
    for index, (image, spec) in enumerate(work):
        record = delivered.record(image, spec)
        if record is not None:
            result.delivered.append(record)
        elif _is_cached(store, account, image, spec):
            cached.append(index)
        else:
            to_pay.append(index)
    if to_pay or cached:
        result.balance = read_balance(account)
    chosen, left_out = credits.affordable(
        to_pay, result.balance, max_credits, allow_partial=allow_partial
    )
    result.paid = len(chosen)
    result.left_out = [work[index] for index in left_out]
    result.to_run = [work[index] for index in sorted({*cached, *chosen})]
    return result


def plan_outputs(
    account: PiktidCredentials,
    work: Sequence[Work],
    out_dir: str,
    *,
    max_credits: int | None = None,
    unknown: Sequence[PlannedOutput] = (),
) -> CreditPlan:
    """The plan of ``work`` (outputs whose persons are known) plus ``unknown`` ones."""
    store = _generation_results()
    delivered = _Delivered.of(out_dir)
    statuses: list[OutputStatus] = []
    to_pay: list[int] = []
    for index, (image, spec) in enumerate(work):
        if delivered.record(image, spec) is not None:
            statuses.append("delivered")
        elif _is_cached(store, account, image, spec):
            statuses.append("cached")
        else:
            statuses.append("to pay")
            to_pay.append(index)
    balance = read_balance(account)
    _, left_out = credits.affordable(to_pay, balance, max_credits, allow_partial=True)
    for index in left_out:
        statuses[index] = "left out"
    outputs = [
        PlannedOutput(
            image=image.name,
            kind=spec.kind,
            person=spec.person_id,
            keyword=spec.keyword,
            seed=spec.seed,
            file=output_filename(image.name, spec),
            status=status,
        )
        for (image, spec), status in zip(work, statuses, strict=True)
    ]
    return CreditPlan(outputs=[*outputs, *unknown], balance=balance, max_credits=max_credits)


def local_image(
    account: PiktidCredentials, path: str, persons: Sequence[int] | None
) -> tuple[UploadedImage, bool]:
    """``path`` as the run would see it, without uploading: (image, persons known).

    An upload still in Prefect's cache gives the real persons; otherwise ``persons`` (ids
    the caller named) stand in, or no person is known.
    """
    payload = load_image(path)
    key = upload_cache_key(cast(Any, None), {"credentials": account, "image": path})
    store = run_async(get_result_store().aupdate_for_task, upload_image)
    try:
        if store.exists(key):
            uploaded = store.read(key).result
            if isinstance(uploaded, UploadedImage):
                return uploaded, True
    except Exception:  # an unreadable cache entry: the run would upload again
        pass
    stand_ins = tuple(Person(id=pid, approve=True) for pid in persons or ())
    image = UploadedImage(
        image_id="",
        sha256=payload.sha256,
        name=Path(path).stem,
        persons=stand_ins,
        account_key=account.account_key,
        uploaded_at=0.0,
        source=str(Path(path).resolve()),
    )
    return image, persons is not None


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()  # shown with the run in the UI
    except MissingContextError:  # a plan, outside any run
        return logger


@dataclass(frozen=True)
class _Delivered:
    """The outputs an output location's manifest lists, and the files it holds."""

    records: dict[str, OutputRecord]
    files: set[str]

    @classmethod
    def of(cls, out: str | OutputLocation, view: ManifestView | None = None) -> _Delivered:
        location = open_output_location(out) if isinstance(out, str) else out
        manifest = (view or location.manifest.read()).manifest
        records = {Path(r.path).name: r for r in manifest.outputs}
        # One listing for "the file is there", not one request per output.
        return cls(records, location.image_names() if records else set())

    def record(self, image: UploadedImage, spec: GenerationSpec) -> OutputRecord | None:
        name = output_filename(image.name, spec)
        record = self.records.get(name)
        if record is None or record.image_sha256 != image.sha256:
            return None
        if (record.kind, record.person, record.keyword, record.seed) != (
            spec.kind,
            spec.person_id,
            spec.keyword,
            spec.seed,
        ):
            return None
        return record if name in self.files else None


def _generation_results() -> Any:
    """Where ``generate_output`` keeps its results (the store its cache reads)."""
    return run_async(get_result_store().aupdate_for_task, generate_output)


def _is_cached(
    store: Any, account: PiktidCredentials, image: UploadedImage, spec: GenerationSpec
) -> bool:
    key = generation_cache_key(
        cast(Any, None), {"credentials": account, "image": image, "spec": spec}
    )
    try:
        return bool(store.exists(key))
    except Exception:  # unreadable: count it as paid (the conservative side)
        return False
