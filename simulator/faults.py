"""Injected faults: what they are, how big, when, and how to draw them at random.

Signatures follow the domain notes' fault table (shared/domain-notes.md).
``magnitude`` means something different per fault; :data:`FAULT_SPECS` says what.

>>> Fault.parse("aeration_loss@96:0.8")
Fault(kind=<FaultType.AERATION_LOSS: 'aeration_loss'>, onset_h=96.0, magnitude=0.8, duration_h=None)
>>> Fault.parse("missed_feed@100:1:24").end_h
124.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class FaultType(StrEnum):
    NONE = "none"
    DO_DRIFT = "do_drift"
    DO_STUCK = "do_stuck"
    AERATION_LOSS = "aeration_loss"
    AGITATOR_FAILURE = "agitator_failure"
    PH_DRIFT = "ph_drift"
    BASE_PUMP_FAILURE = "base_pump_failure"
    TEMPERATURE_CONTROL_FAILURE = "temperature_control_failure"
    MISSED_FEED = "missed_feed"
    OVERFEEDING = "overfeeding"
    CONTAMINATION = "contamination"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """What ``magnitude`` means for a fault, its random range, and its usual duration."""

    meaning: str
    magnitude_range: tuple[float, float]
    onset_range_h: tuple[float, float]
    duration_range_h: tuple[float, float] | None = None  # None: lasts until harvest
    signed: bool = False  # magnitude drawn with a random sign


FAULT_SPECS: dict[FaultType, FaultSpec] = {
    FaultType.DO_DRIFT: FaultSpec(
        "DO reading drift, % air sat. per day (fouling)", (4.0, 10.0), (48, 240), signed=True
    ),
    FaultType.DO_STUCK: FaultSpec("unused (the reading freezes at its value at onset)", (1.0, 1.0), (48, 240)),
    FaultType.AERATION_LOSS: FaultSpec("fraction of kLa lost (sparger clog, gas supply)", (0.6, 0.9), (72, 220)),
    FaultType.AGITATOR_FAILURE: FaultSpec("fraction of impeller speed lost", (0.6, 1.0), (48, 240), (4, 24)),
    FaultType.PH_DRIFT: FaultSpec("pH reading drift per day", (0.04, 0.1), (48, 240), signed=True),
    FaultType.BASE_PUMP_FAILURE: FaultSpec("unused (no base is delivered)", (1.0, 1.0), (30, 110)),
    FaultType.TEMPERATURE_CONTROL_FAILURE: FaultSpec(
        "°C per hour of drift away from the set point", (0.15, 0.5), (48, 240), signed=True
    ),
    FaultType.MISSED_FEED: FaultSpec("unused (the feed pump stops)", (1.0, 1.0), (70, 200), (24, 60)),
    FaultType.OVERFEEDING: FaultSpec("multiple of the intended feed rate", (2.5, 4.0), (70, 200), (24, 72)),
    FaultType.CONTAMINATION: FaultSpec("initial bacterial load, relative", (0.5, 2.0), (48, 240)),
}

FAULT_TYPES: tuple[FaultType, ...] = tuple(FAULT_SPECS)


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: ``kind`` starting at ``onset_h`` culture hours, for ``duration_h`` (None: to harvest)."""

    kind: FaultType
    onset_h: float
    magnitude: float = 1.0
    duration_h: float | None = None

    @property
    def end_h(self) -> float:
        return math.inf if self.duration_h is None else self.onset_h + self.duration_h

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Parse ``KIND@ONSET_H[:MAGNITUDE[:DURATION_H]]``, e.g. ``do_drift@120:-6``."""
        kind_text, _, rest = text.partition("@")
        try:
            kind = FaultType(kind_text.strip())
        except ValueError:
            names = ", ".join(t.value for t in FAULT_TYPES)
            raise ValueError(f"unknown fault {kind_text!r}; choose one of: {names}") from None
        if kind is FaultType.NONE:
            raise ValueError("'none' is not a fault")
        parts = rest.split(":") if rest else []
        if not parts:
            raise ValueError(f"fault {text!r} needs an onset: {kind}@HOURS[:MAGNITUDE[:DURATION_H]]")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"fault {text!r}: onset, magnitude and duration must be numbers") from None
        spec = FAULT_SPECS[kind]
        magnitude = numbers[1] if len(numbers) > 1 else float(np.mean(spec.magnitude_range))
        duration = numbers[2] if len(numbers) > 2 else None
        if numbers[0] < 0 or (duration is not None and duration <= 0):
            raise ValueError(f"fault {text!r}: onset must be >= 0 and duration > 0")
        return cls(kind, numbers[0], magnitude, duration)


def random_fault(kind: FaultType, rng: np.random.Generator) -> Fault:
    """A fault of ``kind`` with onset, magnitude and duration drawn from its spec."""
    spec = FAULT_SPECS[kind]
    magnitude = float(rng.uniform(*spec.magnitude_range))
    if spec.signed and rng.random() < 0.5:
        magnitude = -magnitude
    onset = float(rng.uniform(*spec.onset_range_h))
    duration = None if spec.duration_range_h is None else float(rng.uniform(*spec.duration_range_h))
    return Fault(kind, round(onset, 2), round(magnitude, 4), None if duration is None else round(duration, 2))
