"""Entry script: process every new image of a folder (``python flows/process_new_images.py DIR``).

Also the entrypoint of the scheduled deployment in ``deployments/prefect.yaml``:
``flows/process_new_images.py:process_new_images``. Images already done (listed in the
output folder's ``manifest.json`` for every requested keyword) are skipped, so a schedule
never pays twice for an image.
"""

from __future__ import annotations

import sys

from piktid_prefect.flows.inbox import process_new_images

__all__ = ["process_new_images"]

if __name__ == "__main__":
    inbox = sys.argv[1] if len(sys.argv) > 1 else "piktid-inbox"
    process_new_images(
        inbox,
        person_keywords=[{"Location": "Oceania"}],
        background_keywords=[{"nature_landscapes": "Beach"}],
    )
