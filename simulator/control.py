"""The bioreactor's own control loops: DO cascade and pH with deadband.

Both act on the probe signals, so a drifting or stuck probe misleads them as it
would a real DCS (domain notes, fault table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from simulator.parameters import Control, Vessel

FloatArray = NDArray[np.float64]


@dataclass
class DoCascade:
    """PI controller whose output first raises agitation, then airflow (domain notes: cascade).

    Output ``u`` in [0, 2]: 0-1 spans agitation min..max at minimum airflow,
    1-2 spans airflow min..max at maximum agitation.

    >>> import numpy as np
    >>> loop = DoCascade(np.zeros(1))
    >>> for _ in range(120):
    ...     agitation, airflow = loop.update(np.array([20.0]), 40.0, 1 / 60, Vessel(), np.array([2.0]))
    >>> float(agitation[0]), round(float(airflow[0]), 3)
    (250.0, 0.2)
    """

    u: FloatArray
    kp: float = 0.01  # per % air saturation
    ki: float = 0.5  # per (% x h)
    _error: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self._error = np.zeros_like(self.u)

    def update(
        self, do_probe: FloatArray, setpoint: float, dt: float, vessel: Vessel, volume: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Velocity-form PI step (no wind-up at the limits); returns agitation (rpm), airflow (L/min)."""
        error = setpoint - do_probe
        self.u = np.clip(self.u + self.kp * (error - self._error) + self.ki * error * dt, 0.0, 2.0)
        self._error = error
        agitation = vessel.agitation_min + (vessel.agitation_max - vessel.agitation_min) * np.clip(self.u, 0, 1)
        vvm = vessel.airflow_min_vvm + (vessel.airflow_max_vvm - vessel.airflow_min_vvm) * np.clip(self.u - 1, 0, 1)
        return agitation, vvm * vessel.initial_volume


@dataclass
class PhControl:
    """Deadband control: base below ``setpoint - deadband``, CO2 sparge above ``setpoint + deadband``.

    >>> loop = PhControl.for_vessel(1, Vessel())
    >>> loop.base_gain, float(loop.update(np.array([6.90]), Control(), 1 / 60)[0])
    (80.0, 4.0)
    """

    co2_fraction: FloatArray
    base_gain: float  # mL/h per pH unit below the band
    co2_gain: float = 0.5  # fraction per (pH unit x h) above the band
    co2_decay: float = 0.02  # fraction per h when back in the band
    #: Base gain per litre of broth: the base that moves the pH by a given step grows with the
    #: volume it buffers (the bench's 80 mL/h per pH unit for 2 L).
    BASE_GAIN_PER_LITRE: ClassVar[float] = 40.0

    @classmethod
    def for_vessel(cls, batches: int, vessel: Vessel) -> PhControl:
        """A loop per batch, no CO2 sparged yet, its base gain scaled to the vessel's initial volume."""
        return cls(np.zeros(batches), base_gain=cls.BASE_GAIN_PER_LITRE * vessel.initial_volume)

    def update(self, ph_probe: FloatArray, control: Control, dt: float) -> FloatArray:
        """Advance the CO2 fraction; return the base pump demand (mL/h)."""
        high = ph_probe - (control.ph_setpoint + control.ph_deadband)
        low = (control.ph_setpoint - control.ph_deadband) - ph_probe
        self.co2_fraction = np.clip(
            self.co2_fraction + np.where(high > 0, self.co2_gain * high, -self.co2_decay) * dt,
            0.0,
            control.max_co2_fraction,
        )
        return np.clip(self.base_gain * low, 0.0, control.base_max_rate)
