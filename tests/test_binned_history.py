"""The binned history answers each query for the wave it is asked about, never a cached earlier one."""

from __future__ import annotations

import numpy as np

from monitor.history import BinnedHistory
from monitor.slots import Slots


def _history_of_three_reactors() -> BinnedHistory:
    slots = Slots()
    history = BinnedHistory(slots, ("do",), bin_s=300.0, span_s=6 * 3600.0)
    for minute in range(0, 120, 10):
        history.add(np.arange(3), np.full(3, minute * 60.0), np.array([[40.0], [50.0], [60.0]]) - minute / 10)
    return history


def test_a_sub_wave_of_one_reactor_gets_its_own_answer_after_a_wave_of_three() -> None:
    history = _history_of_three_reactors()
    slots, times = np.arange(3), np.full(3, 110 * 60.0)

    def ask(rows: list[int]) -> list[float]:
        # As a check does: the rows of a wave taken into fresh arrays, freed once answered,
        # so the next sub-wave's arrays may get the same id()s (CPython reuses them at once).
        picked = np.array(rows)
        value, _ = history.at(slots[picked], times[picked], "do", age_s=3600.0, tolerance_s=900.0)
        return [float(v) for v in value]

    expected = {0: 35.0, 1: 45.0, 2: 55.0}
    rows = [[0, 1, 2], [1], [2, 0], [2], [0, 1], [0]]
    for _ in range(10):
        for a in rows:
            for b in rows:
                assert ask(a) == [expected[r] for r in a]
                assert ask(b) == [expected[r] for r in b]
