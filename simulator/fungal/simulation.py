"""Run many fungal batches together, each faulty one beside a fault-free twin, and sample them.

Every batch is a numpy column. A batch with a fault gets a second column, its
*twin*: the same culture, the same operator decisions and, at every sample, the
same measurement noise, without the fault. Until the fault's onset the two are
identical to the last bit; ``fault_effective`` turns 1 at the first sample at
which the faulty batch's noise-free signals or true state depart from the twin's
by more than :data:`DEPARTURE` allows, and stays 1 until the fault ends.

The plant is integrated in one-minute steps (the DO loop settles in minutes);
readings are taken every ``sample_minutes``. At each step the probes are read,
the loops act on what the probes say, the faults alter what the actuators
deliver or what the probes say, and the broth advances.

>>> from datetime import UTC, datetime
>>> from simulator.fungal.feeding import OperatorPlan
>>> batch = FungalBatch("B1", "FV01", datetime(2026, 1, 1, tzinfo=UTC), operator=OperatorPlan(40.0, 1.0, (1.0,)))
>>> record = simulate([batch], hours=2.0, sample_minutes=60, rng=np.random.default_rng(0))
>>> record.minutes.tolist(), record.labels[:, 0].tolist()
([0, 60, 120], ['none', 'none', 'none'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from simulator.fungal.broth import Actuation, Broth
from simulator.fungal.control import CoolingLoop, DoCascade, PhLoop
from simulator.fungal.faults import Fault, FaultSchedule
from simulator.fungal.feeding import FeedSchedule, OperatorPlan
from simulator.fungal.parameters import Organism, Recipe, Vessel
from simulator.fungal.sensors import INSTRUMENTS, DoProbe

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Integration step (minutes); sampling periods are whole multiples of it.
STEP_MINUTES = 1

#: When a faulty batch has departed from its twin: signal -> (absolute, relative) gap,
#: about one to two noise sigmas of the signal (:data:`~simulator.fungal.sensors.INSTRUMENTS`),
#: on the noise-free measured signals and on the true DO, pH and mycelium.
DEPARTURE: dict[str, tuple[float, float]] = {
    "biomass": (0.0, 0.01),
    "sugar": (0.02, 0.05),
    "penicillin": (0.0, 0.01),
    "do": (2.0, 0.0),
    "ph": (0.02, 0.0),
    "temperature": (0.2, 0.0),
    "agitation": (1.0, 0.0),
    "aeration": (0.0, 0.01),
    "feed": (0.5, 0.01),
    "volume": (0.0, 0.001),
    "acid": (2.0, 0.05),
    "base": (2.0, 0.05),
    "offgas_co2": (0.02, 0.0),
    "true_do": (2.0, 0.0),
    "true_ph": (0.02, 0.0),
    "mycelium": (0.0, 0.01),
}


@dataclass(frozen=True)
class FungalBatch:
    """One batch to simulate: identity, start, initial culture, biological variability, operator, fault.

    ``growth_scale`` and ``product_scale`` multiply the strain's maximum growth and
    production rates; initial values left ``None`` are the recipe's.
    """

    batch_ref: str
    vessel: str
    start: datetime
    operator: OperatorPlan
    fault: Fault | None = None
    biomass: float | None = None
    sugar: float | None = None
    volume_l: float | None = None
    growth_scale: float = 1.0
    product_scale: float = 1.0


@dataclass(frozen=True)
class Record:
    """Every sample of every column: measured (``readings``), noise-free (``clean``) and true (``truth``).

    Arrays are (samples, columns). Columns ``0..len(batches)-1`` are the batches;
    ``twin[i]`` is the column of batch ``i``'s twin (-1 without a fault). Labels
    and ``effective`` are (samples, batches).
    """

    batches: tuple[FungalBatch, ...]
    twin: IntArray
    minutes: IntArray
    readings: dict[str, FloatArray]
    clean: dict[str, FloatArray]
    truth: dict[str, FloatArray]
    labels: NDArray[np.str_]
    effective: NDArray[np.int64]


@dataclass
class _Plant:
    """The columns' broth, probes, loops and schedules, advanced one step at a time."""

    broth: Broth
    feed: FeedSchedule
    faults: FaultSchedule
    organism: Organism
    vessel: Vessel
    recipe: Recipe
    probe: DoProbe = field(init=False)
    do_loop: DoCascade = field(init=False)
    ph_loop: PhLoop = field(init=False)
    cooling_loop: CoolingLoop = field(init=False)
    signals: dict[str, FloatArray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        columns = len(self.broth.volume)
        self.probe = DoProbe(self.broth.do_percent.copy())
        self.do_loop, self.ph_loop = DoCascade.idle(columns), PhLoop.idle(columns, self.vessel)
        self.cooling_loop = CoolingLoop.idle(columns)

    def act(self, minute: int, dt: float) -> Actuation:
        """Read the probes, run the loops, apply the faults: what the actuators deliver from ``minute`` on."""
        t = minute / 60.0
        broth, recipe, vessel = self.broth, self.recipe, self.vessel
        upsets = self.faults.upsets(t, dt)
        broth.inoculate_contaminant(upsets.contaminant_load)
        do_signal = np.maximum(self.probe.update(broth.do_percent, dt) + upsets.do_offset, 0.0)
        ph_signal = broth.ph + upsets.ph_offset
        rpm, air = self.do_loop.update(do_signal, recipe, vessel, dt)
        base, acid = self.ph_loop.update(ph_signal, recipe, vessel, dt)
        valve = self.cooling_loop.update(broth.temperature, recipe, dt)
        feed = np.where(broth.volume < vessel.max_working_volume_l, self.feed.rate(t), 0.0)
        act = Actuation(
            rpm=rpm * upsets.rpm,
            air_nm3_h=air * upsets.air,
            feed_l_h=np.minimum(feed * upsets.feed, vessel.feed_pump_max_l_h),
            base_l_h=base * upsets.base,
            acid_l_h=acid,
            cooling=valve,
            coolant_k=vessel.coolant_inlet_k + upsets.coolant_warming,
        )
        self.signals = {"do": do_signal, "ph": ph_signal}
        return act

    def sample(self, act: Actuation) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
        """Noise-free measured signals and the true state, now."""
        broth = self.broth
        clean = {
            # A dry weight cannot tell the mycelium from bacteria.
            "biomass": broth.biomass + broth.contaminant,
            "sugar": broth.sugar,
            "penicillin": broth.penicillin,
            "do": self.signals["do"],
            "ph": self.signals["ph"],
            "temperature": broth.temperature,
            "agitation": act.rpm,
            "aeration": act.air_nm3_h,
            "feed": act.feed_l_h,
            "volume": broth.volume,
            "acid": act.acid_l_h,
            "base": act.base_l_h,
            "offgas_co2": broth.offgas_co2,
        }
        truth = {
            "true_do": broth.do_percent,
            "true_ph": broth.ph,
            "mycelium": broth.biomass,
            "contaminant": broth.contaminant,
        }
        return {k: np.array(v, dtype=np.float64) for k, v in clean.items()}, {
            k: np.array(v, dtype=np.float64) for k, v in truth.items()
        }


def simulate(
    batches: Sequence[FungalBatch],
    *,
    hours: float,
    sample_minutes: int = 12,
    rng: np.random.Generator,
    organism: Organism | None = None,
    vessel: Vessel | None = None,
    recipe: Recipe | None = None,
) -> Record:
    """Simulate ``batches`` side by side, each faulty one with its twin, and sample them.

    Parameters
    ----------
    batches
        The batches to run; those with a fault get a fault-free twin column.
    hours
        Culture time to simulate, rounded to whole sampling periods.
    sample_minutes
        Sampling period, a whole number of integration steps (:data:`STEP_MINUTES`).
    rng
        Draws the measurement noise; the same generator state gives the same record.
    organism, vessel, recipe
        Constants of the process (defaults: :mod:`simulator.fungal.parameters`).

    Returns
    -------
    Record
        Readings, noise-free signals, true state and labels at every sample.
    """
    if not batches:
        raise ValueError("nothing to simulate: no batch given")
    if sample_minutes < STEP_MINUTES or sample_minutes % STEP_MINUTES:
        raise ValueError(f"sample_minutes must be a whole number of {STEP_MINUTES}-minute steps")
    if hours <= 0:
        raise ValueError("hours must be positive")
    organism, vessel, recipe = organism or Organism(), vessel or Vessel(), recipe or Recipe()
    faulty = [i for i, b in enumerate(batches) if b.fault is not None]
    source = np.array([*range(len(batches)), *faulty], dtype=np.int64)
    twin = np.full(len(batches), -1, dtype=np.int64)
    twin[faulty] = np.arange(len(batches), len(source))
    columns = [batches[i] for i in source]
    plant = _Plant(
        broth=Broth.start(
            recipe,
            vessel,
            biomass=np.array([recipe.initial_biomass if b.biomass is None else b.biomass for b in columns]),
            sugar=np.array([recipe.initial_sugar if b.sugar is None else b.sugar for b in columns]),
            volume=np.array([recipe.initial_volume_l if b.volume_l is None else b.volume_l for b in columns]),
            growth_scale=np.array([b.growth_scale for b in columns]),
            product_scale=np.array([b.product_scale for b in columns]),
        ),
        feed=FeedSchedule.of([b.operator for b in columns], recipe),
        faults=FaultSchedule.of([b.fault for b in batches] + [None] * len(faulty)),
        organism=organism,
        vessel=vessel,
        recipe=recipe,
    )
    sampler = _Sampler(batches=tuple(batches), source=source, twin=twin, rng=rng, recipe=recipe)
    dt = STEP_MINUTES / 60.0
    last_minute = round(hours * 60.0 / sample_minutes) * sample_minutes
    withdrawal = np.full(len(source), recipe.lab_sample_l)
    for minute in range(0, last_minute + 1, STEP_MINUTES):
        if minute % recipe.lab_minutes == 0:
            plant.broth.withdraw(withdrawal)
        act = plant.act(minute, dt)
        if minute % sample_minutes == 0:
            sampler.take(minute, *plant.sample(act), plant.faults)
        if minute < last_minute:
            plant.broth.advance(act, dt, organism, vessel, recipe)
    return sampler.record()


@dataclass
class _Sampler:
    """Collects samples: adds the shared noise, marks lab rows, labels faults and their effect."""

    batches: tuple[FungalBatch, ...]
    source: IntArray
    twin: IntArray
    rng: np.random.Generator
    recipe: Recipe
    minutes: list[int] = field(default_factory=list)
    readings: dict[str, list[FloatArray]] = field(default_factory=dict)
    clean: dict[str, list[FloatArray]] = field(default_factory=dict)
    truth: dict[str, list[FloatArray]] = field(default_factory=dict)
    labels: list[list[str]] = field(default_factory=list)
    effective: list[NDArray[np.bool_]] = field(default_factory=list)

    def take(
        self, minute: int, clean: dict[str, FloatArray], truth: dict[str, FloatArray], faults: FaultSchedule
    ) -> None:
        n = len(self.batches)
        # One draw per batch and signal; a twin reuses its batch's draw.
        z = self.rng.standard_normal((len(INSTRUMENTS), n))[:, self.source]
        lab_row = not self.minutes or minute // self.recipe.lab_minutes > self.minutes[-1] // self.recipe.lab_minutes
        for row, (name, instrument) in enumerate(INSTRUMENTS.items()):
            measured = instrument.read(clean[name], z[row])
            if name == "biomass" and not lab_row:  # a lab value exists only where a sample was taken
                measured = np.full_like(measured, np.nan)
            self.readings.setdefault(name, []).append(measured)
            self.clean.setdefault(name, []).append(clean[name])
        for name, value in truth.items():
            self.truth.setdefault(name, []).append(value)
        t = minute / 60.0
        active = faults.active(t)[:n]
        departed = self._departed(clean, truth)
        previous = self.effective[-1] if self.effective else np.zeros(n, dtype=bool)
        self.effective.append(active & (previous | departed))
        self.labels.append(faults.labels(t)[:n])
        self.minutes.append(minute)

    def _departed(self, clean: dict[str, FloatArray], truth: dict[str, FloatArray]) -> NDArray[np.bool_]:
        """Batches whose signals or state differ from their twin's beyond :data:`DEPARTURE`."""
        has_twin = self.twin >= 0
        batch = np.flatnonzero(has_twin)
        twin = self.twin[has_twin]
        departed = np.zeros(len(self.batches), dtype=bool)
        values = clean | truth
        for name, (absolute, relative) in DEPARTURE.items():
            own, other = values[name][batch], values[name][twin]
            departed[batch] |= np.abs(own - other) > absolute + relative * np.abs(other)
        return departed

    def record(self) -> Record:
        return Record(
            batches=self.batches,
            twin=self.twin,
            minutes=np.array(self.minutes, dtype=np.int64),
            readings={k: np.stack(v) for k, v in self.readings.items()},
            clean={k: np.stack(v) for k, v in self.clean.items()},
            truth={k: np.stack(v) for k, v in self.truth.items()},
            labels=np.array(self.labels, dtype=np.str_),
            effective=np.stack(self.effective).astype(np.int64),
        )
