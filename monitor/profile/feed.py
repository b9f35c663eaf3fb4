"""How the reference batches were fed: from when, continuously or by boluses, and at what glucose.

A feed is *on* when its rate is above :data:`ON_SHARE` of the batch's largest rate
(a pump's trickle or its reading's noise is not a feed). The start is each
batch's first reading with the feed on; continuous feeding keeps it on for most
readings after that, boluses for a few. The operator feeds when glucose runs
low: the glucose at which the feed is on (continuous) or a bolus begins is,
90 times in 100, below ``due_glucose``. An offline glucose, measured now and
then, counts with its latest value.

>>> import numpy as np, pandas as pd
>>> from monitor.profile.reference import Reference
>>> hours = np.arange(0.0, 100.0, 1.0)
>>> frame = pd.concat([pd.DataFrame({"batch_id": f"B{i}", "culture_h": hours,
...     "feed_rate": np.where(hours >= 40 + 2 * i, 1.5, 0.0), "glucose": 6 - hours / 25}) for i in range(3)])
>>> feed_behaviour(Reference.of(frame))
FeedBehaviour(start_h=42.0, continuous=True, due_glucose=4.108, latest_start_h=44.0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.profile.model import FeedBehaviour
from monitor.profile.quantiles import rounded
from monitor.profile.reference import Reference

#: The feed is on above this share of its batch's largest rate.
ON_SHARE = 0.01
#: Continuous feeding keeps the feed on in at least this share of the readings after its start.
CONTINUOUS_SHARE = 0.5
#: ``due_glucose`` is this quantile of the glucose when feeding...
DUE_QUANTILE = 0.9
#: ...and at most this quantile of the glucose at which a started feed was off (an operator who holds
#: the feed back for other reasons, e.g. lactate, does so only while glucose is plentiful).
HELD_QUANTILE = 0.01

NOT_FED = FeedBehaviour(start_h=None, continuous=False, due_glucose=None)


def feed_behaviour(reference: Reference) -> FeedBehaviour:
    """The reference batches' feeding (:data:`NOT_FED` without a feed rate or a batch fed)."""
    if "feed_rate" not in reference.variables:
        return NOT_FED
    feed = pd.Series(reference.values("feed_rate"))
    largest = feed.groupby(reference.codes).transform("max").to_numpy(np.float64)
    on = (feed.to_numpy(np.float64) > ON_SHARE * largest) & (largest > 0)
    hours = reference.hours()
    starts = pd.Series(hours[on]).groupby(reference.codes[on]).min()
    if starts.empty:
        return NOT_FED
    start_of_row = starts.reindex(range(len(reference.batches))).to_numpy(np.float64)[reference.codes]
    after = (hours >= start_of_row) & feed.notna().to_numpy()
    continuous = bool(on[after].mean() >= CONTINUOUS_SHARE)
    return FeedBehaviour(
        start_h=rounded(float(starts.median())),
        continuous=continuous,
        due_glucose=_due_glucose(reference, on, continuous, after),
        latest_start_h=rounded(float(starts.max())),
    )


def _due_glucose(reference: Reference, on: np.ndarray, continuous: bool, after: np.ndarray) -> float | None:
    """Glucose below which the operator feeds, from the readings with the feed on or a bolus starting,
    and (continuous feeding) below the glucose at which a started feed was held back."""
    if "glucose" not in reference.variables:
        return None
    glucose = pd.Series(reference.values("glucose")).groupby(reference.codes).ffill().to_numpy(np.float64)
    bolus_starts = on & ~(np.roll(on, 1) & reference.same_batch_as_previous())
    feeding = glucose[on if continuous else bolus_starts]
    feeding = feeding[np.isfinite(feeding)]
    if not feeding.size:
        return None
    due = float(np.quantile(feeding, DUE_QUANTILE))
    held = glucose[after & ~on] if continuous else np.empty(0)
    held = held[np.isfinite(held)]
    if held.size:
        due = min(due, float(np.quantile(held, HELD_QUANTILE)))
    return rounded(due)
