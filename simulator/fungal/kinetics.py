"""Specific rates of the mycelium and of a contaminant, and the factors that modify them.

Saturation terms are written as *affinities*, the rate per unit of sugar
concentration (``rate = maximum * affinity * sugar``), because the broth's
sugar balance is integrated linearly implicitly: uptake is taken proportional
to the new sugar concentration with the affinity of the old one, which keeps
sugar non-negative however fast it is consumed (see :mod:`simulator.fungal.broth`).

>>> import numpy as np
>>> org = Organism()
>>> float(temperature_factor(np.array([298.0]), org)[0])
1.002...
>>> float(ph_factor(np.array([6.5]), org)[0])
0.900...
>>> round(float(hydrolysis_rate(np.array([6.5]), np.array([298.0]), org)[0]), 4)
0.0026
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.fungal.parameters import Organism

FloatArray = NDArray[np.float64]

#: Gas constant, J/(mol K).
GAS_CONSTANT = 8.314


def contois_affinity(sugar: FloatArray, biomass: FloatArray, org: Organism) -> FloatArray:
    """Contois saturation per unit sugar, ``1 / (K_x X + S)`` (L/g): dense mycelium grows slower."""
    return 1.0 / (org.contois * biomass + sugar)


def product_affinity(sugar: FloatArray, org: Organism) -> FloatArray:
    """Haldane term per unit sugar, ``1 / (K_p + S + S²/K_I)`` (L/g): excess sugar represses production.

    >>> import numpy as np
    >>> org = Organism()
    >>> low, high = np.array([0.01]), np.array([2.0])
    >>> bool(product_affinity(low, org)[0] * low[0] > 5 * product_affinity(high, org)[0] * high[0])
    True
    """
    return 1.0 / (org.product_saturation + sugar + sugar * sugar / org.product_inhibition)


def maintenance_affinity(sugar: FloatArray, org: Organism) -> FloatArray:
    """Maintenance uptake per unit sugar, ``1 / (K_m + S)`` (L/g)."""
    return 1.0 / (org.maintenance_saturation + sugar)


def contaminant_affinity(sugar: FloatArray, org: Organism) -> FloatArray:
    """Monod saturation of the bacterial contaminant per unit sugar (L/g)."""
    return 1.0 / (org.contaminant_saturation + sugar)


def oxygen_limitation(oxygen_mg_l: FloatArray, org: Organism) -> FloatArray:
    """Fraction of the oxygen demand the cells can take up at this dissolved oxygen (0-1)."""
    return oxygen_mg_l / (org.oxygen_half_saturation + oxygen_mg_l)


def product_oxygen_switch(do_percent: FloatArray, org: Organism) -> FloatArray:
    """Penicillin synthesis switches off below ~30 % air saturation (IndPenSim's tanh form).

    >>> import numpy as np
    >>> [round(float(v), 2) for v in product_oxygen_switch(np.array([15.0, 30.0, 45.0]), Organism())]
    [0.01, 0.5, 0.99]
    """
    return 0.5 * (1.0 + np.tanh((do_percent - org.product_critical_do) / org.product_do_width))


def ph_factor(ph: FloatArray, org: Organism) -> FloatArray:
    """Growth modifier ``1 / (1 + [H+]/K1 + K2/[H+])``: flat near pH 6.3, falling on both sides."""
    hydrogen = 10.0**-ph
    return 1.0 / (1.0 + hydrogen / org.ph_k1 + org.ph_k2 / hydrogen)


def temperature_factor(temperature_k: FloatArray, org: Organism) -> FloatArray:
    """Arrhenius growth minus thermal denaturation, never below zero (1.0 at 298 K).

    >>> import numpy as np
    >>> [round(float(v), 2) for v in temperature_factor(np.array([293.0, 303.0, 310.0]), Organism())]
    [0.97, 0.89, 0.0]
    """
    rt = GAS_CONSTANT * temperature_k
    growth = org.growth_prefactor * np.exp(-org.growth_activation / rt)
    death = org.death_prefactor * np.exp(-org.death_activation / rt)
    return np.maximum(growth - death, 0.0)


def hydrolysis_rate(ph: FloatArray, temperature_k: FloatArray, org: Organism) -> FloatArray:
    """First-order hydrolysis of penicillin (1/h), IndPenSim's quadratic in pH and temperature."""
    b1, b2, b3, b4, b5 = org.hydrolysis
    return np.exp(b1 + b2 * ph + b3 * temperature_k + b4 * ph * ph + b5 * temperature_k * temperature_k)


def broth_viscosity(biomass: FloatArray, org: Organism) -> FloatArray:
    """Apparent viscosity of the mycelial broth (cP), from water's 1 cP upward with biomass squared."""
    return 1.0 + org.viscosity_per_biomass2 * biomass * biomass
