"""The recent past of many live streams, for computing features of their latest readings.

A live stream (a reactor on MQTT, a batch in a closed-loop simulation) delivers
one reading at a time. :class:`FeatureHistory` keeps, per stream, just enough
history for the longest feature window plus the integral of viable cells carried
over from older readings, and computes the features of every stream's latest
reading with :func:`models.features.build_features` -- the very function used
for training, so live features cannot drift from the ones the model learnt.

>>> history = FeatureHistory()
>>> for hour in range(3):
...     history.append(["R01"], ["B1"], {"culture_h": [hour], "vcd": [1.0 + hour],
...         "glucose": [5.0], "lactate": [1.0], "do": [40.0], "ph": [7.0],
...         "temperature": [37.0], "agitation": [100.0], "airflow": [0.05]})
>>> history.latest(["R01"]).loc["R01", "ivc"]
np.float64(4.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.features import (
    BATCH,
    MAX_WINDOW_H,
    OPTIONAL_INPUTS,
    REQUIRED_INPUTS,
    TIME,
    build_features,
)

#: The raw columns a stream's history keeps.
COLUMNS: tuple[str, ...] = (TIME, *REQUIRED_INPUTS, *OPTIONAL_INPUTS)


@dataclass
class _Stream:
    batch_id: str
    rows: list[npt.NDArray[np.float64]] = field(default_factory=list)
    ivc_start: float = 0.0


class FeatureHistory:
    """Bounded per-stream history of readings and the features of the latest ones.

    Parameters
    ----------
    keep_h
        Culture hours of history kept per stream; at least the longest feature window.

    Notes
    -----
    A stream restarts (its history is dropped) when its batch changes or its
    culture time goes backwards, e.g. a replay started again.
    """

    def __init__(self, keep_h: float = MAX_WINDOW_H) -> None:
        if keep_h < MAX_WINDOW_H:
            raise ValueError(f"keep_h must cover the longest feature window ({MAX_WINDOW_H} h)")
        self.keep_h = keep_h
        self._streams: dict[str, _Stream] = {}

    def __len__(self) -> int:
        return len(self._streams)

    def rows(self, key: str) -> int:
        """Number of readings currently held for ``key`` (0 if unknown)."""
        stream = self._streams.get(key)
        return len(stream.rows) if stream else 0

    def append(
        self,
        keys: Sequence[str],
        batch_ids: Sequence[str],
        values: Mapping[str, npt.ArrayLike],
    ) -> None:
        """Add one reading per key; ``values`` maps column names to one value per key.

        Optional inputs may be missing from ``values`` or NaN.
        """
        matrix = np.column_stack(
            [
                np.asarray(values[c], dtype=float) if c in values else np.full(len(keys), np.nan)
                for c in COLUMNS
            ]
        )
        for key, batch_id, row in zip(keys, batch_ids, matrix, strict=True):
            stream = self._streams.get(key)
            if stream is None or stream.batch_id != batch_id or row[0] < stream.rows[-1][0]:
                stream = self._streams[key] = _Stream(batch_id)
            stream.rows.append(row)

    def latest(self, keys: Sequence[str]) -> pd.DataFrame:
        """Features of the latest reading of each key (index: the keys), then trim old rows."""
        streams = [self._streams[k] for k in keys]
        sizes = [len(s.rows) for s in streams]
        frame = pd.DataFrame(np.vstack([r for s in streams for r in s.rows]), columns=COLUMNS)
        frame[BATCH] = np.repeat(np.asarray(keys, dtype=object), sizes)
        features = build_features(frame, {k: s.ivc_start for k, s in zip(keys, streams, strict=True)})
        ends = np.cumsum(sizes)
        ivc = features["ivc"].to_numpy()
        for stream, end, size in zip(streams, ends, sizes, strict=True):
            self._trim(stream, ivc[end - size : end])
        latest = features.iloc[ends - 1]
        latest.index = pd.Index(keys)
        return latest

    def _trim(self, stream: _Stream, ivc: npt.NDArray[np.float64]) -> None:
        times = np.array([r[0] for r in stream.rows])
        first = int(np.searchsorted(times, times[-1] - self.keep_h, side="left"))
        if first > 0:
            stream.ivc_start = float(ivc[first])
            del stream.rows[:first]
