"""The reference batches a profile is learnt from: checked, sorted, and only good ones.

A profile describes *normal* operation, so it must be fitted on good batches.
A reference with simulator or plant labels (``fault``, ``fault_effective``) is
refused when any batch is labelled faulty; :func:`good_batches` drops whole
batches so labelled (not only their faulty rows: a batch is not normal before
its fault's onset is recorded, nor after it ends).

>>> import pandas as pd
>>> frame = pd.DataFrame({"batch_id": ["B2", "B1", "B1", "B2"], "culture_h": [1.0, 1.0, 0.0, 0.0],
...                       "fault": ["ph_drift", "none", "none", "none"], "ph": [7.0, 7.1, 7.2, 7.0]})
>>> good, dropped = good_batches(frame)
>>> dropped, good["batch_id"].unique().tolist()
(('B2',), ['B1'])
>>> Reference.of(frame)
Traceback (most recent call last):
...
monitor.profile.reference.ProfileError: batches labelled faulty in the reference (1: B2): a profile is fitted on \
good batches only; leave them out (`bioreactor profile fit` does)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bioreactor.contract import PROCESS_VARIABLES

#: Columns every reference needs: the batch and the culture hour define maturity.
REQUIRED = ("batch_id", "culture_h")
#: A batch needs at least this many readings to say anything about its course.
MIN_READINGS = 10
#: At least this many batches: a spread over fewer says little about the next batch.
MIN_BATCHES = 3


class ProfileError(ValueError):
    """A reference or a profile file that cannot be used; the message says why in one line."""


def faulty_batches(frame: pd.DataFrame) -> tuple[str, ...]:
    """Batches with a row labelled faulty (``fault`` other than ``none``, or ``fault_effective`` 1)."""
    labelled = pd.Series(False, index=frame.index)
    if "fault" in frame.columns:
        labelled |= frame["fault"].notna() & (frame["fault"].astype(str) != "none")
    if "fault_effective" in frame.columns:
        labelled |= frame["fault_effective"].fillna(0).astype(int) == 1
    return tuple(sorted(frame.loc[labelled, "batch_id"].astype(str).unique()))


def good_batches(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """``frame`` without the batches labelled faulty, and those batches' ids."""
    dropped = faulty_batches(frame)
    return frame[~frame["batch_id"].astype(str).isin(dropped)], dropped


@dataclass(frozen=True)
class Reference:
    """Reference readings sorted by batch and culture hour, with per-batch bookkeeping.

    Attributes
    ----------
    frame
        The readings, sorted by ``batch_id`` then ``culture_h``, index ``0..n-1``.
    batches
        Batch ids in frame order.
    codes
        ``(n,)`` index into ``batches`` of each row.
    variables
        The process variables the frame has a column for, in ``PROCESS_VARIABLES`` order.
    """

    frame: pd.DataFrame
    batches: tuple[str, ...]
    codes: NDArray[np.int64]
    variables: tuple[str, ...]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Reference:
        """Check and sort a canonical frame (``bioreactor.csvio.read_frame``'s columns).

        Raises
        ------
        ProfileError
            A required column is missing, no process variable is present, a batch
            is labelled faulty, or fewer than :data:`MIN_BATCHES` batches have
            :data:`MIN_READINGS` readings.
        """
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise ProfileError(f"the reference has no column for: {', '.join(missing)}")
        variables = tuple(v for v in PROCESS_VARIABLES if v in frame.columns)
        if not variables:
            raise ProfileError(f"the reference has no process variable (any of {', '.join(PROCESS_VARIABLES)})")
        faulty = faulty_batches(frame)
        if faulty:
            shown = ", ".join(faulty[:5]) + (f" and {len(faulty) - 5} more" if len(faulty) > 5 else "")
            raise ProfileError(
                f"batches labelled faulty in the reference ({len(faulty)}: {shown}): a profile is fitted on good "
                "batches only; leave them out (`bioreactor profile fit` does)"
            )
        ordered = frame.assign(batch_id=frame["batch_id"].astype(str)).sort_values(
            ["batch_id", "culture_h"], kind="stable"
        )
        sizes = ordered.groupby("batch_id", sort=False).size()
        long_enough = sizes.index[sizes >= MIN_READINGS]
        if len(long_enough) < MIN_BATCHES:
            raise ProfileError(
                f"too few readings: {len(long_enough)} batches have at least {MIN_READINGS} readings "
                f"({len(ordered)} readings in {len(sizes)} batches); a profile needs {MIN_BATCHES}"
            )
        ordered = ordered[ordered["batch_id"].isin(long_enough)].reset_index(drop=True)
        codes, batches = pd.factorize(ordered["batch_id"], sort=False)
        return cls(ordered, tuple(str(b) for b in batches), codes.astype(np.int64), variables)

    def hours(self) -> NDArray[np.float64]:
        """Culture hour of every row."""
        return self.frame["culture_h"].to_numpy(np.float64)

    def values(self, variable: str) -> NDArray[np.float64]:
        """``variable`` of every row, NaN where it was not measured."""
        return self.frame[variable].to_numpy(np.float64)

    def same_batch_as_previous(self) -> NDArray[np.bool_]:
        """``(n,)`` True where a row follows a row of the same batch."""
        same = np.zeros(len(self.codes), dtype=bool)
        same[1:] = self.codes[1:] == self.codes[:-1]
        return same

    def batch_slices(self) -> list[slice]:
        """The rows of each batch, in ``batches`` order."""
        bounds = np.flatnonzero(~self.same_batch_as_previous())
        ends = [*bounds[1:].tolist(), len(self.codes)]
        return [slice(int(a), int(b)) for a, b in zip(bounds.tolist(), ends, strict=True)]
