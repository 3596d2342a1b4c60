"""Variations of every image in ``piktid-inbox/``, with the tasks spread over Dask workers.

Run from the project root after the README's "Running at scale" steps 1-4 (server,
``piktid`` credentials block, ``piktid-account`` limit, images in ``piktid-inbox/``)::

    pip install -e ".[dask]"
    python examples/dask_batch.py

The keyword (``South America``) is one the inbox and batch deployments of step 3 did not
ask for, so every output is new: made (and paid) by the Dask workers, not read back from
the result cache. The log shows the Dask cluster starting (and its dashboard address).
"""

from __future__ import annotations

from prefect_dask import DaskTaskRunner

from piktid_prefect.execution.account_limit import DEFAULT_ACCOUNT_LIMIT
from piktid_prefect.flows import batch_variations

if __name__ == "__main__":  # Dask starts its worker processes by importing this file
    runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 8})
    result = batch_variations.with_options(task_runner=runner)(
        "piktid-inbox",
        person_keywords=[{"Location": "South America"}],
        credentials="piktid",
        out_dir="piktid-output",
        # The same account-wide cap as the deployments (README step 4).
        concurrency_limit=DEFAULT_ACCOUNT_LIMIT,
    )
    for output in result.outputs:
        print(f"{output.path}  ({output.seconds:.1f} s)")
    print(f"{len(result.outputs)} new output(s), {len(result.failures)} failure(s)")
