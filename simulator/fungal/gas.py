"""Gas-liquid side of the fermenter: pressure, oxygen solubility, power input, kLa, off-gas, evaporation.

>>> import numpy as np
>>> vessel = Vessel()
>>> volume = np.array([75_000.0])
>>> pressure = log_mean_pressure(volume, vessel)
>>> round(float(pressure[0]), 2), round(float(oxygen_saturation(pressure)[0]), 1)
(1.97, 16.4)
>>> power = gassed_power(np.array([100.0]), np.array([3000.0]), pressure, np.array([298.0]), vessel)
>>> round(float(power[0]) / 75.0 / 1000.0, 2)  # kW/m³
2.25
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.fungal.parameters import AIR_CO2_FRACTION, AIR_O2_FRACTION, NORMAL_M3_PER_MOL, Vessel

FloatArray = NDArray[np.float64]

#: Henry's constant of oxygen in broth, bar L/mg (IndPenSim Henrys_c): 8.4 mg/L under 1 bar of air.
HENRY_O2_BAR_L_PER_MG = 0.0251
_ATMOSPHERE_BAR = 1.01325
_GRAVITY = 9.81
_NORMAL_TEMPERATURE_K = 273.15


def log_mean_pressure(volume_l: FloatArray, vessel: Vessel) -> FloatArray:
    """Absolute pressure (bar) averaged over the liquid height, as IndPenSim: log mean of top and bottom."""
    height_m = volume_l / 1000.0 / vessel.cross_section_m2
    top = 1.0 + vessel.head_pressure_bar
    bottom = top + vessel.broth_density * 1000.0 * _GRAVITY * height_m * 1e-5
    return np.asarray((bottom - top) / np.log(bottom / top))


def oxygen_saturation(pressure_bar: FloatArray) -> FloatArray:
    """Dissolved oxygen in equilibrium with air at this pressure (mg/L), Henry's law.

    Temperature dependence is left out, as in IndPenSim: the broth is held at 25 °C.
    """
    return pressure_bar * AIR_O2_FRACTION / HENRY_O2_BAR_L_PER_MG


def actual_gas_flow(air_nm3_h: FloatArray, pressure_bar: FloatArray, temperature_k: FloatArray) -> FloatArray:
    """Volumetric gas flow in the broth (m³/s) from normal m³/h, at the broth's pressure and temperature."""
    return air_nm3_h / 3600.0 * (_ATMOSPHERE_BAR / pressure_bar) * (temperature_k / _NORMAL_TEMPERATURE_K)


def gassed_power(
    rpm: FloatArray,
    air_nm3_h: FloatArray,
    pressure_bar: FloatArray,
    temperature_k: FloatArray,
    vessel: Vessel,
) -> FloatArray:
    """Shaft power of the agitator with gas dispersed (W).

    Ungassed power ``n Np rho N^3 D^5``; gas lowers it according to the flow number
    ``Fl = Q/(N D^3)``, after Cui, van der Lans & Luyben 1996 (*Chem. Eng. Sci.*
    51:2631) for Rushton turbines: ``Pg/P = 1 - 12.6 Fl`` below Fl = 0.035, else
    ``0.62 - 1.85 Fl`` (never below 0.1 here).

    Parameters
    ----------
    rpm
        Impeller speed.
    air_nm3_h
        Air sparged (normal m³/h).
    pressure_bar, temperature_k
        Where the gas is dispersed: they set its actual volume.
    vessel
        Impeller count, diameter and power number; broth density.
    """
    speed = rpm / 60.0
    diameter = vessel.impeller_diameter_m
    ungassed = vessel.impellers * vessel.power_number * vessel.broth_density * 1000.0 * speed**3 * diameter**5
    flow_number = actual_gas_flow(air_nm3_h, pressure_bar, temperature_k) / np.maximum(speed * diameter**3, 1e-9)
    ratio = np.where(flow_number < 0.035, 1.0 - 12.6 * flow_number, 0.62 - 1.85 * flow_number)
    return np.asarray(ungassed * np.clip(ratio, 0.1, 1.0))


def kla(
    power_w: FloatArray,
    volume_l: FloatArray,
    superficial_velocity_m_s: FloatArray,
    viscosity_cp: FloatArray,
) -> FloatArray:
    """Volumetric oxygen transfer coefficient (1/h).

    van 't Riet 1979 (*Ind. Eng. Chem. Process Des. Dev.* 18:357) for coalescing
    broth, ``kLa = 0.026 (P/V)^0.4 vs^0.5`` (SI, 1/s), times IndPenSim's viscosity
    correction ``mu^-0.38`` (here relative to water), which is what makes a
    dense mycelial broth hard to aerate.

    Parameters
    ----------
    power_w
        Gassed agitator power (W).
    volume_l
        Broth volume (L).
    superficial_velocity_m_s
        Gas flow over the vessel's cross-section (m/s).
    viscosity_cp
        Apparent viscosity of the broth (cP).

    >>> import numpy as np
    >>> thin, thick = kla(np.array([2e5, 2e5]), np.array([75e3, 75e3]), np.array([0.04, 0.04]), np.array([1.0, 45.0]))
    >>> round(float(thin)), round(float(thick))
    (439, 103)
    """
    per_second = 0.026 * (power_w / (volume_l / 1000.0)) ** 0.4 * superficial_velocity_m_s**0.5
    return np.asarray(per_second * 3600.0 * viscosity_cp**-0.38)


def offgas_co2_percent(co2_mol_h: FloatArray, o2_mol_h: FloatArray, air_nm3_h: FloatArray) -> FloatArray:
    """CO2 in the dry exhaust gas (%), from the gas balance at steady state.

    Parameters
    ----------
    co2_mol_h, o2_mol_h
        CO2 evolved and O2 taken up by the broth (mol/h).
    air_nm3_h
        Air sparged (normal m³/h), 0.042 % CO2.

    The headspace turns over in about a minute at these flows, far faster than the
    12-minute sampling, so no gas-phase lag is modelled.

    >>> import numpy as np
    >>> round(float(offgas_co2_percent(np.array([1500.0]), np.array([1500.0]), np.array([3000.0]))[0]), 2)
    1.16
    """
    inlet_mol_h = air_nm3_h / NORMAL_M3_PER_MOL
    outlet_mol_h = inlet_mol_h + co2_mol_h - o2_mol_h
    return np.asarray(100.0 * (inlet_mol_h * AIR_CO2_FRACTION + co2_mol_h) / np.maximum(outlet_mol_h, 1e-9))


def evaporation_l_h(volume_l: FloatArray, temperature_k: FloatArray, vessel: Vessel) -> FloatArray:
    """Water carried off by the exhaust gas (L/h), IndPenSim's expression: grows with volume and temperature."""
    return np.asarray(volume_l * vessel.evaporation_alpha * (np.exp(2.5 * (temperature_k - 273.0) / 100.0) - 1.0))
