"""The README's entry points agree on the account-wide cap (no server needed)."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import yaml

from piktid_prefect.cli._serve import serve, served_deployments
from piktid_prefect.execution.account_limit import DEFAULT_ACCOUNT_LIMIT

ROOT = Path(__file__).resolve().parents[2]


def _keyword_values(path: Path, keyword: str) -> list[str]:
    """Source text of every ``keyword=...`` argument in the file's calls."""
    tree = ast.parse(path.read_text())
    return [
        ast.unparse(k.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for k in node.keywords
        if k.arg == keyword
    ]


def test_every_entry_point_names_the_same_account_limit() -> None:
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    from_yaml = {d["parameters"]["concurrency_limit"] for d in spec["deployments"]}
    serve_default = inspect.signature(serve).parameters["concurrency_limit"].default
    dask_example = _keyword_values(ROOT / "examples" / "dask_batch.py", "concurrency_limit")

    assert from_yaml == {DEFAULT_ACCOUNT_LIMIT}
    assert serve_default == DEFAULT_ACCOUNT_LIMIT
    assert dask_example == ["DEFAULT_ACCOUNT_LIMIT"]


def test_serve_runs_without_a_cap_when_asked() -> None:
    deployments = served_deployments(locations=["Oceania"], concurrency_limit="")

    assert {d.parameters["concurrency_limit"] for d in deployments} == {None}


def test_the_serve_example_script_is_the_serve_command() -> None:
    script = subprocess.run(
        [sys.executable, str(ROOT / "deployments" / "serve.py"), "--location", "Atlantis"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert script.returncode == 2
    assert "Unknown Location 'Atlantis'" in script.stdout + script.stderr
