"""The monitor's checks: fixed limits, rolling statistics and process-aware diagnoses.

Every check is a small class over a :class:`~bioreactor.contract.Reading`, the
reactor's recent :class:`~monitor.checks.base.History` and its own per-reactor
state; :func:`build_checks` makes the enabled ones from a configuration.

>>> from monitor.config import MonitorConfig
>>> [c.name for c in build_checks(MonitorConfig.default().baseline())]
['limit']
"""

from __future__ import annotations

from typing import Any

from monitor.checks.agitator import AgitatorCheck
from monitor.checks.base import Check, Explanation, Finding, History, Latch
from monitor.checks.contamination import ContaminationCheck
from monitor.checks.cusum import CusumCheck
from monitor.checks.feeding import MissedFeedCheck, OverfeedingCheck, StarvationCheck
from monitor.checks.flatline import FlatlineCheck
from monitor.checks.limits import LimitCheck
from monitor.checks.multivariate import MultivariateCheck
from monitor.checks.oxygen import OxygenBalanceCheck, OxygenTransferCheck
from monitor.checks.ph import BasePumpCheck, PhProbeCheck
from monitor.checks.rate import RateCheck
from monitor.checks.temperature import TemperatureControlCheck
from monitor.checks.zscore import ZScoreCheck
from monitor.config import MonitorConfig

#: Every per-reading check, in the order findings are reported.
CHECK_TYPES: tuple[type[Check[Any]], ...] = (
    LimitCheck,
    ZScoreCheck,
    RateCheck,
    CusumCheck,
    FlatlineCheck,
    OxygenTransferCheck,
    OxygenBalanceCheck,
    AgitatorCheck,
    BasePumpCheck,
    PhProbeCheck,
    TemperatureControlCheck,
    MissedFeedCheck,
    OverfeedingCheck,
    StarvationCheck,
    ContaminationCheck,
    MultivariateCheck,
)

#: The name of the check raised by the engine when a reactor stops reporting.
STALE = "stale"

#: Names usable in ``[alarms] disabled``.
CHECK_NAMES: tuple[str, ...] = (*(c.name for c in CHECK_TYPES), STALE)


def build_checks(config: MonitorConfig) -> list[Check[Any]]:
    """The enabled checks, built from ``config``."""
    return [kind(config) for kind in CHECK_TYPES if config.enabled(kind.name)]


__all__ = [
    "CHECK_NAMES",
    "CHECK_TYPES",
    "STALE",
    "Check",
    "Explanation",
    "Finding",
    "History",
    "Latch",
    "build_checks",
]
