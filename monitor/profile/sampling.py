"""How often a plant samples, how long its batches last, and the maturity bins that follow.

>>> import numpy as np, pandas as pd
>>> from monitor.profile.reference import Reference
>>> hours = np.arange(0.0, 3.0, 0.25)  # a reading every 15 minutes
>>> reference = Reference.of(pd.DataFrame({"batch_id": np.repeat(["B1", "B2", "B3"], hours.size),
...                                        "culture_h": np.tile(hours, 3), "do": 40.0}))
>>> sampling_minutes(reference), batch_hours(reference)
(15.0, 2.75)
>>> maturity_bin_h(batch_hours=336.0, sampling_minutes=5.0)
12.0
>>> maturity_bin_h(batch_hours=230.0, sampling_minutes=12.0)
8.0
>>> maturity_bin_h(batch_hours=48.0, sampling_minutes=60.0)
12.0
"""

from __future__ import annotations

import numpy as np

from monitor.profile.reference import Reference

#: Bin widths a person reads easily (h): a 12-h bin is half a day, an 8-h bin a shift.
NICE_BIN_H: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 24.0, 48.0)
#: About this many maturity bins per batch: enough to follow a growth phase and a
#: temperature shift window, few enough that each bin holds many readings.
BINS_PER_BATCH = 28
#: A bin holds at least this many readings of each batch, so its mean and spread are not noise.
MIN_READINGS_PER_BIN = 12


def sampling_minutes(reference: Reference) -> float:
    """Median interval (min) between consecutive readings of a batch, over all batches, to the second.

    Pooled over batches so that each interval counts once; repeated culture hours
    (duplicated rows) are not intervals and are left out. Rounded to the second
    because exports often round culture hours (4 decimals are 0.36 s).
    """
    steps = np.diff(reference.hours())[reference.same_batch_as_previous()[1:]]
    steps = steps[steps > 0]
    return round(float(np.median(steps)) * 3600.0) / 60.0 if steps.size else float("nan")


def batch_hours(reference: Reference) -> float:
    """Median duration (h) of the reference batches, first to last reading."""
    spans = reference.frame.groupby("batch_id", sort=False)["culture_h"].agg(lambda h: h.max() - h.min())
    return float(spans.median())


def maturity_bin_h(*, batch_hours: float, sampling_minutes: float) -> float:
    """Width (h) of the culture-time bins of the envelope and of the batch-evolution model.

    About :data:`BINS_PER_BATCH` bins per batch, the nearest (on a log scale) of
    :data:`NICE_BIN_H`, but never fewer than :data:`MIN_READINGS_PER_BIN` readings per
    bin and batch: 12 h for 14-day batches sampled every 5 or 15 minutes, 8 h for
    230-h batches sampled every 12 minutes.
    """
    target = batch_hours / BINS_PER_BATCH
    shortest = MIN_READINGS_PER_BIN * sampling_minutes / 60.0
    widths = np.array(NICE_BIN_H)
    nearest = float(widths[np.argmin(np.abs(np.log(widths / max(target, 1e-9))))])
    if nearest >= shortest:
        return nearest
    wide_enough = widths[widths >= shortest]
    return float(wide_enough[0]) if wide_enough.size else float(np.ceil(shortest))
