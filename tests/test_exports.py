"""The package's public surface."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import piktid_prefect


def test_every_exported_name_resolves() -> None:
    for name in piktid_prefect.__all__:
        assert getattr(piktid_prefect, name) is not None, name


def test_public_surface_is_what_users_are_told_about() -> None:
    assert {
        "PiktidClient",
        "AsyncPiktidClient",
        "PiktidCredentials",
        "PiktidError",
        "upload_image",
        "generate_output",
        "generate_people",
        "edit_backgrounds",
        "batch_variations",
        "person_and_background_variations",
        "process_new_images",
    } <= set(piktid_prefect.__all__)
    assert sorted(dir(piktid_prefect)) == sorted(piktid_prefect.__all__)


def test_typed_exports_and_lazy_table_agree() -> None:
    """What a type checker sees (the TYPE_CHECKING block) is what ``__getattr__`` serves."""
    tree = ast.parse(Path(piktid_prefect.__file__).read_text())
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom)
                typed.update({alias.name: str(stmt.module) for alias in stmt.names})
    assert typed == piktid_prefect._EXPORTS
    assert sorted(piktid_prefect.__all__) == sorted(typed)


def test_importing_the_wire_layer_does_not_import_prefect() -> None:
    code = (
        "import sys, piktid_prefect.wire.client; "
        "assert not [m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')], "
        "'prefect was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_loading_the_pytest_plugin_imports_nothing_but_pytest() -> None:
    # Every pytest session of an environment with the package installed loads it.
    code = (
        "import sys; before = set(sys.modules); import piktid_prefect.pytest_plugin; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "heavy = sorted(new & {'prefect', 'cv2', 'numpy', 'uvicorn', 'starlette', 'httpx', "
        "'PIL', 'pydantic'}); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
