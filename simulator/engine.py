"""Run many fed-batch cultures at once, sample their sensors, label their faults.

Every batch is a column of numpy arrays, so 200 batches cost little more than
one. Each faulty batch is run beside a fault-free twin that shares its noise
and operator decisions: ``fault_effective`` becomes 1 when the faulty batch's
signals or process state actually depart from its twin's, which is the ground
truth a detector can be measured against.

>>> from datetime import datetime, UTC
>>> sim = Simulation([BatchConfig("B1", "R01", datetime(2026, 1, 1, tzinfo=UTC))], seed=1)
>>> first = sim.advance()
>>> round(float(first["culture_h"][0]), 4), first["fault"]
(0.0833, ['none'])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tqdm import tqdm

from simulator.control import DoCascade, PhControl
from simulator.faults import Fault, FaultType
from simulator.feeding import ExpertPolicy, FeedPolicy, Observation
from simulator.frame import DECIMALS, records_to_frame
from simulator.parameters import GLUCOSE_G_PER_MMOL, LACTATE_G_PER_MMOL, InitialCulture, Kinetics, Vessel
from simulator.plant import Plant
from simulator.process import Actuation, CultureState
from simulator.schedule import FaultSchedule
from simulator.sensors import Probes, SensorNoise

FloatArray = NDArray[np.float64]
Record = dict[str, object]

def effect_thresholds(vessel: Vessel) -> dict[FaultType, dict[str, float]]:
    """When a faulty batch counts as deviating from its twin: per fault, the signal and the gap.

    Gaps in concentrations, DO, pH and temperature hold at any scale; actuator gaps are
    fractions of the plant's own ranges (on the bench: 5 rpm, 0.01 L/min, 0.1 mL/h).

    >>> effect_thresholds(Vessel())[FaultType.AERATION_LOSS]
    {'do_true': 3.0, 'agitation': 5.0, 'airflow': 0.01...}
    """
    agitation = 0.02 * vessel.agitation_max  # rpm, 2 % of top speed
    airflow = 0.05 * vessel.airflow_max  # L/min, 5 % of the mass-flow controller's full scale
    # The expert operator's feed is proportional to the broth volume (simulator.feeding).
    feed_rate = 0.05 * vessel.initial_volume  # mL/h
    return {
        FaultType.DO_DRIFT: {"do_error": 3.0},
        FaultType.DO_STUCK: {},  # the frozen signal is abnormal from the first sample
        FaultType.AERATION_LOSS: {"do_true": 3.0, "agitation": agitation, "airflow": airflow},
        FaultType.AGITATOR_FAILURE: {"agitation": agitation},
        FaultType.PH_DRIFT: {"ph_error": 0.05},
        FaultType.BASE_PUMP_FAILURE: {"ph_true": 0.05},
        FaultType.TEMPERATURE_CONTROL_FAILURE: {"temperature": 0.3},
        FaultType.MISSED_FEED: {"feed_rate": feed_rate},
        FaultType.OVERFEEDING: {"glucose": 1.0},
        FaultType.CONTAMINATION: {"do_true": 3.0, "agitation": agitation, "ph_true": 0.05, "glucose": 0.5},
    }


class ShiftTime(Enum):
    """A batch's temperature shift time that the plant decides."""

    PLANT_MIDPOINT = "the middle of the plant's shift window (Control.shift_window_h)"


@dataclass(frozen=True)
class BatchConfig:
    """One batch to simulate: identity, start time, optional fault and biological variability."""

    batch_id: str
    reactor_id: str
    start: datetime
    fault: Fault | None = None
    # Culture hour of the temperature shift to Control.shift_temperature; None: no shift.
    shift_h: float | ShiftTime | None = ShiftTime.PLANT_MIDPOINT
    initial: InitialCulture = field(default_factory=InitialCulture)
    mu_factor: float = 1.0
    q_o2_factor: float = 1.0
    q_product_factor: float = 1.0


class Simulation:
    """A vectorised fed-batch simulation advancing one sample period per :meth:`advance`."""

    def __init__(
        self,
        configs: Sequence[BatchConfig],
        policy: FeedPolicy | None = None,
        *,
        seed: int = 0,
        sample_minutes: float | None = None,
        step_minutes: float = 1.0,
        kinetics: Kinetics | None = None,
        plant: Plant | None = None,
        noise: SensorNoise | None = None,
    ) -> None:
        """``sample_minutes`` defaults to the plant's sampling period; ``plant`` to the bench vessel."""
        self.plant = plant or Plant()
        sample_minutes = self.plant.sample_minutes if sample_minutes is None else sample_minutes
        if not configs:
            raise ValueError("nothing to simulate: no batch configured")
        if sample_minutes <= 0 or step_minutes <= 0:
            raise ValueError("sample and step periods must be positive")
        self.configs = list(configs)
        self.sample_minutes = sample_minutes
        self.kinetics = kinetics or Kinetics()
        self.vessel = self.plant.vessel
        self.control = self.plant.control
        self.noise = noise or SensorNoise()
        self.policy: FeedPolicy = policy or ExpertPolicy(seed=seed, control=self.control)
        self._effect_thresholds = effect_thresholds(self.vessel)
        self._steps_per_sample = max(1, round(sample_minutes / step_minutes))
        self._dt = sample_minutes / 60.0 / self._steps_per_sample
        self._rng = np.random.default_rng(seed)

        n = len(self.configs)
        faulty = [i for i, c in enumerate(self.configs) if c.fault is not None]
        # Column j simulates batch source[j]; columns n.. are the fault-free twins.
        self._source = np.array(list(range(n)) + faulty, dtype=np.int64)
        self._twin = np.array([n + k for k in range(len(faulty))], dtype=np.int64)
        self._faulty = np.array(faulty, dtype=np.int64)
        column_configs = [self.configs[i] for i in self._source]
        self.faults = FaultSchedule.from_faults([c.fault for c in self.configs] + [None] * len(faulty))
        self._shift_h = np.array([self._shift_time(c.shift_h) for c in column_configs])
        self.state = CultureState.initial(
            [c.initial for c in column_configs],
            self.vessel,
            temperature=self.control.temperature,
            mu_factor=np.array([c.mu_factor for c in column_configs]),
            q_o2_factor=np.array([c.q_o2_factor for c in column_configs]),
            q_product_factor=np.array([c.q_product_factor for c in column_configs]),
        )
        self._do_loop = DoCascade(np.zeros(len(self._source)))
        self._ph_loop = PhControl.for_vessel(len(self._source), self.vessel)
        self._probes = Probes.start(self.state.do_percent(), self.state.ph)
        self._effective = np.zeros(n, dtype=bool)
        self.seq = 0
        self.t = 0.0
        self._feed = np.zeros(len(self._source))
        self._agitation, self._airflow = self._do_loop.update(
            self._probes.do, self.control.do_setpoint, 0.0, self.vessel, self.state.volume
        )
        self._base_delivered = np.zeros(len(self._source))
        self._actual_feed = np.zeros(len(self._source))
        self._do_probe, self._ph_probe = self._probes.do.copy(), self._probes.ph.copy()
        self._readings = self._measure()

    def _shift_time(self, shift_h: float | ShiftTime | None) -> float:
        if shift_h is None:
            return np.inf
        if shift_h is ShiftTime.PLANT_MIDPOINT:
            return self.control.shift_midpoint_h
        return shift_h

    @property
    def batches(self) -> int:
        return len(self.configs)

    @property
    def sample_hours(self) -> float:
        return self._dt * self._steps_per_sample

    def advance(self) -> Record:
        """Simulate one sample period; return that sample's readings and labels for every batch."""
        self._feed = self._decide_feed()
        base_total = np.zeros(len(self._source))
        first = self.seq * self._steps_per_sample
        for k in range(1, self._steps_per_sample + 1):
            # Time from an integer count, so sample times are exact multiples of the period.
            self.t = (first + k) * self._dt
            base_total += self._step(self.t)
        self._base_delivered = base_total / self._steps_per_sample
        self.seq += 1
        self._readings = self._measure()
        return self._record()

    def _decide_feed(self) -> FloatArray:
        r = self._readings
        obs = Observation(
            batch_index=self._source, **{k: r[k] for k in Observation.__dataclass_fields__ if k != "batch_index"}
        )
        feed = np.asarray(self.policy(obs), dtype=np.float64)
        if feed.shape != (len(self._source),) or not np.all(np.isfinite(feed)):
            raise ValueError(f"feed policy returned {feed!r}: expected {len(self._source)} finite rates")
        return np.clip(feed, 0.0, self.control.max_feed_rate)

    def _step(self, t: float) -> FloatArray:
        """One integration step; returns the base actually pumped (mL/h)."""
        f = self.faults
        now = f.at(t)
        do_probe, ph_probe = self._probes.update(
            self.state.do_percent(), self.state.ph, self._dt, t, faults=f, active=now
        )
        agitation, self._airflow = self._do_loop.update(
            do_probe, self.control.do_setpoint, self._dt, self.vessel, self.state.volume
        )
        self._agitation = np.where(now.of(FaultType.AGITATOR_FAILURE), agitation * (1.0 - f.magnitude), agitation)
        # High-level interlock: a full vessel takes no more feed or base, checked every step.
        full = self.state.volume >= self.vessel.max_volume
        base = np.where(
            now.of(FaultType.BASE_PUMP_FAILURE) | full, 0.0, self._ph_loop.update(ph_probe, self.control, self._dt)
        )
        feed = np.where(now.of(FaultType.MISSED_FEED) | full, 0.0, self._feed)
        self._actual_feed = np.where(now.of(FaultType.OVERFEEDING), feed * f.magnitude, feed)
        starts = now.of(FaultType.CONTAMINATION) & (f.onset > t - self._dt)
        self.state.bacteria = np.where(starts, 1e-5 * np.abs(f.magnitude), self.state.bacteria)
        act = Actuation(
            agitation=self._agitation,
            airflow=self._airflow,
            co2_fraction=self._ph_loop.co2_fraction,
            base_rate=base,
            feed_rate=self._actual_feed,
            temperature_drift=np.where(now.of(FaultType.TEMPERATURE_CONTROL_FAILURE), f.magnitude, 0.0),
            kla_factor=np.where(now.of(FaultType.AERATION_LOSS), 1.0 - f.magnitude, 1.0),
        )
        setpoint = np.where(t >= self._shift_h, self.control.shift_temperature, self.control.temperature)
        self.state.advance(act, self._dt, setpoint, kin=self.kinetics, vessel=self.vessel, control=self.control)
        self._do_probe, self._ph_probe = do_probe, ph_probe
        return base

    def _measure(self) -> dict[str, FloatArray]:
        """Sensor readings of every column; twins draw the same noise as their batch."""
        s, noise = self.state, self.noise
        z = self._rng.standard_normal((9, self.batches))[:, self._source]
        stuck = self.faults.active(FaultType.DO_STUCK, self.t)
        return {
            "culture_h": np.full(len(self._source), self.seq * self.sample_hours),
            "vcd": np.maximum(s.viable * (1.0 + noise.vcd_relative * z[0]), 0.0),
            "viability": np.clip(s.viability + noise.viability * z[1], 0.0, 100.0),
            "glucose": np.maximum(s.glucose * GLUCOSE_G_PER_MMOL + noise.glucose * z[2], 0.0),
            "lactate": np.maximum(s.lactate * LACTATE_G_PER_MMOL + noise.lactate * z[3], 0.0),
            # A stuck probe repeats one value: no noise either (domain notes: variance collapses).
            "do": np.clip(self._do_probe + noise.do * z[4] * ~stuck, 0.0, 200.0),
            "ph": self._ph_probe + noise.ph * z[5],
            "temperature": s.temperature + noise.temperature * z[6],
            "agitation": np.maximum(self._agitation + noise.agitation * z[7], 0.0),
            "airflow": np.maximum(self._airflow + noise.airflow_full_scale * self.vessel.airflow_max * z[8], 0.0),
            "feed_rate": self._actual_feed.copy(),
            "volume": s.volume.copy(),
            "titer": s.titer.copy(),
            "base_rate": self._base_delivered.copy(),
            # CO2 sparged by the pH loop, as the gas mass-flow controller reports it.
            "co2_flow": self._ph_loop.co2_fraction * self._airflow * 1000.0,
            "temperature_setpoint": np.where(
                self.seq * self.sample_hours >= self._shift_h,
                self.control.shift_temperature,
                self.control.temperature,
            ),
            "_do_true": s.do_percent(),
            "_ph_true": s.ph,
            "_glucose_true": s.glucose * GLUCOSE_G_PER_MMOL,
        }

    def _update_effective(self) -> None:
        """Latch ``fault_effective`` once a faulty batch departs from its twin; reset when the fault ends."""
        r, f, a, b = self._readings, self.faults, self._faulty, self._twin
        active = f.any_active(self.t)
        gaps = {
            "do_true": np.abs(r["_do_true"][a] - r["_do_true"][b]),
            "do_error": np.abs(r["do"][a] - r["_do_true"][a]) - np.abs(r["do"][b] - r["_do_true"][b]),
            "ph_true": np.abs(r["_ph_true"][a] - r["_ph_true"][b]),
            "ph_error": np.abs(r["ph"][a] - r["_ph_true"][a]) - np.abs(r["ph"][b] - r["_ph_true"][b]),
            "agitation": np.abs(self._agitation[a] - self._agitation[b]),
            "airflow": np.abs(self._airflow[a] - self._airflow[b]),
            "temperature": np.abs(self.state.temperature[a] - self.state.temperature[b]),
            "feed_rate": np.abs(r["feed_rate"][a] - r["feed_rate"][b]),
            "glucose": np.abs(r["_glucose_true"][a] - r["_glucose_true"][b]),
        }
        for k, batch in enumerate(a):
            kind = self.configs[batch].fault.kind
            thresholds = self._effect_thresholds[kind]
            deviates = not thresholds or any(gaps[name][k] > limit for name, limit in thresholds.items())
            self._effective[batch] = active[batch] and (self._effective[batch] or deviates)
        self._effective &= active[: self.batches]

    def _record(self) -> Record:
        self._update_effective()
        n = self.batches
        record: Record = {k: np.round(v[:n], DECIMALS[k]) for k, v in self._readings.items() if k in DECIMALS}
        record["temperature_setpoint"] = self._readings["temperature_setpoint"][:n]
        record["seq"] = self.seq
        record["fault"] = self.faults.labels(self.t)[:n]
        record["fault_effective"] = self._effective.astype(np.int64)
        return record

    def initial_record(self) -> Record:
        """The readings at time zero, before the first step."""
        return self._record()


def simulate(
    configs: Sequence[BatchConfig],
    policy: FeedPolicy | None = None,
    *,
    seed: int = 0,
    days: float = 14.0,
    sample_minutes: float | None = None,
    samples: int | None = None,
    progress: bool = False,
    plant: Plant | None = None,
) -> pd.DataFrame:
    """Simulate ``configs`` for ``days`` and return one row per reading (see ``frame.CSV_COLUMNS``).

    ``samples`` (readings per batch, the one at time zero included) overrides ``days``.
    ``policy`` decides the feed of all batches each sample (default: the expert operator).
    ``plant`` (default: the bench vessel) also sets the default ``sample_minutes``.
    """
    sim = Simulation(configs, policy, seed=seed, sample_minutes=sample_minutes, plant=plant)
    steps = samples - 1 if samples is not None else round(days * 24 * 60 / sim.sample_minutes)
    return records_to_frame(sim, _records(sim, steps, progress))


def _records(sim: Simulation, steps: int, progress: bool) -> Iterator[Record]:
    yield sim.initial_record()
    for _ in tqdm(range(steps), desc="simulating", unit="sample", leave=False, disable=None if progress else True):
        yield sim.advance()
