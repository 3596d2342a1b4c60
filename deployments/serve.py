"""Serve the PiktID deployments from this process: no work pool, no worker.

An example of the ``piktid-prefect serve`` command run from a script of your own (the
same options; ``python deployments/serve.py --help``)::

    python deployments/serve.py --inbox piktid-inbox --out piktid-output \\
        --credentials piktid --location Oceania --background nature_landscapes=Beach

To serve other flows or parameters, build your deployments as ``served_deployments``
does and serve them with a ``stopping_runner()``: Prefect's own runner ignores SIGTERM
in Prefect 3.8 (see ``piktid_prefect/cli/_serve.py``).
"""

import typer

from piktid_prefect.cli._serve import serve

if __name__ == "__main__":
    command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    command.command()(serve)
    command(prog_name="python deployments/serve.py")
