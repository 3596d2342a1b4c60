"""Imports point down the layers only: wire <- runtime <- the Prefect layer's rooms
(credentials <- tasks <- artifacts <- execution <- flows) <- entry points.

Every ``import`` of every module (function-level ones too) is read from the source, so
a lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "piktid_prefect"

# Lower number = lower layer. A module may import its own layer and the ones below.
# The Prefect layer is seven rooms, each a package but ``credentials`` and ``automations``
# (one module each).
ROOMS = ("credentials", "storage", "tasks", "artifacts", "execution", "flows", "automations")
LAYERS = {
    "wire": 0,
    "runtime": 1,
    **{room: 2 + i for i, room in enumerate(ROOMS)},
    "entry": 2 + len(ROOMS),
}
# The pytest plugin is one too: pytest loads it, and its fixtures start the emulator.
ENTRY_POINTS = {"piktid_prefect.cli", "piktid_prefect.demo", "piktid_prefect.pytest_plugin"}
# What the emulator (a package of its own) may use from the library: the wire's vocabulary.
EMULATOR_MAY_USE = (
    "piktid_prefect.wire.models",
    "piktid_prefect.wire.keywords",
    "piktid_prefect.wire.errors",
    "piktid_prefect.wire.images",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    for folder in ("wire", "runtime", *ROOMS):
        if module == f"piktid_prefect.{folder}" or module.startswith(f"piktid_prefect.{folder}."):
            return folder
    if module in ENTRY_POINTS or module.startswith(tuple(f"{m}." for m in ENTRY_POINTS)):
        return "entry"
    if module == "piktid_prefect":
        return "entry"  # the lazy export table names every layer (checked in test_exports)
    raise AssertionError(f"{module} is in no layer: put it in a room, or name its layer here")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from piktid_prefect.runtime import generation`` imports a module too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def library_modules() -> list[Path]:
    return [
        p for p in sorted(PACKAGE.rglob("*.py")) if "emulator" not in p.relative_to(PACKAGE).parts
    ]


def known_modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize("path", library_modules(), ids=module_name)
def test_no_import_runs_up_a_layer(path: Path) -> None:
    me = module_name(path)
    if me == "piktid_prefect":
        return  # the package's lazy export table names every layer by design
    known = known_modules()
    upward = sorted(
        target
        for target in imports_of(path)
        if target in known
        and target != "piktid_prefect"
        and not target.startswith("piktid_prefect.emulator")
        and LAYERS[layer_of(target)] > LAYERS[layer_of(me)]
    )
    assert not upward, f"{me} ({layer_of(me)}) imports from a higher layer: {upward}"


@pytest.mark.parametrize(
    "path", [p for p in library_modules() if layer_of(module_name(p)) == "wire"], ids=module_name
)
def test_the_wire_layer_never_imports_prefect(path: Path) -> None:
    prefect = sorted(m for m in imports_of(path) if m == "prefect" or m.startswith("prefect."))
    assert not prefect, f"{module_name(path)} imports {prefect}"


def test_only_entry_points_import_the_emulator() -> None:
    offenders = [
        module_name(p)
        for p in library_modules()
        if layer_of(module_name(p)) != "entry"
        and any(m.startswith("piktid_prefect.emulator") for m in imports_of(p))
    ]
    assert not offenders


def test_the_emulator_shares_only_the_wire_vocabulary() -> None:
    # `python -m piktid_prefect.emulator` is an entry point: it runs the CLI's command.
    used = {
        m
        for p in sorted((PACKAGE / "emulator").rglob("*.py"))
        if p.name != "__main__.py"
        for m in imports_of(p)
        if m.startswith("piktid_prefect") and not m.startswith("piktid_prefect.emulator")
    }
    assert all(m.startswith(EMULATOR_MAY_USE) for m in used), sorted(used)


def test_the_layer_test_can_fail() -> None:
    """A wire module that imported the surface would be caught (guards the checker)."""
    assert LAYERS[layer_of("piktid_prefect.tasks")] > LAYERS[layer_of("piktid_prefect.wire.client")]
    assert layer_of("piktid_prefect.runtime.generation") == "runtime"
    assert layer_of("piktid_prefect.cli") == "entry"
    assert LAYERS[layer_of("piktid_prefect.execution.steps")] > LAYERS["artifacts"]
    assert LAYERS[layer_of("piktid_prefect.flows.inbox")] > LAYERS["execution"]
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("piktid_prefect.utils")


def test_the_package_top_holds_no_prefect_module_outside_a_room() -> None:
    """A new flat module at the top would fall outside the order the rooms give."""
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top <= {"credentials", "automations", "demo", "pytest_plugin"}, sorted(top)
