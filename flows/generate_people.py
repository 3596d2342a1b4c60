"""Entry script: person replacements of one image (``python flows/generate_people.py IMAGE``).

Also usable as a deployment entrypoint: ``flows/generate_people.py:generate_people``.
"""

from __future__ import annotations

import sys

from piktid_prefect.flows import generate_people

__all__ = ["generate_people"]

if __name__ == "__main__":
    image = sys.argv[1] if len(sys.argv) > 1 else "examples/images/group_of_three.jpg"
    generate_people(image, keywords=[{"Location": "Oceania"}, {"Location": "East Asia"}])
