"""The short soak: every emulator fault at once, ~10 % of requests hit, and still nothing
lost, nothing paid twice by our client, every output a valid image.

The long form (1,000 outputs) is ``python benchmarks/soak.py``; both share its code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from piktid_prefect.emulator.config import FAULT_KINDS

pytestmark = pytest.mark.slow

SOAK_OUTPUTS = 80  # 2 images x (3 persons x 9 locations + 13 backgrounds)


def _soak_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"
    spec = importlib.util.spec_from_file_location("piktid_soak", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    soak = _soak_module()
    return soak.run_soak(SOAK_OUTPUTS, workdir=tmp_path_factory.mktemp("soak"))


def test_soak_injects_every_fault_kind_on_about_a_tenth_of_requests(report) -> None:  # type: ignore[no-untyped-def]
    soak = _soak_module()
    configured = soak.fault_config(0.10, seed=6)
    assert all(configured.rate(kind) > 0 for kind in FAULT_KINDS)
    # Which requests draw which fault depends on thread timing: ~27 faults over twelve
    # kinds, several of which only apply to one endpoint, so a short run may miss a few
    # rare kinds (seen: 9 of 12 on a busy machine; the 1,000-output long form hits all).
    assert len(report.faults) >= len(FAULT_KINDS) - 4, report.faults
    assert 0.07 <= report.faulted_request_share <= 0.16


def test_soak_delivers_every_output_as_a_valid_image(report) -> None:  # type: ignore[no-untyped-def]
    assert report.outputs_expected == SOAK_OUTPUTS
    assert report.lost_outputs == 0
    assert report.invalid_images == []
    assert report.round_failures[-1] == 0


def test_soak_never_pays_twice_for_a_delivered_generation(report) -> None:  # type: ignore[no-untyped-def]
    assert report.duplicate_charges == 0, report.duplicate_charge_keys
    assert report.repaid_unsettled == 0
    assert report.generations_paid_once == SOAK_OUTPUTS


def test_soak_extra_credits_are_exactly_the_jobs_the_server_lost_or_failed(report) -> None:  # type: ignore[no-untyped-def]
    extra = report.credits_charged - report.generations_paid_once
    assert extra == report.repaid_lost + report.repaid_failed + report.repaid_late
    # A re-paid job is one the server charged and never delivered: at most one per
    # lose_notification / error_notification fault that fired.
    assert report.repaid_lost <= report.faults.get("lose_notification", 0)
    assert report.repaid_failed <= report.faults.get("error_notification", 0)
