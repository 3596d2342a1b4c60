"""Entry script: background edits of one image (``python flows/edit_backgrounds.py IMAGE``).

Also usable as a deployment entrypoint: ``flows/edit_backgrounds.py:edit_backgrounds``.
"""

from __future__ import annotations

import sys

from piktid_prefect.flows import edit_backgrounds

__all__ = ["edit_backgrounds"]

if __name__ == "__main__":
    image = sys.argv[1] if len(sys.argv) > 1 else "examples/images/astronaut.jpg"
    edit_backgrounds(
        image,
        keywords=[{"nature_landscapes": "Beach"}, {"indoor_spaces": "Office"}],
        relight_strength=0.5,
    )
