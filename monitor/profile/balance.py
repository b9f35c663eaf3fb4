"""How far the oxygen balance wanders in good batches: the spread its check's limit is set from.

The oxygen-balance statistic (:mod:`monitor.oxygen_balance`) assumes the
van 't Riet correlation and oxygen uptake proportional to the culture. A bench
CHO vessel follows both closely; a viscous mycelial broth or a culture whose
uptake per cell changes with its phase does not, and its good batches wander
further. The profile runs the statistic over each reference batch, as the check
would see it with no alarm standing, and keeps the 99.9 % quantile of its size.

>>> import numpy as np, pandas as pd
>>> hours = np.arange(0.0, 96.0, 0.25)
>>> batch = lambda i: pd.DataFrame({"batch_id": f"B{i}", "culture_h": hours, "do": 40.0,
...     "agitation": 150.0 + 20 * np.sin(hours / (5 + i)), "airflow": 0.2, "volume": 2.0, "vcd": 5.0})
>>> spread = oxygen_balance_spread(Reference.of(pd.concat([batch(i) for i in range(3)])))
>>> 0.1 < spread < 0.3  # the cascade moved with no change in the culture
True
"""

from __future__ import annotations

import numpy as np

from monitor.oxygen_balance import REFERENCE_H, FloatArray, balance_gaps, culture_amount, log_transfer_ratio
from monitor.profile.quantiles import rounded
from monitor.profile.reference import Reference

#: Fewer informative readings than this over all batches say nothing about the tail.
MIN_GAPS = 200
#: The quantile of |gap| kept: the good batches' rare excursions, not their single worst reading.
QUANTILE = 0.999


def oxygen_balance_spread(reference: Reference) -> float | None:
    """The 99.9 % quantile of |fast - reference| of log r over the reference batches.

    ``None`` when the plant lacks an input of the balance (DO, agitation, airflow,
    volume, VCD or biomass) or too few readings are informative.
    """
    frame = reference.frame
    needed = ("do", "agitation", "airflow", "volume")
    if any(c not in frame.columns for c in needed) or not {"vcd", "biomass"} & set(frame.columns):
        return None

    def signal(variable: str) -> FloatArray:
        return reference.values(variable) if variable in frame.columns else np.full(len(frame), np.nan)

    log_r = log_transfer_ratio(
        do=signal("do"), agitation=signal("agitation"), airflow=signal("airflow"), volume=signal("volume"),
        temperature=signal("temperature"), cells=culture_amount(signal("vcd"), signal("biomass")),
    )
    seconds = reference.hours() * 3600.0
    batches = [balance_gaps(seconds[s], log_r[s], reference_h=REFERENCE_H) for s in reference.batch_slices()]
    gaps = np.abs(np.concatenate(batches))
    gaps = gaps[~np.isnan(gaps)]
    if gaps.size < MIN_GAPS:
        return None
    return rounded(float(np.quantile(gaps, QUANTILE)))
