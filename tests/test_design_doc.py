"""``docs/design.md`` describes the code as it is: its layer order, its modules, one output's path.

The path is measured, not read: ``generate_people`` makes one output under a profiler
(:mod:`tests.helpers.output_path`) and the page's two checked blocks must say what it saw.
After a change that moves the numbers, the failure prints the table to paste.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.output_path import OutputPath, record, room_of
from tests.test_layers import LAYERS, PACKAGE

DESIGN = Path(__file__).resolve().parents[1] / "docs" / "design.md"
ROOM_ORDER = ("runtime", "credentials", "execution", "wire", "tasks", "flows", "artifacts")


def design() -> str:
    return DESIGN.read_text()


def checked_block(name: str) -> str:
    match = re.search(rf"<!-- path:{name} \(checked\) -->\n(.*?)\n\n", design(), re.S)
    assert match, f"design.md has no checked block {name!r}"
    return match.group(1)


def test_the_layer_order_is_the_one_the_layer_test_enforces() -> None:
    line = re.search(r"^Order \(low to high\): (.+)$", design(), re.M)
    assert line, "design.md states no layer order"
    stated = [name.strip() for name in line.group(1).split("<")]
    assert stated == sorted(LAYERS, key=LAYERS.__getitem__)


def test_every_module_of_the_library_is_on_the_page() -> None:
    """A new module must find its room in the picture (the emulator is described apart)."""
    text = design()
    missing = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "emulator" not in path.parts
        and path.name not in ("__init__.py", "__main__.py")
        and not re.search(rf"\b{re.escape(path.name)}", text)
    ]
    assert not missing, f"design.md does not name {missing}"


def stated_stack() -> list[str]:
    lines = checked_block("stack").strip("`\n").splitlines()
    return [f"piktid_prefect.{line.split()[0]}" for line in lines if line[:1].strip()]


def stated_numbers() -> dict[str, str]:
    rows = [line.split("|")[1:3] for line in checked_block("calls").splitlines()[2:]]
    return {name.strip(): value.strip() for name, value in rows}


def measured_numbers(path: OutputPath) -> dict[str, str]:
    rooms = path.room_visits()
    return {
        "package modules entered": str(len(set(path.modules))),
        "hops (a call into another module)": str(path.hops),
        "hops onto a module already entered": str(path.revisits),
        f"room entries: {' / '.join(ROOM_ORDER)}": " / ".join(
            str(rooms[room]) for room in ROOM_ORDER
        ),
    }


def one_output(credentials, samples, tmp_path, time_scale) -> OutputPath:  # type: ignore[no-untyped-def]
    from piktid_prefect.flows import generate_people

    return record(
        lambda: generate_people(
            image=str(samples["astronaut"]),
            keywords=[{"Location": "Oceania"}],
            persons=[0],
            credentials=credentials,
            out_dir=str(tmp_path),
            timeout_seconds=600 * time_scale,
        )
    )


@pytest.mark.usefixtures("prefect_harness")
def test_one_outputs_path_is_the_one_on_the_page(
    credentials, samples, tmp_path, time_scale
) -> None:  # type: ignore[no-untyped-def]
    path = one_output(credentials, samples, tmp_path, time_scale)

    assert path.stack == stated_stack()
    stack_rooms = [room_of(m) for m in path.stack]
    assert all(stack_rooms.count(room) <= 2 for room in stack_rooms), stack_rooms
    measured = measured_numbers(path)
    table = "\n".join(f"| {name} | {value} |" for name, value in measured.items())
    assert measured == stated_numbers(), f"design.md's numbers are out of date; measured:\n{table}"
