"""Configuration of the emulator: latencies, limits, the demo account and injected faults.

Every duration is in *API-seconds*: the time the real PiktID service would take. The
emulator's virtual clock runs ``1 / time_scale`` API-seconds per real second, so with
``time_scale=0.01`` a 600 s notification lifetime passes in 6 real seconds.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FAULT_KINDS", "EmulatorConfig", "FaultConfig", "FaultKind"]

FaultKind = Literal[
    "http_429",
    "http_500",
    "http_502",
    "http_503",
    "drop_connection",
    "slow_response",
    "lose_notification",
    "duplicate_notification",
    "shuffle_notifications",
    "error_notification",
    "lose_response_after_start",
    "expire_token",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


class FaultConfig(BaseModel):
    """Per-kind probabilities (0..1) of injected faults, drawn from a seeded RNG.

    Example:
        ```python
        FaultConfig(seed=7, http_503=0.2, endpoints=("/edit/generate",))
        ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(
        default=0, description="Seed of the fault RNG: same seed, same fault sequence."
    )
    endpoints: tuple[str, ...] = Field(
        default=(),
        description="Paths (without /api, e.g. '/edit/generate') the faults apply to; "
        "empty = every endpoint.",
    )
    http_429: float = Field(default=0.0, ge=0.0, le=1.0, description="429 before processing.")
    http_500: float = Field(default=0.0, ge=0.0, le=1.0, description="500 before processing.")
    http_502: float = Field(default=0.0, ge=0.0, le=1.0, description="502 before processing.")
    http_503: float = Field(default=0.0, ge=0.0, le=1.0, description="503 before processing.")
    drop_connection: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Close the connection before processing."
    )
    slow_response: float = Field(default=0.0, ge=0.0, le=1.0, description="Delay the answer.")
    slow_response_seconds: float = Field(
        default=5.0, ge=0.0, description="Extra delay of a slow response (API-seconds)."
    )
    lose_notification: float = Field(
        default=0.0, ge=0.0, le=1.0, description="A started (charged) generation is never notified."
    )
    duplicate_notification: float = Field(
        default=0.0, ge=0.0, le=1.0, description="A result is notified twice (same data, two ids)."
    )
    shuffle_notifications: float = Field(
        default=0.0, ge=0.0, le=1.0, description="A poll answers its list out of order."
    )
    error_notification: float = Field(
        default=0.0, ge=0.0, le=1.0, description="A generation ends in an `error` notification."
    )
    lose_response_after_start: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="A start is processed and charged, then the connection is dropped.",
    )
    expire_token: float = Field(
        default=0.0, ge=0.0, le=1.0, description="The access token used expires after this request."
    )

    def rate(self, kind: FaultKind) -> float:
        """The probability of ``kind``."""
        return float(getattr(self, kind))

    def applies_to(self, path: str) -> bool:
        """Whether faults apply to ``path`` (an API path without the ``/api`` prefix)."""
        if not self.endpoints:
            return True
        wanted = {"/" + endpoint.strip("/") for endpoint in self.endpoints}
        return path in wanted or any(path.startswith(e + "/") for e in wanted)


_DAY = 86_400.0


class EmulatorConfig(BaseModel):
    """Everything that shapes the emulator's behaviour (durations in API-seconds)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    time_scale: float = Field(
        default=1.0, gt=0.0, description="Real seconds per API-second (0.01 = 100x faster)."
    )
    seed: int | None = Field(default=None, description="Seed for server-chosen seeds and ids.")
    generation_seconds: float = Field(default=8.0, ge=0.0, description="Time of one generation.")
    mask_warmup_seconds: float = Field(
        default=12.0,
        ge=0.0,
        description="Extra time of the first generation of an (image, person): the masks. "
        "Concurrent first calls each pay it (hence the documented 15 s stagger).",
    )
    upscale_seconds: float = Field(
        default=20.0, ge=0.0, description="Time of one SuperID upscale (/superid/v2)."
    )
    upscale_fast_seconds: float = Field(
        default=5.0, ge=0.0, description="Time of one fast upscale (/superid_fast)."
    )
    identity_swap_seconds: float = Field(
        default=10.0, ge=0.0, description="Time of one identity swap (consistent identities)."
    )
    upscale_credits_x2: float = Field(
        default=0.25, ge=0.0, description="Credits of an x2 upscale (fractional, as SuperID's)."
    )
    upscale_credits_x4: float = Field(default=1.0, ge=0.0, description="Credits of an x4 upscale.")
    identity_swap_credits: float = Field(
        default=1.0, ge=0.0, description="Credits of one identity swap."
    )
    download_seconds: float = Field(
        default=0.2, ge=0.0, description="Latency of a result download."
    )
    upload_seconds: float = Field(default=0.1, ge=0.0, description="Latency of an upload.")
    poll_min_interval_seconds: float = Field(
        default=3.0, ge=0.0, description="Polls closer than this (per account) answer 429."
    )
    notification_ttl_seconds: float = Field(
        default=600.0, gt=0.0, description="Notifications are deleted this long after creation."
    )
    image_ttl_seconds: float = Field(
        default=_DAY, gt=0.0, description="Uploaded targets are deleted this long after upload."
    )
    result_ttl_seconds: float = Field(
        default=_DAY, gt=0.0, description="Result files are deleted this long after creation."
    )
    access_token_ttl_seconds: float = Field(
        default=30 * _DAY, gt=0.0, description="Access lifetime."
    )
    refresh_token_ttl_seconds: float = Field(
        default=30 * _DAY, gt=0.0, description="Refresh lifetime."
    )
    max_persons: int = Field(default=30, ge=1, description="Uploads with more persons answer 400.")
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="Largest upload.")
    max_image_pixels: int = Field(default=50_000_000, ge=1, description="Largest decoded image.")
    blur_threshold: float = Field(
        default=100.0,
        ge=0.0,
        description="Faces whose variance of Laplacian (grey, native size) is below this "
        "are too blurry: approve=false. Sharp sample faces score ~900, a 9 px Gaussian "
        "blur brings them under ~35.",
    )
    demo_email: str = Field(default="demo@piktid.local", description="Seeded demo account e-mail.")
    demo_password: str = Field(default="demo-password", description="Seeded demo account password.")
    demo_credits: int = Field(default=10, ge=0, description="Credits of the demo account.")
    faults: FaultConfig = Field(default=FaultConfig(), description="Injected faults.")
