"""What happens to an option name this version of the package does not know.

PiktID adds options without notice (``ip_scale``, sent by its own swapid client with a
reference image; ``flag_watermark``, which PRO accounts may turn off). Refusing them would
make every new option wait for a release of this package, so an unknown option travels
to the API as given. Known options are still range- and type-checked before any credit.

Two things stay refused, because they are mistakes rather than new options and a wrong
guess costs a paid generation: a value that cannot travel as JSON, and a spelling of a
known option in another case or separator style (``Seed``, ``guidance-scale``,
``guidanceScale``), which PiktID would ignore. A name merely close to a known one
(``strenght``) is sent, with a warning that names the option it may have meant.
"""

from __future__ import annotations

import difflib
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["check_unknown_options"]

logger = logging.getLogger("piktid_prefect.wire.options")

# difflib ratio above which an unknown name is reported as a likely typo of a known one:
# "strenght"/"strength" scores 0.875, "seeds"/"seed" 0.89, "ip_scale"/"guidance_scale" 0.64.
_TYPO_RATIO = 0.85

_reported: set[tuple[str, str]] = set()
_reported_lock = threading.Lock()


def _folded(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _first_report(model: str, name: str) -> bool:
    with _reported_lock:
        if (model, name) in _reported:
            return False
        _reported.add((model, name))
        return True


def check_unknown_options(model: str, extra: Mapping[str, Any], known: Iterable[str]) -> None:
    """Accept ``extra`` (options ``model`` does not type) or raise ``ValueError``.

    Each accepted name is logged once per process and model: at debug level, or as a
    warning when it looks like a typo of a known option.

    Args:
        model: The options model's name, for messages (``PersonOptions``).
        extra: The unknown options and their values.
        known: The option names the model types.
    """
    known_names = list(known)
    by_folded = {_folded(name): name for name in known_names}
    for name, value in extra.items():
        same = by_folded.get(_folded(name))
        if same is not None:
            raise ValueError(f"Unknown option {name!r}: did you mean {same!r}?")
        try:
            json.dumps(value, allow_nan=False)
        except TypeError:
            raise ValueError(
                f"Option {name!r} must be a JSON value (text, number, bool, list or object), "
                f"got {type(value).__name__}"
            ) from None
        except ValueError:
            raise ValueError(f"Option {name!r} must be a finite number, got {value!r}") from None
        if not _first_report(model, name):
            continue
        close = difflib.get_close_matches(name, known_names, n=1, cutoff=_TYPO_RATIO)
        if close:
            logger.warning(
                "%s: option %r is not one this version knows; it is sent to PiktID as is. "
                "Did you mean %r?",
                model,
                name,
                close[0],
            )
        else:
            logger.debug(
                "%s: option %r is not one this version knows; it is sent to PiktID as is",
                model,
                name,
            )
