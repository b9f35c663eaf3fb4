"""Fault specifications as typed on the command line; their effects on every plant: test_plant_faults.py."""

from __future__ import annotations

import pytest

from simulator.faults import Fault, FaultType


def test_fault_parse_rejects_bad_specs() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Fault.parse("leak@10")
    with pytest.raises(ValueError, match="needs an onset"):
        Fault.parse("do_drift")
    with pytest.raises(ValueError, match="must be numbers"):
        Fault.parse("do_drift@soon")
    assert Fault.parse("overfeeding@80:3:24") == Fault(FaultType.OVERFEEDING, 80.0, 3.0, 24.0)
