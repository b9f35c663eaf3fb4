"""The monitor's checks: fixed limits, rolling statistics, the golden batch and process-aware diagnoses.

Every check is a small class over a wave of readings and its own per-reactor
state (:mod:`monitor.checks.base`); :data:`CHECK_TYPES` lists them in the order
their findings are reported, and each declares the variables it needs.
"""

from __future__ import annotations

from monitor.checks.agitator import AgitatorCheck
from monitor.checks.base import Check, Explanation, Findings, Histories, Latches
from monitor.checks.contamination import ContaminationCheck
from monitor.checks.cusum import CusumCheck
from monitor.checks.envelope import EnvelopeCheck
from monitor.checks.feeding import MissedFeedCheck, OverfeedingCheck, StarvationCheck
from monitor.checks.flatline import FlatlineCheck
from monitor.checks.limits import LimitCheck
from monitor.checks.multivariate import MultivariateCheck
from monitor.checks.oxygen import OxygenBalanceCheck, OxygenTransferCheck
from monitor.checks.ph import BasePumpCheck, PhProbeCheck
from monitor.checks.rate import RateCheck
from monitor.checks.temperature import TemperatureControlCheck
from monitor.checks.zscore import ZScoreCheck

#: Every per-reading check after the instrument screen, in the order findings are reported.
CHECK_TYPES: tuple[type[Check], ...] = (
    LimitCheck,
    ZScoreCheck,
    RateCheck,
    CusumCheck,
    FlatlineCheck,
    EnvelopeCheck,
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

#: Alarms the engine raises itself: a reactor that stopped reporting, a gap in its stream.
STALE = "stale"
DATA_GAP = "data_gap"

#: Names usable in ``[alarms] disabled``.
CHECK_NAMES: tuple[str, ...] = ("bad_value", *(c.name for c in CHECK_TYPES), STALE, DATA_GAP)

__all__ = [
    "CHECK_NAMES",
    "CHECK_TYPES",
    "DATA_GAP",
    "STALE",
    "Check",
    "Explanation",
    "Findings",
    "Histories",
    "Latches",
]
