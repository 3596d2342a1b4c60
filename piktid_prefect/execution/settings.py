"""The settings of one run: built once from the flow's parameters, then handed down.

A flow keeps flat, typed parameters (Prefect builds the deployment's parameter form and
schema from them) and turns them into one frozen :class:`RunSettings` in its first
line; from there only that object travels (to the run's steps, the fan-out, each output
task), so a setting cannot be forgotten on the way or drift between flows. The inbox
hands the same object to its subflow with :meth:`RunSettings.for_flow`, and the
command line takes its defaults from here.

Adding a setting is one field here (with its default) and one parameter on the flows
that expose it. This module imports no Prefect: the command line reads the defaults
before Prefect starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from piktid_prefect.runtime.chain_models import ChainStep
from piktid_prefect.runtime.notifications import DEFAULT_TIMEOUT_SECONDS
from piktid_prefect.runtime.stagger import DEFAULT_STAGGER_SECONDS

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_OUTPUT_RETRIES",
    "DEFAULT_OUT_DIR",
    "DEFAULT_STAGGER_SECONDS",
    "DEFAULT_TIMEOUT_SECONDS",
    "RunSettings",
]

DEFAULT_OUT_DIR = "piktid-output"
DEFAULT_MAX_IN_FLIGHT = 32
# An output the server failed or never reported is started once more in the same run.
DEFAULT_OUTPUT_RETRIES = 1


class RunSettings(BaseModel):
    """How one run makes its outputs: where, how fast, how long, at what cost."""

    # Unknown names are ignored so that a flow can pass all its parameters at once.
    model_config = ConfigDict(frozen=True, extra="ignore")

    out_dir: str = Field(
        DEFAULT_OUT_DIR,
        description="Folder for the images and manifest.json (inside output_storage_block).",
    )
    output_storage_block: str | None = Field(
        None,
        description="A saved storage block ('s3-bucket/<name>') holding out_dir; None: local.",
    )
    stagger_seconds: float = Field(
        DEFAULT_STAGGER_SECONDS, description="Delay of a person's follow-ups after its first."
    )
    max_in_flight: int | None = Field(
        DEFAULT_MAX_IN_FLIGHT, description="Bound on this process's generations in flight."
    )
    timeout_seconds: float = Field(
        DEFAULT_TIMEOUT_SECONDS, description="How long each output's notification is awaited."
    )
    concurrency_limit: str | None = Field(
        None, description="A Prefect global concurrency limit capping the account."
    )
    output_retries: int = Field(
        DEFAULT_OUTPUT_RETRIES, description="Paid re-starts of an output the server failed."
    )
    max_credits: int | None = Field(None, description="Cap on the run's paid starts.")
    allow_partial: bool = Field(False, description="Short of credits: make what fits.")
    low_credits_threshold: float | None = Field(
        None, description="Warn (and emit an event) when the balance ends under this."
    )
    then: list[ChainStep] = Field(
        default_factory=list,
        description="Steps after each variation, in order: an upscale, an identity swap.",
    )

    @field_validator("then", mode="before")
    @classmethod
    def _no_steps(cls, value: Any) -> Any:
        return [] if value is None else value  # a flow's ``then=None``

    @model_validator(mode="after")
    def _steps_write_locally(self) -> RunSettings:
        # Chained steps write their files to a local out_dir (execution/chain.py); refused
        # before anything is paid rather than scattered between a bucket and a disk.
        if self.then and self.output_storage_block:
            raise ValueError(
                "chained steps (then=) write to a local out_dir: they cannot be combined "
                "with output_storage_block yet"
            )
        return self

    @classmethod
    def of(cls, parameters: Mapping[str, Any], **overrides: Any) -> RunSettings:
        """The settings among a flow's parameters (matched by name; the others ignored)."""
        return cls.model_validate({**parameters, **overrides})

    def for_flow(self, flow: Callable[..., Any]) -> dict[str, Any]:
        """These settings as keyword arguments of ``flow``: the ones it takes, by name."""
        accepted = inspect.signature(getattr(flow, "fn", flow)).parameters
        return {name: value for name, value in self.model_dump().items() if name in accepted}

    @property
    def window(self) -> int:
        """Outputs submitted at once: twice the in-flight bound keeps every slot busy."""
        return 2 * (self.max_in_flight or DEFAULT_MAX_IN_FLIGHT)
