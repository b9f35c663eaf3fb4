"""The sensor layer: probe lag, drift and sticking, and measurement noise.

Noise levels are one standard deviation, from the domain notes' sensor table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.faults import FaultType
from simulator.schedule import ActiveFaults, FaultSchedule

FloatArray = NDArray[np.float64]


#: Largest offset a drifting probe reaches (DO % air sat., pH units).
MAX_DRIFT = {FaultType.DO_DRIFT: 30.0, FaultType.PH_DRIFT: 0.4}


@dataclass(frozen=True, slots=True)
class SensorNoise:
    """Measurement noise, one sigma, in reading units."""

    vcd_relative: float = 0.05  # capacitance probe, 5-10 %
    viability: float = 0.5  # %
    glucose: float = 0.12  # g/L, Raman +/-0.2-0.3 (2 sigma)
    lactate: float = 0.1  # g/L
    do: float = 0.7  # % air sat., optical +/-1-2 % (2 sigma)
    ph: float = 0.01  # glass electrode +/-0.02
    temperature: float = 0.05  # °C, RTD +/-0.1
    agitation: float = 0.5  # rpm
    # Mass-flow controller: +/-1 % of its full scale (domain notes), which grows with the vessel.
    airflow_full_scale: float = 0.01  # fraction of Vessel.airflow_max


@dataclass
class Probes:
    """DO and pH probe signals as the controllers see them (lagged, possibly faulty, noise-free)."""

    do: FloatArray
    ph: FloatArray
    do_frozen: FloatArray
    do_tau_h: float = 30.0 / 3600.0  # optical DO t90 ~70 s (domain notes: 30-90 s)
    ph_tau_h: float = 45.0 / 3600.0

    @classmethod
    def start(cls, do: FloatArray, ph: FloatArray) -> Probes:
        return cls(do=do.copy(), ph=ph.copy(), do_frozen=np.full_like(do, np.nan))

    def update(
        self,
        true_do: FloatArray,
        true_ph: FloatArray,
        dt: float,
        t: float,
        *,
        faults: FaultSchedule,
        active: ActiveFaults,
    ) -> tuple[FloatArray, FloatArray]:
        """Advance the lags (exact first-order discretisation); return the faulty signals (DO %, pH)."""
        self.do += (true_do - self.do) * (1.0 - np.exp(-dt / self.do_tau_h))
        self.ph += (true_ph - self.ph) * (1.0 - np.exp(-dt / self.ph_tau_h))
        do_signal = self.do + self.drift(FaultType.DO_DRIFT, t, faults, active)
        stuck = active.of(FaultType.DO_STUCK)
        self.do_frozen = np.where(stuck & np.isnan(self.do_frozen), do_signal, self.do_frozen)
        do_signal = np.where(stuck, self.do_frozen, do_signal)
        return np.maximum(do_signal, 0.0), self.ph + self.drift(FaultType.PH_DRIFT, t, faults, active)

    @staticmethod
    def drift(kind: FaultType, t: float, faults: FaultSchedule, active: ActiveFaults) -> FloatArray:
        """Offset of a drifting probe: magnitude per day since onset, while the fault is in force.

        Bounded by :data:`MAX_DRIFT`: a fouled probe saturates, it does not drift forever.
        """
        drifting = active.of(kind)
        elapsed = t - np.where(drifting, faults.onset, t)
        limit = MAX_DRIFT[kind]
        return np.clip(np.where(drifting, faults.magnitude, 0.0) * elapsed / 24.0, -limit, limit)
