"""The fermenter's own control loops, acting on the probe signals as a DCS would.

Each loop is a PI controller whose integral is held within the output's range
(anti-windup), so a loop saturated by a fault recovers as soon as the fault ends.

>>> import numpy as np
>>> from simulator.fungal.parameters import Recipe, Vessel
>>> loop = DoCascade.idle(1)
>>> for _ in range(60):  # an hour with DO stuck 10 % below the floor
...     rpm, air = loop.update(np.array([30.0]), Recipe(), Vessel(), 1 / 60)
>>> float(rpm[0]), float(air[0])
(130.0, 4500.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.fungal.parameters import Recipe, Vessel

FloatArray = NDArray[np.float64]


@dataclass
class PiController:
    """Proportional-integral control of many columns, output clamped to ``[0, most]``.

    >>> import numpy as np
    >>> pi = PiController.idle(1, gain=2.0, reset_h=1.0, most=10.0)
    >>> [round(float(pi.output(np.array([1.0]), 0.5)[0]), 1) for _ in range(3)]
    [3.0, 4.0, 5.0]
    """

    integral: FloatArray
    gain: float
    reset_h: float
    most: float

    @classmethod
    def idle(cls, columns: int, *, gain: float, reset_h: float, most: float) -> PiController:
        return cls(np.zeros(columns), gain, reset_h, most)

    def output(self, error: FloatArray, dt: float) -> FloatArray:
        """One control step.

        Parameters
        ----------
        error
            Set point minus measurement per column, in the direction that raises the output.
        dt
            Step length (h): the integral advances by ``gain * error * dt / reset_h``.

        Returns
        -------
        numpy.ndarray
            The output per column, in ``[0, most]``.
        """
        self.integral = np.clip(self.integral + self.gain * error * dt / self.reset_h, 0.0, self.most)
        return np.clip(self.gain * error + self.integral, 0.0, self.most)


@dataclass
class DoCascade:
    """Keeps DO above the recipe's floor: first more agitation, then more air.

    The controller output runs 0-2: 0-1 moves the agitator from its minimum to its
    maximum speed at minimum air, 1-2 moves the air from minimum to maximum at full
    speed. Above the floor the output falls back to 0 (both at minimum), which is
    how a DO-floor cascade saves power early in the batch.
    """

    pi: PiController

    @classmethod
    def idle(cls, columns: int) -> DoCascade:
        """Loop at rest: minimum agitation and air. Gain 0.01 per % air saturation;
        integral time 3 minutes, several probe time constants."""
        return cls(PiController.idle(columns, gain=0.01, reset_h=0.05, most=2.0))

    def update(self, do_signal: FloatArray, recipe: Recipe, vessel: Vessel, dt: float) -> tuple[FloatArray, FloatArray]:
        """One controller step; returns the agitator speed (rpm) and air (normal m³/h) to deliver."""
        output = self.pi.output(recipe.do_floor - do_signal, dt)
        speed_share = np.clip(output, 0.0, 1.0)
        air_share = np.clip(output - 1.0, 0.0, 1.0)
        rpm = vessel.agitation_min_rpm + (vessel.agitation_max_rpm - vessel.agitation_min_rpm) * speed_share
        air = vessel.air_min_nm3_h + (vessel.air_max_nm3_h - vessel.air_min_nm3_h) * air_share
        return rpm, air


@dataclass
class PhLoop:
    """pH control with a deadband: a base loop holds the band's lower edge, an acid loop its upper edge.

    Both outputs are mol/h and cannot go below zero, so inside the band both
    loops wind down and neither pump runs: pH sits at whichever edge the culture
    pushes it to, and acid is used only when the broth turns alkaline.

    >>> import numpy as np
    >>> from simulator.fungal.parameters import Recipe, Vessel
    >>> loop = PhLoop.idle(3, Vessel())
    >>> base, acid = loop.update(np.array([6.44, 6.50, 6.56]), Recipe(), Vessel(), 1 / 60)
    >>> [round(float(v), 1) for v in base], [round(float(v), 1) for v in acid]
    ([10.1, 0.0, 0.0], [0.0, 0.0, 10.1])
    """

    base: PiController
    acid: PiController

    @classmethod
    def idle(cls, columns: int, vessel: Vessel) -> PhLoop:
        """Pumps off. Gain 2000 mol/h per pH unit: the broth integrates alkali (1 mol/h
        moves 60 m³ at 0.03 mol/(L pH) by 5.6e-4 pH/h), so the loop closes in about an
        hour; integral time 2 h."""
        most_base = vessel.base_pump_max_l_h * vessel.base_mol_per_l
        most_acid = vessel.acid_pump_max_l_h * vessel.acid_mol_per_l
        return cls(
            PiController.idle(columns, gain=2000.0, reset_h=2.0, most=most_base),
            PiController.idle(columns, gain=2000.0, reset_h=2.0, most=most_acid),
        )

    def update(self, ph_signal: FloatArray, recipe: Recipe, vessel: Vessel, dt: float) -> tuple[FloatArray, FloatArray]:
        """One controller step; returns the base and acid flows to pump (L/h)."""
        base = self.base.output(recipe.ph - recipe.ph_deadband - ph_signal, dt)
        acid = self.acid.output(ph_signal - recipe.ph - recipe.ph_deadband, dt)
        return base / vessel.base_mol_per_l, acid / vessel.acid_mol_per_l


@dataclass
class CoolingLoop:
    """Jacket temperature control: opens the cooling-water valve (0 shut, 1 open) as the broth warms.

    Heat comes from metabolism and the agitator, so at 25 °C the plant only ever
    needs cooling.

    >>> import numpy as np
    >>> from simulator.fungal.parameters import Recipe
    >>> loop = CoolingLoop.idle(1)
    >>> round(float(loop.update(np.array([298.5]), Recipe(), 1 / 60)[0]), 3)
    0.207
    """

    pi: PiController

    @classmethod
    def idle(cls, columns: int) -> CoolingLoop:
        """Valve shut. Gain 0.4 per K, integral time 0.5 h: a fully open valve cools
        ~70 m³ by ~10 K/h, so the loop settles in well under an hour."""
        return cls(PiController.idle(columns, gain=0.4, reset_h=0.5, most=1.0))

    def update(self, temperature_signal: FloatArray, recipe: Recipe, dt: float) -> FloatArray:
        """One controller step; returns the valve opening (0-1)."""
        return self.pi.output(temperature_signal - recipe.temperature_k, dt)
