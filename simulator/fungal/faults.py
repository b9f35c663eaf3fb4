"""Faults of the fungal fed-batch: what each does to the plant, what it looks like, and random draws.

Each fault type is a class whose docstring gives its *signature*: what changes
in the exported columns, and in what order. ``magnitude`` means something
different per type (:attr:`FaultType.magnitude_meaning`). A fault acts from its
onset until ``onset + duration`` (to harvest when the duration is ``None``).

>>> fault = Fault(FaultKind.FEED_STOP, onset_h=90.0, duration_h=12.0)
>>> fault.end_h
102.0
>>> schedule = FaultSchedule.of([fault, None])
>>> upsets = schedule.upsets(95.0, 1 / 60)
>>> [float(v) for v in upsets.feed]
[0.0, 1.0]
>>> schedule.labels(95.0), schedule.labels(102.0)
(['feed_stop', 'none'], ['none', 'none'])
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class FaultKind(StrEnum):
    """Names of the fault types, as written in the ``fault`` label."""

    AERATION_LOSS = "aeration_loss"
    AGITATOR_FAILURE = "agitator_failure"
    FEED_OVERDOSE = "feed_overdose"
    FEED_STOP = "feed_stop"
    COOLING_FAILURE = "cooling_failure"
    BASE_PUMP_FAILURE = "base_pump_failure"
    DO_PROBE_DRIFT = "do_probe_drift"
    PH_PROBE_DRIFT = "ph_probe_drift"
    CONTAMINATION = "contamination"


#: The ``fault`` label of a reading without a fault in force.
NO_FAULT = "none"


@dataclass
class Upsets:
    """What the faults in force do to each column at one instant; neutral values mean no fault.

    Factors multiply what an actuator is asked to deliver (air, agitator speed,
    sugar feed, base); ``coolant_warming`` (K) is added to the coolant supply
    temperature; offsets are added to a probe's signal; ``contaminant_load`` is
    bacteria (g/L) entering the broth now.
    """

    air: FloatArray
    rpm: FloatArray
    feed: FloatArray
    base: FloatArray
    coolant_warming: FloatArray
    do_offset: FloatArray
    ph_offset: FloatArray
    contaminant_load: FloatArray

    @classmethod
    def none(cls, columns: int) -> Upsets:
        ones, zeros = np.ones(columns), np.zeros(columns)
        return cls(ones, ones.copy(), ones.copy(), ones.copy(), zeros, zeros.copy(), zeros.copy(), zeros.copy())


class FaultType(ABC):
    """One kind of fault: its random ranges and how it upsets the columns it hits."""

    kind: ClassVar[FaultKind]
    magnitude_meaning: ClassVar[str]
    magnitude_range: ClassVar[tuple[float, float]]
    #: Window of onsets (culture hours) in which the fault can act on the process.
    onset_range_h: ClassVar[tuple[float, float]]
    #: Range of durations (h); ``None``: the fault lasts until harvest.
    duration_range_h: ClassVar[tuple[float, float] | None]
    #: Whether the magnitude is drawn with a random sign (drifts go either way).
    signed: ClassVar[bool] = False

    @abstractmethod
    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        """Apply the fault to the columns it hits.

        Parameters
        ----------
        upsets
            What the faults do to every column now; updated in place.
        hit
            Columns with this fault in force.
        magnitude
            Every column's fault magnitude (meaning: :attr:`magnitude_meaning`).
        elapsed_h
            Hours since each column's onset.
        dt
            Length of the step the upsets are for (h).
        """


def _scale(values: FloatArray, hit: BoolArray, factor: FloatArray) -> FloatArray:
    return np.where(hit, values * factor, values)


class AerationLoss(FaultType):
    """Air supply loss (compressor trip, sparger fouling): only ``1 - magnitude`` of the air arrives.

    Signature: the aeration reading (a flow meter downstream of the control
    valve) drops at once, and off-gas CO2 rises at once, the same CO2 leaving in
    less gas; kLa falls, so DO falls; once DO reaches its floor the cascade raises
    agitation, to maximum if that is not enough, and asks for air it cannot get;
    if DO still sinks below ~30 %, penicillin formation slows.
    """

    kind = FaultKind.AERATION_LOSS
    magnitude_meaning = "fraction of the air supply lost"
    magnitude_range = (0.5, 0.85)
    onset_range_h = (50.0, 200.0)
    duration_range_h = (4.0, 24.0)

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        upsets.air = _scale(upsets.air, hit, 1.0 - magnitude)


class AgitatorFailure(FaultType):
    """Agitator drive fault (VFD trip, coupling slip): the impellers turn at ``1 - magnitude`` of the demand.

    Signature: the agitator speed reading drops at once; gassed power and kLa
    collapse, DO falls below its floor and the cascade takes the air to maximum;
    the broth cools slightly as the agitator's few hundred kW of heat disappear
    (the cooling valve closes); with oxygen short, off-gas CO2 falls. Speed returns
    when the fault ends.
    """

    kind = FaultKind.AGITATOR_FAILURE
    magnitude_meaning = "fraction of impeller speed lost"
    magnitude_range = (0.4, 1.0)
    onset_range_h = (50.0, 210.0)
    duration_range_h = (1.0, 8.0)

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        upsets.rpm = _scale(upsets.rpm, hit, 1.0 - magnitude)


class FeedOverdose(FaultType):
    """Sugar feed pump runaway (controller or flow-meter fault): it delivers ``magnitude`` times the demand.

    Signature: the sugar-feed reading jumps several-fold; sugar accumulates to
    g/L within hours; penicillin formation stops (sugar repression) while growth
    and oxygen demand rise: DO falls, the cascade ramps up, off-gas CO2 and base
    use rise; the volume climbs faster.
    """

    kind = FaultKind.FEED_OVERDOSE
    magnitude_meaning = "multiple of the intended sugar feed"
    magnitude_range = (3.0, 6.0)
    onset_range_h = (50.0, 200.0)
    duration_range_h = (2.0, 8.0)

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        upsets.feed = _scale(upsets.feed, hit, magnitude)


class FeedStop(FaultType):
    """Sugar feed interruption (pump stop, empty feed tank, closed valve). ``magnitude`` is unused.

    Signature: the sugar-feed reading falls to zero; sugar runs out within the
    hour; oxygen demand drops to maintenance, so DO rises above its floor and the
    cascade backs off to minimum speed and air; off-gas CO2 falls; growth and
    penicillin formation stop and the mycelium burns its own mass; with little
    growth the broth stops acidifying, so base use falls and acid may be needed.
    """

    kind = FaultKind.FEED_STOP
    magnitude_meaning = "unused (the feed stops)"
    magnitude_range = (1.0, 1.0)
    onset_range_h = (50.0, 210.0)
    duration_range_h = (4.0, 24.0)

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        upsets.feed = np.where(hit, 0.0, upsets.feed)


class CoolingFailure(FaultType):
    """Chilled-water failure (chiller trip): the coolant supply warms by ``magnitude`` K.

    The coolant loop's own inventory warms over about half an hour (time constant
    assumed). Signature: the cooling valve opens fully but removes less and less
    heat, so the temperature climbs above 298 K, by up to ~1-2 K/h, towards where
    the warm coolant balances the metabolic and agitator heat; above ~303 K growth
    slows and penicillin hydrolysis speeds up, so oxygen demand, DO and off-gas
    CO2 move too. The temperature returns when the fault ends.
    """

    kind = FaultKind.COOLING_FAILURE
    magnitude_meaning = "warming of the coolant supply, K"
    magnitude_range = (10.0, 18.0)
    onset_range_h = (30.0, 210.0)
    duration_range_h = (3.0, 12.0)
    time_constant_h: ClassVar[float] = 0.5

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        warming = magnitude * (1.0 - np.exp(-elapsed_h / self.time_constant_h))
        upsets.coolant_warming = np.where(hit, upsets.coolant_warming + warming, upsets.coolant_warming)


class BasePumpFailure(FaultType):
    """Base pump failure: no base is delivered; the acid pump still works. ``magnitude`` is unused.

    Signature: the base-flow reading is zero although pH is below the deadband
    (the controller demands ever more base); pH falls steadily while growth
    acidifies the broth, by a few hundredths per hour; growth slows as pH leaves
    its optimum. Onsets fall in the growth phase, when the culture needs base.
    """

    kind = FaultKind.BASE_PUMP_FAILURE
    magnitude_meaning = "unused (no base is delivered)"
    magnitude_range = (1.0, 1.0)
    onset_range_h = (15.0, 100.0)
    duration_range_h = (8.0, 48.0)

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        upsets.base = np.where(hit, 0.0, upsets.base)


#: Largest offset a drifting probe reaches: a fouled membrane saturates, it does not drift forever.
MAX_DO_DRIFT = 40.0  # % air saturation
MAX_PH_DRIFT = 0.5


class DoProbeDrift(FaultType):
    """DO probe drift (membrane fouling, calibration loss): the signal drifts by ``magnitude`` % per day.

    Signature: the DO reading departs from the true DO, linearly, up to +-40 %.
    While DO is above its floor the reading just creeps; once the cascade holds
    DO at the floor it follows the false reading: a reading that drifts high makes
    the loop back off, so agitation and air sit lower than the oxygen demand
    (off-gas CO2) implies and the true DO sinks below the floor, until penicillin
    formation suffers; a reading that drifts low makes agitation and air run higher
    than needed.
    """

    kind = FaultKind.DO_PROBE_DRIFT
    magnitude_meaning = "DO reading drift, % air saturation per day"
    magnitude_range = (5.0, 15.0)
    onset_range_h = (30.0, 190.0)
    duration_range_h = None
    signed = True

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        drift = np.clip(magnitude * elapsed_h / 24.0, -MAX_DO_DRIFT, MAX_DO_DRIFT)
        upsets.do_offset = np.where(hit, upsets.do_offset + drift, upsets.do_offset)


class PhProbeDrift(FaultType):
    """pH electrode drift (reference junction fouling): the signal drifts by ``magnitude`` pH per day.

    Signature: the pH reading creeps, up to +-0.5. While the reading stays inside
    the deadband nothing else moves; once it leaves the band the loop "corrects"
    it, so the true pH moves opposite to the drift, and acid or base use departs
    from what growth and production imply (acid pumped into a culture that is
    making acid, or base into one that is not).
    """

    kind = FaultKind.PH_PROBE_DRIFT
    magnitude_meaning = "pH reading drift per day"
    magnitude_range = (0.05, 0.2)
    onset_range_h = (30.0, 190.0)
    duration_range_h = None
    signed = True

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        drift = np.clip(magnitude * elapsed_h / 24.0, -MAX_PH_DRIFT, MAX_PH_DRIFT)
        upsets.ph_offset = np.where(hit, upsets.ph_offset + drift, upsets.ph_offset)


class Contamination(FaultType):
    """Bacterial contamination: ``magnitude`` g/L of a fast, penicillin-resistant bacterium gets in at onset.

    Signature: nothing for several hours while the bacteria grow from a trace
    (doubling in ~50 min); then oxygen demand and off-gas CO2 rise, DO falls and
    the cascade ramps up; organic acids raise base use and dip the pH; the
    bacteria take the feed, so the mycelium starves; penicillin falls
    (penicillinase); the offline biomass, a dry weight, includes the bacteria.
    """

    kind = FaultKind.CONTAMINATION
    magnitude_meaning = "bacteria entering the broth, g/L"
    magnitude_range = (2e-4, 2e-3)
    onset_range_h = (40.0, 180.0)
    duration_range_h = None

    def act(self, upsets: Upsets, hit: BoolArray, magnitude: FloatArray, elapsed_h: FloatArray, dt: float) -> None:
        entering = hit & (elapsed_h < dt)  # the first step of the fault only
        upsets.contaminant_load = np.where(entering, upsets.contaminant_load + magnitude, upsets.contaminant_load)


#: Every fault type, by name, in the order of :class:`FaultKind`.
FAULT_TYPES: dict[FaultKind, FaultType] = {
    cls.kind: cls()
    for cls in (
        AerationLoss,
        AgitatorFailure,
        FeedOverdose,
        FeedStop,
        CoolingFailure,
        BasePumpFailure,
        DoProbeDrift,
        PhProbeDrift,
        Contamination,
    )
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault: ``kind`` from ``onset_h`` culture hours for ``duration_h`` (``None``: to harvest)."""

    kind: FaultKind
    onset_h: float
    magnitude: float = 1.0
    duration_h: float | None = None

    @property
    def end_h(self) -> float:
        return math.inf if self.duration_h is None else self.onset_h + self.duration_h

    @classmethod
    def draw(cls, kind: FaultKind, rng: np.random.Generator, hours: float) -> Fault:
        """A random fault of ``kind``: magnitude, onset and duration uniform in the type's ranges.

        Parameters
        ----------
        kind
            The fault type.
        rng
            The campaign's generator.
        hours
            Length of the batch: onset windows are cut to end six hours before
            harvest, so that the fault has time to act in a short run.

        Examples
        --------
        >>> import numpy as np
        >>> fault = Fault.draw(FaultKind.AERATION_LOSS, np.random.default_rng(1), hours=230.0)
        >>> 50 <= fault.onset_h <= 200 and 0.5 <= fault.magnitude <= 0.85
        True
        """
        spec = FAULT_TYPES[kind]
        magnitude = float(rng.uniform(*spec.magnitude_range))
        if spec.signed and rng.random() < 0.5:
            magnitude = -magnitude
        latest = max(hours - 6.0, 0.0)
        first, last = (min(bound, latest) for bound in spec.onset_range_h)
        onset = float(rng.uniform(first, last))
        duration = None if spec.duration_range_h is None else float(rng.uniform(*spec.duration_range_h))
        return cls(kind, round(onset, 2), round(magnitude, 6), None if duration is None else round(duration, 2))


_CODES: dict[FaultKind, int] = {kind: code for code, kind in enumerate(FAULT_TYPES, start=1)}
_NAMES: tuple[str, ...] = (NO_FAULT, *(kind.value for kind in FAULT_TYPES))


@dataclass(frozen=True)
class FaultSchedule:
    """One fault (or none) per column, as arrays: code (0: none), onset, end and magnitude."""

    code: NDArray[np.int64]
    onset_h: FloatArray
    end_h: FloatArray
    magnitude: FloatArray

    @classmethod
    def of(cls, faults: Sequence[Fault | None]) -> FaultSchedule:
        return cls(
            code=np.array([0 if f is None else _CODES[f.kind] for f in faults], dtype=np.int64),
            onset_h=np.array([math.inf if f is None else f.onset_h for f in faults]),
            end_h=np.array([math.inf if f is None else f.end_h for f in faults]),
            magnitude=np.array([0.0 if f is None else f.magnitude for f in faults]),
        )

    def active(self, t: float) -> BoolArray:
        """Columns whose fault is in force at culture time ``t`` h."""
        return np.asarray((self.code > 0) & (self.onset_h <= t) & (t < self.end_h))

    def upsets(self, t: float, dt: float) -> Upsets:
        """What the faults in force at ``t`` do to every column during the step ``[t, t + dt)``."""
        upsets = Upsets.none(len(self.code))
        active = self.active(t)
        if not active.any():
            return upsets
        elapsed = np.where(active, t - self.onset_h, 0.0)
        for kind, fault_type in FAULT_TYPES.items():
            hit = active & (self.code == _CODES[kind])
            if hit.any():
                fault_type.act(upsets, hit, self.magnitude, elapsed, dt)
        return upsets

    def labels(self, t: float) -> list[str]:
        """The ``fault`` label of each column at ``t``: the fault's name while in force, else ``none``."""
        codes = np.where(self.active(t), self.code, 0)
        return [_NAMES[c] for c in codes]
