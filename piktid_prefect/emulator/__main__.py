"""``python -m piktid_prefect.emulator --host 127.0.0.1 --port 8765 [--time-scale 1.0]``."""

from __future__ import annotations

import argparse

from piktid_prefect.emulator.config import EmulatorConfig
from piktid_prefect.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the emulator until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m piktid_prefect.emulator", description="Run the local PiktID emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=8765, help="port to bind")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="real seconds per API-second (0.1 = 10x)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of server-side choices")
    parser.add_argument("--demo-credits", type=int, default=10, help="credits of demo@piktid.local")
    args = parser.parse_args(argv)
    config = EmulatorConfig(
        time_scale=args.time_scale, seed=args.seed, demo_credits=args.demo_credits
    )
    serve(args.host, args.port, config)


if __name__ == "__main__":
    main()
