"""Per-batch fault schedules as arrays, so every step asks "which batches are affected now?" at once.

>>> import numpy as np
>>> from simulator.faults import Fault, FaultType
>>> s = FaultSchedule.from_faults([Fault(FaultType.MISSED_FEED, 10.0, 1.0, 5.0), None])
>>> s.active(FaultType.MISSED_FEED, 12.0).tolist()
[True, False]
>>> s.active(FaultType.MISSED_FEED, 15.0).tolist()
[False, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.faults import FAULT_TYPES, Fault, FaultType

_CODES = {kind: i + 1 for i, kind in enumerate(FAULT_TYPES)}


@dataclass(frozen=True)
class FaultSchedule:
    """One fault (or none) per batch column: code, onset, end (h) and magnitude arrays."""

    code: NDArray[np.int64]
    onset: NDArray[np.float64]
    end: NDArray[np.float64]
    magnitude: NDArray[np.float64]

    @classmethod
    def from_faults(cls, faults: Sequence[Fault | None]) -> FaultSchedule:
        return cls(
            code=np.array([0 if f is None else _CODES[f.kind] for f in faults], dtype=np.int64),
            onset=np.array([np.inf if f is None else f.onset_h for f in faults]),
            end=np.array([np.inf if f is None else f.end_h for f in faults]),
            magnitude=np.array([0.0 if f is None else f.magnitude for f in faults]),
        )

    def of(self, kind: FaultType) -> NDArray[np.bool_]:
        """Batches that carry ``kind`` at some time."""
        return np.asarray(self.code == _CODES[kind])

    def active(self, kind: FaultType, t: float) -> NDArray[np.bool_]:
        """Batches in which ``kind`` is in force at culture time ``t`` h."""
        return self.at(t).of(kind)

    def at(self, t: float) -> ActiveFaults:
        """Which fault is in force in each batch at ``t``, computed once for many queries."""
        return ActiveFaults(np.where((self.onset <= t) & (t < self.end), self.code, 0))

    def any_active(self, t: float) -> NDArray[np.bool_]:
        return self.at(t).codes > 0

    def labels(self, t: float) -> list[str]:
        """The ``fault`` label of each batch at ``t``: the fault's name while in force, else ``none``."""
        active = self.any_active(t)
        return [FAULT_TYPES[c - 1].value if a else FaultType.NONE.value for c, a in zip(self.code, active, strict=True)]


@dataclass(frozen=True)
class ActiveFaults:
    """The code of the fault in force in each batch at one instant (0: none)."""

    codes: NDArray[np.int64]

    def of(self, kind: FaultType) -> NDArray[np.bool_]:
        return np.asarray(self.codes == _CODES[kind])
