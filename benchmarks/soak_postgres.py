"""Long fault soak through a process worker, on a Prefect server backed by PostgreSQL.

What ``benchmarks/soak.py`` does in-process on the test harness (sqlite), done the way a
user at scale runs it: a throwaway PostgreSQL (``deployments/postgres.sh``), ``prefect
server start`` on it, ``prefect deploy --all``, a ``process`` worker, and every batch a
run of the ``piktid-batch-variations/piktid-batch`` deployment. Each round is a fresh
batch (new images, a fresh emulator account), re-run as a user would until every output
is delivered; the emulator injects all its fault kinds at ``--fault-rate``.

    python benchmarks/soak_postgres.py --outputs 1000 --rounds 2

Prints one JSON report per round (the emulator's books, as in ``soak.py``) and the
server's side: error lines in its log, flow runs it could not create, CPU seconds of
the Prefect server and of PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import (  # a sibling script
    BACKGROUNDS,
    OUTPUTS_PER_IMAGE,
    PERSON_KEYWORDS,
    SoakReport,
    account_charges,
    check_outputs,
    fault_config,
)

from piktid_prefect.demo import sample_images
from piktid_prefect.emulator import EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
DEPLOYMENT = "piktid-batch-variations/piktid-batch"
SERVER_ERROR_MARKERS = ("ERROR", "Traceback", "database is locked", " 503 ")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(root: int) -> float:
    """User + system CPU of ``root`` and its live descendants, with their children that
    have exited (the kernel adds those to their parent's ``cutime``/``cstime``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = sum(int(f) for f in fields[11:15]) / ticks
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


class Stack:
    """PostgreSQL, the Prefect server, the deployments and a process worker."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: list[subprocess.Popen[bytes]] = []
        started = subprocess.run(
            [str(ROOT / "deployments" / "postgres.sh"), "start"],
            capture_output=True,
            text=True,
            check=True,
        )
        values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
        self.postgres_dir = Path(values["PIKTID_POSTGRES_DIR"])
        port = _free_port()
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(work / "prefect-home"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": values[
                "PREFECT_SERVER_DATABASE_CONNECTION_URL"
            ],
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",  # only our runs
            "PIKTID_JOURNAL_DIR": str(work / "journal"),
        }
        self.server = self._spawn(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], "server"
        )
        self._wait_healthy()

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        with (self.work / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("the Prefect server did not become healthy")

    def cli(self, *args: str, extra_env: dict[str, str] | None = None) -> None:
        subprocess.run(
            [PREFECT, "--no-prompt", *args], cwd=ROOT, env={**self.env, **(extra_env or {})},
            capture_output=True, check=True, timeout=300,
        )  # fmt: skip

    def deploy(self) -> None:
        self.cli("block", "register", "-m", "piktid_prefect.credentials")
        self.cli("work-pool", "create", "piktid", "--type", "process")
        self.cli("deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
        self._spawn([PREFECT, "worker", "start", "--pool", "piktid"], "worker")

    def save_credentials(self, name: str, account: Any, poll_seconds: float) -> None:
        script = (
            "import os\nfrom piktid_prefect.credentials import PiktidCredentials\n"
            "PiktidCredentials(base_url=os.environ['B'], email=os.environ['E'],"
            f" password=os.environ['P'], poll_interval_seconds={poll_seconds!r})"
            f".save({name!r}, overwrite=True)\n"
        )
        env = {**self.env, "B": account.base_url, "E": account.email, "P": account.password}
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)

    def run_deployment(self, parameters: dict[str, Any], timeout_seconds: float) -> dict[str, Any]:
        """Create a flow run of the deployment and wait for its final state."""
        with httpx.Client(base_url=self.api_url, timeout=60) as api:
            deployment = api.get(f"/deployments/name/{DEPLOYMENT}").json()
            created = api.post(
                f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters}
            )
            if created.status_code >= 400:
                return {"created": False, "status": created.status_code, "body": created.text}
            run_id = created.json()["id"]
            deadline = time.monotonic() + timeout_seconds
            errors: list[str] = []  # the server's own failures, seen while waiting
            while time.monotonic() < deadline:
                time.sleep(1.0)
                try:
                    answer = api.get(f"/flow_runs/{run_id}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                if answer.status_code >= 400:
                    errors.append(f"{answer.status_code}: {answer.text[:200]}")
                    continue
                state = answer.json()["state"]
                if state and state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    return {
                        "created": True,
                        "type": state["type"],
                        "message": state["message"],
                        "api_errors_seen": errors,
                    }
        return {"created": True, "type": "TIMED_OUT", "message": "", "api_errors_seen": errors}

    def server_errors(self) -> list[str]:
        text = (self.work / "server.log").read_text(errors="replace").splitlines()
        return [line for line in text if any(m in line for m in SERVER_ERROR_MARKERS)]

    def postgres_pid(self) -> int:
        return int((self.postgres_dir / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        for process in reversed(self.processes):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=15)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
        subprocess.run(
            [str(ROOT / "deployments" / "postgres.sh"), "stop", str(self.postgres_dir)],
            capture_output=True,
        )


def make_round_images(folder: Path, count: int, round_index: int) -> None:
    """``count`` distinct copies of the three-person sample, distinct across rounds too."""
    base = next(p for p in sample_images() if p.stem == "group_of_three")
    folder.mkdir(parents=True)
    with Image.open(base) as original:
        rgb = original.convert("RGB")
    for index in range(count):
        copy = rgb.copy()
        copy.putpixel((0, 0), (index % 256, (index // 256) % 256, 7 + round_index))
        copy.save(folder / f"group-{round_index}-{index:03d}.png", format="PNG")


def failed_outputs(message: str) -> int:
    # "N of M outputs failed ..." from the flow; -1 when it failed otherwise.
    words = message.split("of", 1)[0].split()
    return int(words[-1]) if words and words[-1].isdigit() else -1


def soak_round(
    stack: Stack, emulator: EmulatorServer, round_index: int, args: argparse.Namespace
) -> dict[str, Any]:
    images = -(-args.outputs // OUTPUTS_PER_IMAGE)
    report = SoakReport(outputs_expected=images * OUTPUTS_PER_IMAGE)
    folder = stack.work / f"images-{round_index}"
    out_dir = stack.work / f"outputs-{round_index}"
    make_round_images(folder, images, round_index)
    scale = args.time_scale
    account = emulator.create_account(credits=1_000_000)
    block = f"soak-{round_index}"
    stack.save_credentials(block, account, 3.0 * scale * 1.5)
    emulator.set_faults(fault_config(args.fault_rate, args.seed + round_index))
    parameters = {
        "images": str(folder),
        "person_keywords": PERSON_KEYWORDS,
        "background_keywords": BACKGROUNDS,
        "credentials": block,
        "out_dir": str(out_dir),
        "stagger_seconds": 15.0 * scale,
        "timeout_seconds": 600.0 * scale,
    }
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    for _ in range(args.max_runs):
        report.rounds += 1
        outcome = stack.run_deployment(parameters, timeout_seconds=3600)
        runs.append(outcome)
        if outcome.get("type") == "COMPLETED":
            report.round_failures.append(0)
            break
        report.round_failures.append(failed_outputs(str(outcome.get("message") or "")))
    emulator.drain()
    report.seconds = round(time.monotonic() - started, 1)
    stats = emulator.stats(account.email)
    report.requests = sum(stats.requests.values())
    report.faults = dict(stats.faults)
    report.credits_charged = stats.credits_charged
    account_charges(stats, report, deadline_seconds=600.0)
    check_outputs(out_dir, report)
    summary = report.summary()
    summary["flow_runs"] = runs
    summary["flow_runs_not_created"] = sum(1 for r in runs if not r.get("created"))
    return summary


def main() -> None:
    """Set up the stack, run the rounds, print the reports, tear everything down."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fault-rate", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--max-runs", type=int, default=6, help="flow runs per round, at most")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="piktid-soak-pg-"))
    began = time.monotonic()
    config = EmulatorConfig(time_scale=args.time_scale, seed=args.seed)
    stack = Stack(work)
    try:
        stack.deploy()
        with EmulatorServer(config) as emulator:
            for round_index in range(args.rounds):
                summary = soak_round(stack, emulator, round_index, args)
                print(json.dumps({"round": round_index + 1, **summary}, indent=2), flush=True)
        errors = stack.server_errors()
        server = {
            "prefect_server_cpu_seconds": round(_cpu_seconds(stack.server.pid), 1),
            "postgres_cpu_seconds": round(_cpu_seconds(stack.postgres_pid()), 1),
            "server_log_error_lines": len(errors),
            "server_log_error_sample": errors[:10],
            "wall_seconds": round(time.monotonic() - began, 1),
            "work": str(work),
        }
        print(json.dumps(server, indent=2), flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
