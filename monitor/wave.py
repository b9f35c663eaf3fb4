"""A wave: readings of distinct reactors, as columns, checked together.

The engine cuts its input into waves (consecutive readings of different
reactors, so each reactor's readings keep their order) and runs every check on
a wave at once. A reading's process variables become one row of ``values`` in
:data:`VARIABLES` order, NaN where not measured; set points are resolved before
the checks run (the reading's own, else the learnt schedule, see
:mod:`monitor.setpoints`).

>>> from datetime import datetime, UTC
>>> from bioreactor.contract import Reading
>>> r = Reading(timestamp=datetime(2026, 1, 1, tzinfo=UTC), reactor_id="R1", batch_id="B1", seq=0,
...             culture_h=5.0, do=38.5)
>>> wave = Wave.of([r], np.array([0]))
>>> wave["do"].tolist(), np.isnan(wave["glucose"]).tolist()
([38.5], [True])
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bioreactor.contract import PROCESS_VARIABLES, SETPOINT_FIELDS, Reading
from monitor.slots import BoolArray, FloatArray, IntArray

#: The process variables, in column order of :attr:`Wave.values`.
VARIABLES: tuple[str, ...] = PROCESS_VARIABLES
COLUMN: dict[str, int] = {v: i for i, v in enumerate(VARIABLES)}
#: Variables held at a set point by a control loop, in column order of :attr:`Wave.setpoints`.
CONTROLLED: tuple[str, ...] = tuple(SETPOINT_FIELDS)

_VALUES = operator.attrgetter(*VARIABLES)
_SETPOINTS = operator.attrgetter(*(SETPOINT_FIELDS[v] for v in CONTROLLED))


@dataclass
class Wave:
    """Readings of distinct reactors and everything derived from them once, for every check."""

    readings: Sequence[Reading]
    slots: IntArray
    times: FloatArray  # seconds since the epoch
    hours: FloatArray  # culture hours
    values: FloatArray  # (n, len(VARIABLES)); NaN = not measured or a bad value
    #: Set points given by the readings themselves, (n, len(CONTROLLED)), NaN when absent.
    given_setpoints: FloatArray
    #: Resolved set points (given, else learnt, else configured) and seconds since each last changed.
    setpoints: FloatArray = field(default_factory=lambda: np.empty((0, 0)))
    settled_s: FloatArray = field(default_factory=lambda: np.empty((0, 0)))
    #: Typical seconds between this reactor's readings (NaN until two have been seen).
    interval_s: FloatArray = field(default_factory=lambda: np.empty(0))
    #: Seconds since the reactor's first reading of this batch: how far back its history reaches.
    observed_s: FloatArray = field(default_factory=lambda: np.empty(0))

    @classmethod
    def of(cls, readings: Sequence[Reading], slots: IntArray) -> Wave:
        """The columns of ``readings`` (one per reactor)."""
        n = len(readings)
        # numpy turns the None of an unmeasured variable into NaN.
        values = np.array([_VALUES(r) for r in readings], dtype=np.float64).reshape(n, len(VARIABLES))
        given = np.array([_SETPOINTS(r) for r in readings], dtype=np.float64).reshape(n, len(CONTROLLED))
        return cls(
            readings=readings,
            slots=slots,
            times=np.array([r.timestamp.timestamp() for r in readings], dtype=np.float64),
            hours=np.array([r.culture_h for r in readings], dtype=np.float64),
            values=values,
            given_setpoints=given,
            setpoints=given.copy(),
            settled_s=np.full_like(given, np.inf),
            interval_s=np.full(n, np.nan),
            observed_s=np.zeros(n),
        )

    def __len__(self) -> int:
        return len(self.readings)

    def __getitem__(self, variable: str) -> FloatArray:
        """The column of ``variable`` (a view: writing to it changes the wave)."""
        return self.values[:, COLUMN[variable]]

    def measured(self, *variables: str) -> BoolArray:
        """Where every one of ``variables`` is measured."""
        measured: BoolArray = np.all(~np.isnan(self.values[:, [COLUMN[v] for v in variables]]), axis=1)
        return measured

    def setpoint(self, variable: str) -> FloatArray:
        """The resolved set point of a controlled variable."""
        return self.setpoints[:, CONTROLLED.index(variable)]

    def deviation(self, variable: str) -> FloatArray:
        """``variable`` minus its set point (the value itself for a variable without one)."""
        if variable in CONTROLLED:
            return self[variable] - self.setpoint(variable)
        return self[variable]

    def settled(self, variable: str, span_s: float) -> BoolArray:
        """Where the set point of ``variable`` has not changed for ``span_s`` (always, without one):
        deviations mean nothing while a loop follows a new set point."""
        if variable not in CONTROLLED:
            return np.ones(len(self), dtype=bool)
        return self.settled_s[:, CONTROLLED.index(variable)] >= span_s

    def take(self, rows: IntArray) -> Wave:
        """The wave restricted to ``rows`` (for work only some readings need)."""
        return Wave(
            readings=[self.readings[i] for i in rows.tolist()], slots=self.slots[rows], times=self.times[rows],
            hours=self.hours[rows], values=self.values[rows], given_setpoints=self.given_setpoints[rows],
            setpoints=self.setpoints[rows], settled_s=self.settled_s[rows], interval_s=self.interval_s[rows],
            observed_s=self.observed_s[rows],
        )
