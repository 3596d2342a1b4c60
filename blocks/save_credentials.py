"""Save a PiktidCredentials block from the environment.

    PIKTID_ACCESS_TOKEN=...            (or PIKTID_EMAIL=... PIKTID_PASSWORD=...)
    PIKTID_BASE_URL=...                (optional; default https://api.piktid.com/api)
    python blocks/save_credentials.py [BLOCK_NAME]      # default name: piktid

Registers the block type first, so `prefect block ls` and the UI show it.
"""

from __future__ import annotations

import sys

from piktid_prefect.credentials import PiktidCredentials


def main(argv: list[str]) -> int:
    name = argv[1] if len(argv) > 1 else "piktid"
    try:
        credentials = PiktidCredentials.from_env()
    except ValueError as exc:
        print(f"error: {str(exc).splitlines()[-1].strip()}", file=sys.stderr)
        return 2
    PiktidCredentials.register_type_and_schema()
    credentials.save(name, overwrite=True)
    print(f"Saved PiktidCredentials block {name!r} for {credentials.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
