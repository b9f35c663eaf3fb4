"""What normal looks like on a plot: the alarm limits and the golden-batch envelope of each variable.

Both come from the monitor's own configuration (:class:`monitor.config.MonitorConfig`:
packaged defaults, then the process profile, then the user's ``--config``), so the
lines an operator sees are the limits the monitor alarms on, and the band is the
envelope its golden-batch check compares against.

>>> from monitor.config import MonitorConfig
>>> guide = ProcessGuide.from_config(MonitorConfig.default())
>>> [(level.name, level.value) for level in guide.levels("glucose")]
[('LL', 0.5), ('L', 1.0), ('H', 8.0), ('HH', 10.0)]
>>> [(level.name, level.value, level.relative_to) for level in guide.levels("do")]
[('LL', -25.0, 'do_setpoint'), ('L', -15.0, 'do_setpoint')]
>>> guide.band("glucose") is None  # no profile: no envelope
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.config import Limit, MonitorConfig
from monitor.envelope import Envelope

#: Culture hours per plotted day.
HOURS_PER_DAY = 24.0


@dataclass(frozen=True, slots=True)
class LimitLevel:
    """One alarm limit of a variable: its ISA-18.2 name, value and whether it is critical.

    With ``relative_to`` the value is an offset from that reading field (a set point).
    """

    name: str
    value: float
    critical: bool
    relative_to: str | None = None


@dataclass(frozen=True, slots=True)
class Band:
    """A variable's golden-batch band by culture day: one point per envelope bin."""

    day: list[float]
    low: list[float]
    median: list[float]
    high: list[float]


@dataclass(frozen=True)
class ProcessGuide:
    """Alarm limits and golden-batch envelope per variable; empty when nothing is configured."""

    limits: Mapping[str, Limit] = field(default_factory=dict)
    envelope: Envelope | None = None
    instruments: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: MonitorConfig) -> ProcessGuide:
        """The limits the monitor alarms on, and its profile's envelope (``None`` without a profile)."""
        return cls(
            {limit.variable: limit for limit in config.limits},
            config.profile.envelope if config.profile is not None else None,
            config.instruments,
        )

    def levels(self, variable: str) -> list[LimitLevel]:
        """The limits of ``variable``, lowest first (LL, L, H, HH, those configured)."""
        limit = self.limits.get(variable)
        if limit is None:
            return []
        named = (("LL", limit.low_low, True), ("L", limit.low, False), ("H", limit.high, False),
                 ("HH", limit.high_high, True))
        return [LimitLevel(name, value, critical, limit.relative_to) for name, value, critical in named
                if value is not None]

    def band(self, variable: str) -> Band | None:
        """The golden-batch band of ``variable``, ``None`` when the envelope does not cover it.

        A band is cut to the instrument's range: its statistical widening for few reference
        batches can reach below zero, which no glucose or feed rate can.
        """
        if self.envelope is None or variable not in self.envelope.variables:
            return None
        table = self.envelope.band(variable).dropna()
        floor, ceiling = self.instruments.get(variable, (-math.inf, math.inf))
        low, median, high = (table[c].clip(floor, ceiling).tolist() for c in ("low", "median", "high"))
        return Band((table["culture_h"] / HOURS_PER_DAY).tolist(), low, median, high)
