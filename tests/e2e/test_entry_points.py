"""The README's entry points agree on the account-wide cap (no server needed)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

import yaml

from piktid_prefect.execution.account_limit import DEFAULT_ACCOUNT_LIMIT

ROOT = Path(__file__).resolve().parents[2]


def _serve_script() -> Any:
    spec = importlib.util.spec_from_file_location("served", ROOT / "deployments" / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    serve_default = _serve_script()._parser().parse_args([]).concurrency_limit
    dask_example = _keyword_values(ROOT / "examples" / "dask_batch.py", "concurrency_limit")

    assert from_yaml == {DEFAULT_ACCOUNT_LIMIT}
    assert serve_default == DEFAULT_ACCOUNT_LIMIT
    assert dask_example == ["DEFAULT_ACCOUNT_LIMIT"]


def test_serve_script_runs_without_a_cap_when_asked() -> None:
    served = _serve_script()
    args = served._parser().parse_args(["--location", "Oceania", "--concurrency-limit", ""])
    deployments = served.deployments(args)

    assert {d.parameters["concurrency_limit"] for d in deployments} == {None}
