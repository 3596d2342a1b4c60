"""Batch benchmark of piktid-prefect against the emulator (``python benchmarks/run.py``).

Modules: ``spec`` (the batch, the latencies and a job handed to a subprocess), ``images``
(eight distinct three-person photos), ``bound`` (the API's critical path), ``bare`` and
``sequential`` (the two reference clients), ``child`` (what runs in each fresh
subprocess) and ``report`` (the results table).
"""
