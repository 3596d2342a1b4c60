"""The steps chained after a variation (issue 24), and what each one delivers.

A run's settings carry ``then: list[ChainStep]``: after each variation is delivered, its
result link goes to the first step, that step's link to the next, and so on. Each step
is a paid start of its own, so each has an identity of its own: the chain's identity
(:func:`chain_identity`), which is the variation's output identity followed by the steps
so far. Two runs that ask for the same variation and the same steps pay once, and a
chain killed after its upscale pays only for the swap on a re-run.

Plain pydantic models (no Prefect, no runtime imports): :mod:`.results` lists a step's
record in ``manifest.json``, the settings type the deployment's parameter schema with
them, and the command line builds them before Prefect starts.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from piktid_prefect.wire.models_chain import OutputFormat

__all__ = [
    "ChainStep",
    "IdentityStep",
    "StepRecord",
    "StepResult",
    "UpscaleStep",
    "chain_identity",
    "step_filename",
]


class UpscaleStep(BaseModel):
    """Upscale the previous result with SuperID (``/superid/v2``; fractional credits)."""

    model_config = ConfigDict(frozen=True)

    step: Literal["upscale"] = Field("upscale", description="This step's kind.")
    scale_factor: Literal[2, 4] = Field(2, description="x2 or x4.")
    fast: bool = Field(False, description="The fast upscaler (/superid_fast).")
    output_format: OutputFormat = Field("PNG", description="PNG or JPEG.")

    @property
    def label(self) -> str:
        return f"upscale x{self.scale_factor}" + (" fast" if self.fast else "")


class IdentityStep(BaseModel):
    """Put a saved identity's face on the previous result (consistent identities)."""

    model_config = ConfigDict(frozen=True)

    step: Literal["identity"] = Field("identity", description="This step's kind.")
    identity_name: str = Field(min_length=1, description="An identity made with upload_face.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="IdentitySwapOptions (seed, prompt_strength, ...)."
    )

    @property
    def label(self) -> str:
        return f"identity {self.identity_name}"


ChainStep = Annotated[UpscaleStep | IdentityStep, Field(discriminator="step")]
"""One step after a variation: an upscale or an identity swap."""


def chain_identity(previous: str, step: UpscaleStep | IdentityStep) -> str:
    """The paid identity of ``step`` applied to the output whose identity is ``previous``
    (a variation's output identity, or the identity of the step before)."""
    payload = json.dumps([previous, step.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def step_filename(variation_file: str, steps: list[UpscaleStep | IdentityStep]) -> str:
    """``<variation stem>_x2_id-<name>.<png|jpg>``: the variation's name, then each step
    so far, so that every step of every chain has its own deterministic file."""
    stem = variation_file.rsplit(".", 1)[0]
    parts = []
    for step in steps:
        if isinstance(step, UpscaleStep):
            parts.append(f"x{step.scale_factor}" + ("f" if step.fast else ""))
        else:
            slug = re.sub(r"[^A-Za-z0-9]+", "-", step.identity_name).strip("-")[:40]
            name_hash = hashlib.sha256(step.identity_name.encode()).hexdigest()[:6]
            parts.append(f"id-{slug or 'x'}-{name_hash}")
    last_upscale = [s for s in steps if isinstance(s, UpscaleStep)]
    suffix = ".png" if last_upscale and last_upscale[-1].output_format == "PNG" else ".jpg"
    return f"{stem}_{'_'.join(parts)}{suffix}"


class StepResult(BaseModel):
    """A finished step: its result link and what it cost."""

    model_config = ConfigDict(frozen=True)

    identity: str = Field(description="chain_identity() of this step.")
    step: ChainStep = Field(description="What was asked.")
    steps_so_far: int = Field(description="Its place in the chain (1 = the first step).")
    link: str = Field(description="Download URL of the result.")
    job: str = Field(description="The job's label.")
    seconds: float = Field(description="Seconds from start to notification.")
    credits: float = Field(
        0.0, description="Credits this step's start cost (0 when a crashed run paid it)."
    )


class StepRecord(BaseModel):
    """One delivered step of a chain, as listed in ``manifest.json`` under its variation."""

    path: str = Field(description="Where the step's image was written.")
    step: str = Field(description="The step, e.g. 'upscale x2' or 'identity NAME'.")
    link: str = Field(description="The result link.")
    seconds: float = Field(description="Seconds from start to notification.")
    credits: float = Field(0.0, description="Credits its start cost.")
    sha256: str = Field(description="Content hash of the written file.")
