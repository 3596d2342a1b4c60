"""What a run hands back, and each failed output with its kind, typed where it was caught.

An output that failed is either *failed* (started, or refused for a reason of its own)
or *not started* for lack of credits (the run's ``max_credits`` used up, or the account
answered ``402``): nothing was paid for it. The kind is read from the exception's type
in :func:`failure_of`, at the one place the fan-out catches it, never from the text of a
message afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from piktid_prefect.runtime.credits import CreditSummary
from piktid_prefect.runtime.results import (
    GenerationSpec,
    OutputRecord,
    RejectedImage,
    UploadedImage,
)
from piktid_prefect.wire.errors import InsufficientCredits, NotEnoughCredits

__all__ = [
    "FailedOutput",
    "Failure",
    "FailureKind",
    "VariationsResult",
    "failed_output",
    "failure_of",
]

FailureKind = Literal["failed", "not started"]
StopReason = Literal["balance", "max_credits"]


class FailedOutput(BaseModel):
    """An output that could not be delivered."""

    image: str = Field(description="Source image name.")
    kind: str = Field(description="person or background.")
    person: int | None = Field(description="Person id, if any.")
    keyword: dict[str, str] = Field(description="The keyword pair.")
    error: str = Field(description="What went wrong.")

    def label(self) -> str:
        """``photo person=1 {'Location': 'Oceania'}``: the output, for a log line."""
        return f"{self.image} {self.kind} person={self.person} {self.keyword}"


class VariationsResult(BaseModel):
    """What a flow delivered."""

    outputs: list[OutputRecord] = Field(default_factory=list, description="Delivered outputs.")
    failures: list[FailedOutput] = Field(default_factory=list, description="Failed outputs.")
    manifest_path: str = Field("", description="Path of manifest.json.")
    paid_again: int = Field(
        0,
        description="Outputs this run started (and paid) more than once: the server failed "
        "or never reported their first start.",
    )
    left_out: list[FailedOutput] = Field(
        default_factory=list, description="Outputs allow_partial left out for lack of credits."
    )
    credits: CreditSummary | None = Field(None, description="What the run spent.")
    rejected: list[RejectedImage] = Field(
        default_factory=list, description="Source images skipped (on_bad_image='skip')."
    )


@dataclass(frozen=True)
class Failure:
    """A failed output and its kind; ``stop`` says why a not-started one was not."""

    output: FailedOutput
    kind: FailureKind
    stop: StopReason | None = None


def failed_output(image: UploadedImage, spec: GenerationSpec, error: str) -> FailedOutput:
    """The public record of one output that was not delivered."""
    return FailedOutput(
        image=image.name, kind=spec.kind, person=spec.person_id, keyword=spec.keyword, error=error
    )


def failure_of(image: UploadedImage, spec: GenerationSpec, exc: BaseException) -> Failure:
    """The failure of one output, its kind taken from the exception that ended it."""
    output = failed_output(image, spec, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, NotEnoughCredits):
        reason: StopReason = "max_credits" if exc.reason == "max_credits" else "balance"
        return Failure(output, "not started", reason)
    if isinstance(exc, InsufficientCredits):  # the start that met the 402: not charged
        return Failure(output, "not started", "balance")
    return Failure(output, "failed")
