"""Entry script: person + background variations of every image in a folder.

``python flows/batch_variations.py FOLDER`` or, as a deployment entrypoint,
``flows/batch_variations.py:batch_variations``.
"""

from __future__ import annotations

import sys

from piktid_prefect.flows import batch_variations

__all__ = ["batch_variations"]

if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "examples/images"
    batch_variations(
        folder,
        person_keywords=[{"Location": "Oceania"}],
        background_keywords=[{"nature_landscapes": "Beach"}],
    )
