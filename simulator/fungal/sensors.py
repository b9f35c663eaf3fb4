"""Sensors: the DO probe's lag, and the noise and span of every exported measurement.

Figures are one standard deviation. Where an instrument is quoted as "+-a", a
is taken as two standard deviations. Sources: the project's domain notes
(``shared/domain-notes.md``, sensor table) where they cover the instrument;
otherwise the figure is *assumed*, as said next to it.

>>> import numpy as np
>>> probe = DoProbe(np.array([100.0]))
>>> for _ in range(3):  # three one-minute steps after DO fell to 40 %
...     signal = probe.update(np.array([40.0]), 1 / 60)
>>> round(float(signal[0]), 2)
40.06
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Instrument:
    """How one signal is measured: noise of ``absolute + relative * |value|`` (one sigma), within a span.

    >>> import numpy as np
    >>> Instrument(absolute=1.0, high=200.0).read(np.array([199.5, 50.0]), np.array([2.0, -1.0])).tolist()
    [200.0, 49.0]
    """

    absolute: float = 0.0
    relative: float = 0.0
    low: float = 0.0
    high: float = math.inf

    def read(self, value: FloatArray, z: FloatArray) -> FloatArray:
        """The reading of ``value`` with standard-normal draws ``z``, clipped to the span."""
        sigma = self.absolute + self.relative * np.abs(value)
        return np.asarray(np.clip(value + sigma * z, self.low, self.high))


#: The instrument behind each measured signal, by its name in :mod:`simulator.fungal.simulation`.
INSTRUMENTS: dict[str, Instrument] = {
    # Offline dry weight of mycelium: 5 % (domain notes give 5-10 % for biomass
    # probes; a dry-weight assay of a filamentous broth is no better). Also "less
    # precise" in being taken only every few hours (Recipe.lab_interval_h).
    "biomass": Instrument(relative=0.05),
    # At-line enzymatic sugar analyser: assumed 2 % of reading, 0.01 g/L near zero
    # (the domain notes' Raman +-0.2-0.3 g/L would hide the fed-batch's 0.1 g/L).
    "sugar": Instrument(absolute=0.01, relative=0.02),
    # At-line HPLC penicillin assay: assumed 2 % of reading.
    "penicillin": Instrument(absolute=0.01, relative=0.02),
    "do": Instrument(absolute=1.0, high=200.0),  # optical DO +-1-2 % sat. (domain notes); span 0-200 %
    "ph": Instrument(absolute=0.01, high=14.0),  # glass electrode +-0.02 (domain notes)
    "temperature": Instrument(absolute=0.05, low=273.15, high=423.15),  # RTD +-0.1 K (domain notes); 0-150 °C
    "agitation": Instrument(absolute=0.3),  # drive tachometer, assumed +-0.5 % of 130 rpm
    # Thermal mass-flow meter +-1 % of full scale (domain notes): 45 m³/h of 4500.
    "aeration": Instrument(absolute=22.5),
    # Magnetic/Coriolis flow meters on the feed, acid and base lines: assumed +-1 % of reading.
    "feed": Instrument(relative=0.005),
    "acid": Instrument(relative=0.005),
    "base": Instrument(relative=0.005),
    # Load cells under a 100 m³ vessel: assumed +-0.2 % of full scale (200 L).
    "volume": Instrument(absolute=100.0),
    # Off-gas mass spectrometer: assumed +-0.02 % CO2 absolute.
    "offgas_co2": Instrument(absolute=0.01),
}


@dataclass
class DoProbe:
    """An optical DO probe: first-order lag behind the true DO.

    ``t90`` of 60 s, the middle of the domain notes' 30-90 s, is a time constant
    of 60 s / ln 10 = 26 s; the lag is integrated exactly, so any step works.
    """

    signal: FloatArray
    time_constant_h: float = 60.0 / math.log(10.0) / 3600.0

    def update(self, true_do: FloatArray, dt: float) -> FloatArray:
        """Advance the lag by ``dt`` hours; return the probe's signal (% air saturation)."""
        self.signal = true_do + (self.signal - true_do) * math.exp(-dt / self.time_constant_h)
        return self.signal
