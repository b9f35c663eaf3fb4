"""The oxygen balance of a stirred, sparged vessel: the statistic of the oxygen-balance check.

At quasi-steady state the oxygen the vessel transfers equals what the culture
takes up: kLa (C* - C) = qO2 X. kLa follows from agitation, airflow and volume
by the van 't Riet correlation (domain notes), kLa ∝ (P/V)^b v_s^c with P ∝ N³
for a given impeller, so up to constants of the vessel

    log r = 3b log N - b log V + c log Q + log(C*(T) (1 - DO/100)) - log X

stays nearly constant for a healthy batch whatever the cascade does (the
vessel's geometry cancels: a batch is compared with itself). The statistic is
the gap between a fast average of log r and a slow reference.

The check computes it online, one reading per reactor at a time
(:func:`smooth`); the process profile computes it over whole reference batches
(:func:`balance_gaps`) to learn how far it wanders in good batches of that
plant. Both go through :func:`smooth`, so they compute the same number.

>>> import numpy as np
>>> times = np.arange(0.0, 72 * 3600.0, 300.0)
>>> steady = np.full(times.size, -1.0)
>>> float(np.nanmax(np.abs(balance_gaps(times, steady, reference_h=REFERENCE_H))))
0.0
>>> stepped = np.where(times < 48 * 3600.0, -1.0, -0.5)  # the cascade works harder
>>> round(float(np.nanmax(balance_gaps(times, stepped, reference_h=REFERENCE_H))), 2)
0.47
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: van 't Riet exponents of kLa on power per volume and superficial gas velocity (domain notes).
POWER_EXPONENT = 0.4
GAS_EXPONENT = 0.5
#: The reference weighs about this many hours (the check's packaged ``oxygen_reference_h``).
REFERENCE_H = 48.0
#: Time constant of the fast average of log r (about the last quarter hour).
FAST_S = 900.0
#: The reference is trusted once it has averaged this long.
READY_S = 2 * 3600.0
#: A longer gap between readings counts as this long: after an outage the averages restart
#: from the new readings instead of weighting one reading by a day.
MAX_STEP_S = 6 * 3600.0


def culture_amount(vcd: FloatArray, biomass: FloatArray) -> FloatArray:
    """X per reading: the viable cell density where measured, else the dry-weight biomass."""
    return np.where(np.isnan(vcd), biomass, vcd)


def log_transfer_ratio(
    *,
    do: FloatArray,
    agitation: FloatArray,
    airflow: FloatArray,
    volume: FloatArray,
    temperature: FloatArray,
    cells: FloatArray,
    power_exponent: float = POWER_EXPONENT,
    gas_exponent: float = GAS_EXPONENT,
) -> FloatArray:
    """log r per reading; NaN where it is not informative (DO near saturation, too few cells).

    ``temperature`` may be NaN (taken as 37 °C); ``cells`` is VCD or biomass.
    """
    temperature = np.nan_to_num(temperature, nan=37.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # O2 solubility rises ~1.3 % per °C below 37 °C (domain notes: at 37 °C ≈ 0.2 mM).
        c_star = 1.0 + 0.013 * (37.0 - temperature)
        value = (
            3 * power_exponent * np.log(agitation) - power_exponent * np.log(volume)
            + gas_exponent * np.log(airflow) + np.log(c_star * (1.0 - do / 100.0)) - np.log(cells)
        )
        informative = (cells > 0.3) & (do > 0.5) & (do < 85.0) & (airflow > 0) & (agitation > 0)
    return np.where(informative & np.isfinite(value), value, np.nan)


def smooth(
    fast: FloatArray, reference: FloatArray, dt: FloatArray, value: FloatArray, reference_h: float
) -> tuple[FloatArray, FloatArray]:
    """One step of the fast average and the slow reference of log r, ``dt`` seconds after the last.

    A NaN average (none yet) starts at ``value``; the reference's time constant is half
    of ``reference_h``, so it weighs about the last ``reference_h`` hours.
    """
    fast_weight = 1.0 - np.exp(-dt / FAST_S)
    slow_weight = 1.0 - np.exp(-dt / (reference_h * 3600.0 / 2))
    fast = np.where(np.isnan(fast), value, fast + fast_weight * (value - fast))
    reference = np.where(np.isnan(reference), value, reference + slow_weight * (value - reference))
    return fast, reference


def balance_gaps(times_s: FloatArray, log_r: FloatArray, *, reference_h: float) -> FloatArray:
    """Fast average minus reference at each reading of one batch, as the check sees it without alarms.

    NaN where log r is not informative or the reference has averaged less than
    :data:`READY_S`.
    """
    gaps = np.full(log_r.shape, np.nan)
    fast = reference = np.array(np.nan)
    last, averaged = np.nan, 0.0
    for i in np.flatnonzero(~np.isnan(log_r)):
        dt = 0.0 if np.isnan(last) else float(np.clip(times_s[i] - last, 0.0, MAX_STEP_S))
        fast, reference = smooth(fast, reference, np.array(dt), log_r[i : i + 1], reference_h)
        if averaged >= READY_S:
            gaps[i] = float(fast[0] - reference[0])
        last, averaged = float(times_s[i]), averaged + dt
    return gaps
