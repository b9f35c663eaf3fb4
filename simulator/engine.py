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

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from tqdm import tqdm

from simulator.control import DoCascade, PhControl
from simulator.faults import Fault, FaultType
from simulator.feeding import ExpertPolicy, FeedPolicy, Observation
from simulator.frame import records_to_frame
from simulator.parameters import (
    GLUCOSE_G_PER_MMOL,
    LACTATE_G_PER_MMOL,
    Control,
    InitialCulture,
    Kinetics,
    Vessel,
)
from simulator.process import Actuation, CultureState
from simulator.schedule import FaultSchedule
from simulator.sensors import Probes, SensorNoise

FloatArray = NDArray[np.float64]
Record = dict[str, object]

#: Decimals kept per reading field: below sensor resolution, and stable across platforms.
DECIMALS = {
    "culture_h": 4,
    "vcd": 3,
    "viability": 2,
    "glucose": 3,
    "lactate": 3,
    "do": 2,
    "ph": 3,
    "temperature": 2,
    "agitation": 1,
    "airflow": 4,
    "feed_rate": 3,
    "volume": 4,
    "titer": 4,
    "base_rate": 3,
    "co2_flow": 3,
}

#: When a faulty batch counts as deviating from its twin: per fault, the signal and the gap.
EFFECT_THRESHOLDS: dict[FaultType, dict[str, float]] = {
    FaultType.DO_DRIFT: {"do_error": 3.0},
    FaultType.DO_STUCK: {},  # the frozen signal is abnormal from the first sample
    FaultType.AERATION_LOSS: {"do_true": 3.0, "agitation": 5.0, "airflow": 0.01},
    FaultType.AGITATOR_FAILURE: {"agitation": 5.0},
    FaultType.PH_DRIFT: {"ph_error": 0.05},
    FaultType.BASE_PUMP_FAILURE: {"ph_true": 0.05},
    FaultType.TEMPERATURE_CONTROL_FAILURE: {"temperature": 0.3},
    FaultType.MISSED_FEED: {"feed_rate": 0.1},
    FaultType.OVERFEEDING: {"glucose": 1.0},
    FaultType.CONTAMINATION: {"do_true": 3.0, "agitation": 5.0, "ph_true": 0.05, "glucose": 0.5},
}


@dataclass(frozen=True)
class BatchConfig:
    """One batch to simulate: identity, start time, optional fault and biological variability."""

    batch_id: str
    reactor_id: str
    start: datetime
    fault: Fault | None = None
    shift_h: float | None = 120.0  # temperature shift to Control.shift_temperature; None: none
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
        sample_minutes: float = 5.0,
        step_minutes: float = 1.0,
        kinetics: Kinetics | None = None,
        vessel: Vessel | None = None,
        control: Control | None = None,
        noise: SensorNoise | None = None,
    ) -> None:
        if not configs:
            raise ValueError("nothing to simulate: no batch configured")
        if sample_minutes <= 0 or step_minutes <= 0:
            raise ValueError("sample and step periods must be positive")
        self.configs = list(configs)
        self.kinetics = kinetics or Kinetics()
        self.vessel = vessel or Vessel()
        self.control = control or Control()
        self.noise = noise or SensorNoise()
        self.policy: FeedPolicy = policy or ExpertPolicy(seed=seed)
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
        self._shift_h = np.array([np.inf if c.shift_h is None else c.shift_h for c in column_configs])
        self.state = CultureState.initial(
            [c.initial for c in column_configs],
            self.vessel,
            mu_factor=np.array([c.mu_factor for c in column_configs]),
            q_o2_factor=np.array([c.q_o2_factor for c in column_configs]),
            q_product_factor=np.array([c.q_product_factor for c in column_configs]),
        )
        self._do_loop = DoCascade(np.zeros(len(self._source)))
        self._ph_loop = PhControl(np.zeros(len(self._source)))
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
        feed = np.clip(feed, 0.0, self.control.max_feed_rate)
        return np.where(self.state.volume >= self.vessel.max_volume, 0.0, feed)

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
        base = np.where(
            now.of(FaultType.BASE_PUMP_FAILURE), 0.0, self._ph_loop.update(ph_probe, self.control, self._dt)
        )
        feed = np.where(now.of(FaultType.MISSED_FEED), 0.0, self._feed)
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
            "airflow": np.maximum(self._airflow + noise.airflow * z[8], 0.0),
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
            thresholds = EFFECT_THRESHOLDS[kind]
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
    sample_minutes: float = 5.0,
    samples: int | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Simulate ``configs`` for ``days`` and return one row per reading (see ``frame.CSV_COLUMNS``).

    ``samples`` (readings per batch, the one at time zero included) overrides ``days``.
    ``policy`` decides the feed of all batches each sample (default: the expert operator).
    """
    sim = Simulation(configs, policy, seed=seed, sample_minutes=sample_minutes)
    steps = samples - 1 if samples is not None else round(days * 24 * 60 / sample_minutes)
    return records_to_frame(sim, _records(sim, steps, progress))


def _records(sim: Simulation, steps: int, progress: bool) -> Iterator[Record]:
    yield sim.initial_record()
    for _ in tqdm(range(steps), desc="simulating", unit="sample", leave=False, disable=None if progress else True):
        yield sim.advance()
