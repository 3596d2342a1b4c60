"""``python -m piktid_prefect.cli``: the same as the ``piktid-prefect`` command."""

from piktid_prefect.cli import main

main()
