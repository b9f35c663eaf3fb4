"""Instrument ranges: what each instrument can report, so that a reading outside is a bad value.

An instrument range is not the normal range. A glucose overdose, a DO of 0 % or
a volume at the vessel's brim are process states the monitor must alarm on,
so they must lie inside; only what no instrument of that kind on that plant can
report (a negative volume, a pH of 20, a feed of 10^12 mL/h) is a bad value. The rules:

- bounded by physics or definition: pH 0-14, temperature -20 to 150 °C
  (below freezing to above sterilisation), viability 0-100 %;
- any other quantity is non-negative and, as learnt from the reference,
  reaches at most one decade above the decade of the largest reading:
  ``[0, 10 ** (ceil(log10(max seen)) + 1)]``, i.e. 10 to 100 times the largest
  reading (a 5 L bench vessel's volume: 0-100 L; a 90 m³ fermenter's: 0-1,000 m³);
  an instrument whose good readings dip below zero (an offset near 0) gets the
  same rule downwards;
- a variable the reference does not measure gets :data:`DEFAULT_RANGES`, wide enough
  for vessels from 10 mL to 200 m³.

Every bound stays within the contract's largest magnitude (``MAGNITUDE``).

>>> import numpy as np
>>> instrument_range("volume", np.array([2.0, 3.46]))
(0.0, 100.0)
>>> instrument_range("volume", np.array([-0.3, 55_000.0, 82_943.0]))
(-10.0, 1000000.0)
>>> instrument_range("ph", np.array([6.9, 7.1])), instrument_range("base_rate", np.zeros(3))
((0.0, 14.0), (0.0, 100000000.0))
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from bioreactor.contract.codec import MAGNITUDE

#: Ranges fixed by physics or definition, whatever the plant.
BOUNDED: dict[str, tuple[float, float]] = {
    "ph": (0.0, 14.0),
    "temperature": (-20.0, 150.0),  # °C: from below freezing to above sterilisation (121 °C)
    "viability": (0.0, 100.0),
}

#: Ranges of variables the reference does not measure: wide enough for 10 mL to 200 m³ vessels.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "vcd": (0.0, 1e3),  # 1e6 cells/mL: the densest perfusion cultures reach ~200
    "glucose": (0.0, 1e3),  # g/L: a feed concentrate holds up to ~800
    "lactate": (0.0, 1e3),  # g/L
    "do": (0.0, 1e3),  # % air saturation: pure oxygen gives ~480 %
    "ph": BOUNDED["ph"],
    "temperature": BOUNDED["temperature"],
    "agitation": (0.0, 1e4),  # rpm: small stirred vessels run up to a few thousand
    "airflow": (0.0, 1e6),  # L/min: 200 m³ at 2 vvm is 4e5
    "feed_rate": (0.0, 1e8),  # mL/h: 100 m³/h
    "viability": BOUNDED["viability"],
    "volume": (0.0, 1e6),  # L: 200 m³ is 2e5
    "titer": (0.0, 1e3),  # g/L
    "base_rate": (0.0, 1e8),  # mL/h
    "co2_flow": (0.0, 1e8),  # mL/min: 1e5 L/min
    "biomass": (0.0, 1e3),  # g/L dry weight: the densest microbial cultures reach ~200
}


def _decade_above(value: float) -> float:
    """``10 ** (ceil(log10(value)) + 1)``, capped at the contract's largest magnitude."""
    return min(10.0 ** (math.ceil(math.log10(value)) + 1), MAGNITUDE)


def instrument_range(variable: str, values: NDArray[np.float64]) -> tuple[float, float]:
    """The range of ``variable``'s instrument from its reference readings (NaN ignored).

    A variable never above zero in the reference (a base pump never used) keeps its default top.
    """
    if variable in BOUNDED:
        return BOUNDED[variable]
    finite = values[np.isfinite(values)]
    largest = float(finite.max()) if finite.size else 0.0
    smallest = float(finite.min()) if finite.size else 0.0
    high = _decade_above(largest) if largest > 0 else DEFAULT_RANGES[variable][1]
    low = -_decade_above(-smallest) if smallest < 0 else 0.0
    return (low, high)


def instrument_ranges(measured: dict[str, NDArray[np.float64]]) -> dict[str, tuple[float, float]]:
    """The range of every process variable: learnt for the ``measured`` readings, defaults for the rest."""
    return DEFAULT_RANGES | {variable: instrument_range(variable, values) for variable, values in measured.items()}
