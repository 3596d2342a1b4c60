"""The checks of a run's input that need neither an upload nor Prefect, written once.

The flows run them before the first credit is spent; the command line runs the very same
functions before it starts Prefect (a temporary Prefect server costs seconds), so a typo
is refused in well under a second with the same message. Checks that need PiktID's
answer (which persons an upload has, whether they are approved) stay in the flows.

This module imports only the wire layer: no Prefect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from piktid_prefect.wire.errors import InvalidInput, NothingToGenerate
from piktid_prefect.wire.images import load_image
from piktid_prefect.wire.keywords import validate_background_keyword, validate_person_keyword
from piktid_prefect.wire.models import BackgroundOptions, PersonOptions

__all__ = [
    "background_keywords",
    "background_options",
    "image_file",
    "person_keywords",
    "person_options",
    "person_prompt",
    "require_work",
]


def person_keywords(keywords: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Canonical ``{"Location": value}`` pairs, or :class:`InvalidKeyword` naming the bad one."""
    return [validate_person_keyword(k) for k in keywords]


def background_keywords(keywords: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Background ``{category: value}`` pairs, or :class:`InvalidKeyword` naming the bad one."""
    return [validate_background_keyword(k) for k in keywords]


def person_options(options: Mapping[str, Any] | None, seed: int | None) -> dict[str, Any]:
    """Checked :class:`PersonOptions` (``seed`` wins over ``options["seed"]``) as a dict."""
    merged = {**(options or {}), **({"seed": seed} if seed is not None else {})}
    checked: PersonOptions = PersonOptions.coerce(merged)
    return checked.model_dump(exclude_none=True)


def background_options(
    options: Mapping[str, Any] | None, relight_strength: float | None, seed: int | None
) -> dict[str, Any]:
    """Checked :class:`BackgroundOptions` (e.g. ``relight_strength`` in 0..1) as a dict."""
    extra = {"relight_strength": relight_strength, "seed": seed}
    merged = {**(options or {}), **{k: v for k, v in extra.items() if v is not None}}
    checked: BackgroundOptions = BackgroundOptions.coerce(merged)
    return checked.model_dump(exclude_none=True)


def image_file(path: str | Path) -> None:
    """Refuse a file that is missing, empty, not PNG/JPEG/WEBP, truncated or too big.

    The same reading the upload does (:func:`piktid_prefect.wire.images.load_image`), so
    a file that passes here is a file the upload accepts.
    """
    load_image(Path(path))


def person_prompt(prompt: object) -> str:
    """A person's free-text description, stripped (empty when none)."""
    if not isinstance(prompt, str):
        raise InvalidInput(f"A person prompt must be text, got {type(prompt).__name__}")
    return prompt.strip()


def require_work(
    *,
    person_keywords: Sequence[Mapping[str, str]] = (),
    person_prompt: str = "",
    background_keywords: Sequence[Mapping[str, str]] = (),
    background_prompt: str = "",
    hint: str = "give person keywords, a person prompt, background keywords or a prompt",
) -> None:
    """Refuse a run with nothing to generate: :class:`NothingToGenerate`, one class for it.

    ``hint`` names what the caller accepts (its own parameter or option names).
    """
    if person_keywords or person_prompt or background_keywords or background_prompt:
        return
    raise NothingToGenerate(f"Nothing to generate: {hint}")
