"""What the library imports is what it declares, and it uses only Prefect's public API.

Read from the source (function-level imports too) and from ``pyproject.toml``: a new
third-party import that is not declared in the extra its module lives in, a declared
package nothing imports without a reason given here, or a private Prefect name, fails.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

# tomllib is in the standard library from Python 3.11 on.
tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "piktid_prefect"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# Declared but never imported by name, each for a reason.
DECLARED_NOT_IMPORTED = {
    "python-multipart": "Starlette parses the emulator's multipart uploads with it",
    "opencv-python-headless": "imported as cv2 (mapped below when cv2 is not installed)",
}
# Import name -> distribution, for distributions an environment may lack.
KNOWN_IMPORT_NAMES = {"cv2": "opencv-python-headless", "PIL": "pillow"}


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def declared(extra: str | None) -> set[str]:
    """Distributions a module may import: the base ones, plus its extra's (recursively)."""
    names = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    pending = [extra] if extra else []
    while pending:
        for requirement in PYPROJECT["project"]["optional-dependencies"][pending.pop()]:
            if requirement.startswith("piktid-prefect["):
                pending.extend(requirement.split("[")[1].rstrip("]").split(","))
            else:
                names.add(requirement_name(requirement))
    return names


def extra_of(path: Path) -> str | None:
    """The extra whose install a module needs (None: the base install)."""
    return "emulator" if "emulator" in path.relative_to(PACKAGE).parts else None


def third_party_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names} - {"piktid_prefect"}


@functools.cache
def installed_distributions() -> dict[str, list[str]]:
    return dict(packages_distributions())  # reads every installed package's metadata


def distribution_of(import_name: str) -> str:
    installed = installed_distributions().get(import_name)
    if installed:
        return installed[0].lower()
    return KNOWN_IMPORT_NAMES.get(import_name, import_name).lower()


LIBRARY = sorted(PACKAGE.rglob("*.py"))
# Loaded only by pytest (the `pytest11` entry point), which is then importable.
PYTEST_PLUGIN = PACKAGE / "pytest_plugin.py"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_third_party_import_is_declared_where_the_module_lives(path: Path) -> None:
    allowed = declared(extra_of(path)) | ({"pytest"} if path == PYTEST_PLUGIN else set())
    missing = sorted(
        f"{name} ({distribution_of(name)})"
        for name in third_party_imports(path)
        if distribution_of(name) not in allowed
    )
    assert not missing, f"{path.name} imports undeclared packages: {missing}"


def test_every_declared_runtime_package_is_imported_or_has_a_reason() -> None:
    imported = {distribution_of(name) for path in LIBRARY for name in third_party_imports(path)}
    runtime = declared("emulator")
    unused = sorted(runtime - imported - DECLARED_NOT_IMPORTED.keys())
    assert not unused, f"declared but never imported (drop them or say why): {unused}"


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_uses_no_private_prefect_api(path: Path) -> None:
    private: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("prefect"):
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            private += [m for m in modules if any(p.startswith("_") for p in m.split("."))]
        elif isinstance(node, ast.Import):
            private += [
                a.name for a in node.names if a.name.startswith("prefect") and "._" in a.name
            ]
        elif isinstance(node, ast.keyword) and node.arg == "_sync":
            private.append(f"_sync= (line {node.lineno})")
    assert not private, f"{path.name} uses private Prefect API: {private}"
