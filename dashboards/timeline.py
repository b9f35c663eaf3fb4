"""Placing alarm events on a batch's culture-time axis, from their time stamps.

An event carries a time stamp; a plot's x axis is culture time. Between two readings
the culture time of an event is interpolated from theirs. Times are compared as
seconds since 1970: pandas 3 stores times parsed from text in milliseconds or
microseconds and those of ``datetime`` objects in microseconds, so their integer
values are not comparable.

>>> from datetime import datetime, UTC
>>> import pandas as pd
>>> readings = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01T00:00Z", "2026-01-01T02:00Z"]),
...                          "culture_h": [10.0, 12.0]})
>>> class Event:
...     timestamp = datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
>>> [hours for hours, _ in place_events(readings, [Event()])]
[11.5]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd

_EPOCH = pd.Timestamp(0, tz="UTC")


class Stamped(Protocol):
    @property
    def timestamp(self) -> datetime: ...


E = TypeVar("E", bound=Stamped)


def epoch_seconds(stamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Seconds since 1970 of time-zone-aware times, whatever resolution pandas stores them in.

    >>> epoch_seconds(pd.DatetimeIndex(["1970-01-02T00:00:01Z"]).as_unit("ms")).tolist()
    [86401.0]
    """
    return np.asarray((stamps - _EPOCH) / pd.Timedelta(seconds=1), dtype=float)


def place_events(readings: pd.DataFrame, events: Sequence[E]) -> list[tuple[float, E]]:
    """``(culture hours, event)`` for each event, from the ``timestamp`` and ``culture_h`` of
    one batch's readings (none when the batch has no readings)."""
    if readings.empty or not events:
        return []
    stamps = epoch_seconds(readings["timestamp"])
    order = np.argsort(stamps)
    at = epoch_seconds(pd.DatetimeIndex([e.timestamp for e in events]))
    hours = np.interp(at, stamps[order], readings["culture_h"].to_numpy(dtype=float)[order])
    return list(zip(hours.tolist(), events, strict=True))
