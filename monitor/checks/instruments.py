"""Bad values: a number outside what its instrument can report.

Such a value is a fault of the measurement (a transmitter's error code, a unit
mix-up, a broken cable), not of the process: it raises an instrument alarm
naming the variable, at once, and is withheld from every other check, while
the rest of the reading is still checked. The ranges are the instruments'
(learnt by the profile from the plant's data, else wide defaults for 10 mL to
200 m³ vessels), never the process's normal range: an overdose is a process
alarm, not a bad value.

>>> from datetime import datetime, UTC
>>> from monitor.checks.base import reading_at
>>> from monitor.checks.harness import CheckHarness
>>> from monitor.checks.limits import LimitCheck
>>> harness = CheckHarness(LimitCheck)
>>> harness.feed(reading_at(datetime(2026, 1, 1, tzinfo=UTC), ph=-9999.0, glucose=0.3))
['bad_value:ph', 'limit_low_low:glucose', 'limit_low:glucose']
>>> print(harness.explain("bad_value:ph").what)
pH reads -9999.00, outside what its instrument can report (0.00 to 14.00): a bad value, left out of every other check
"""

from __future__ import annotations

from functools import partial

import numpy as np

from bioreactor.contract import Severity
from monitor import explain
from monitor.checks.base import Check, Explanation, Findings
from monitor.slots import FloatArray
from monitor.wave import VARIABLES, Wave


class InstrumentCheck(Check):
    """Flags values outside their instrument's range and removes them from the wave."""

    name = "bad_value"

    def cannot_run(self, measured: object, interval_s: float) -> str | None:
        return None  # every measured variable has an instrument range

    def evaluate(self, wave: Wave) -> list[Findings]:
        return self.screen(wave)

    def screen(self, wave: Wave) -> list[Findings]:
        """One finding per variable with a range; bad values in ``wave`` become NaN."""
        found = []
        for variable in VARIABLES:
            if variable not in self.config.instruments:
                continue
            low, high = self.config.instruments[variable]
            column = wave[variable]
            known = ~np.isnan(column)
            with np.errstate(invalid="ignore"):
                bad = known & ((column < low) | (column > high))
            value = column.copy()
            if bad.any():
                column[bad] = np.nan  # withheld from the histories and every other check
            found.append(Findings(
                self.name, variable, Severity.WARNING, bad, known, value, np.where(value < low, low, high),
                partial(_explain, variable, value, (low, high)),
                immediate=True,
            ))
        return found


def _explain(variable: str, values: FloatArray, span: tuple[float, float], i: int) -> Explanation:
    name, (low, high) = explain.label(variable), span
    return Explanation(
        f"{name} reads {explain.quantity(variable, float(values[i]))}, outside what its instrument can report "
        f"({explain.quantity(variable, low)} to {explain.quantity(variable, high)}): a bad value, left out of "
        "every other check",
        causes=("transmitter fault or error code", "wrong unit or scaling in the data system", "probe disconnected"),
        action=f"Check the {name} transmitter and its scaling.",
    )
