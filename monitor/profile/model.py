"""The process profile: what normal operation of one plant looks like, learnt from its good batches.

Plain immutable records; :mod:`monitor.profile.fit` learns them, :mod:`monitor.profile.store`
saves and loads them, :mod:`monitor.profile.describe` puts them into words.
Units are the contract's (``bioreactor.contract.Reading``): hours of culture,
% air saturation, g/L, mL/h, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.envelope import Envelope
from monitor.profile.equality import equal
from monitor.profile.evolution import BatchEvolutionModel
from monitor.profile.quantiles import Quantiles

__all__ = ["BatchEvolutionModel", "FeedBehaviour", "ProcessProfile", "ProfileCard", "Quantiles", "SetpointSchedule"]


@dataclass(frozen=True)
class SetpointSchedule:
    """The set point of one controlled variable (``do``, ``ph`` or ``temperature``) over a batch.

    Attributes
    ----------
    variable
        The controlled variable.
    levels
        The set-point levels in the order a batch uses them, e.g. ``(37.0, 33.0)``.
    change_h
        Culture-hour window ``(earliest, latest)`` of the level changes over the reference
        batches (the first reading under the new set point); ``None`` with one level.
    from_columns
        True: read from set-point columns; False: inferred from the signal itself.
    deadband
        Half-width of the band the loop lets the variable move in without acting
        (pH: base below it, CO2 above), 0 for a loop that holds its set point.
    held_from_h
        Culture-hour window ``(earliest, latest)`` over the batches from which the loop
        holds the variable (DO: once the culture consumes enough oxygen; before, DO sits
        above its set point).
    change_share
        Share of the reference batches that changed level (a shift some batches skip).
    """

    variable: str
    levels: tuple[float, ...]
    change_h: tuple[float, float] | None
    from_columns: bool
    deadband: float = 0.0
    held_from_h: tuple[float, float] = (0.0, 0.0)
    change_share: float = 0.0


@dataclass(frozen=True)
class FeedBehaviour:
    """When and how the reference batches were fed.

    Attributes
    ----------
    start_h
        Culture hour the feed starts (median over the batches); ``None``: never fed.
    continuous
        Fed continuously (feed on at most readings after the start) rather than by boluses.
    due_glucose
        Glucose (g/L) below which the operator feeds: the 90 % quantile of glucose while
        (continuous) or just before (bolus) feeding, and below any glucose at which a started
        feed was off; ``None`` without glucose or feed.
    latest_start_h
        The latest start over the batches: from then on every reference batch was fed.
    """

    start_h: float | None
    continuous: bool
    due_glucose: float | None
    latest_start_h: float | None = None


@dataclass(frozen=True)
class ProfileCard:
    """Where a profile comes from, like the feed model's card (``models/artifact.py``)."""

    name: str
    fitted_at: datetime
    source: str
    batches: tuple[str, ...]
    rows: int
    data_sha256: str
    libraries: dict[str, str]


@dataclass(frozen=True, eq=False)
class ProcessProfile:
    """Normal operation of one plant, learnt from its good batches.

    Attributes
    ----------
    card
        Provenance.
    sampling_minutes
        Median interval between consecutive readings of a batch.
    variables
        Process variables measured in the reference (in at least 1 % of the readings),
        in ``PROCESS_VARIABLES`` order.
    coverage
        Share of the readings in which each process variable is measured (every
        variable of the contract; 0 for those the plant does not measure).
    setpoints
        Set-point schedule of each controlled variable that has one.
    instruments
        ``(low, high)`` an instrument can report, per process variable (learnt for measured
        variables, generous defaults for the others): outside is a bad value, not a process state.
    noise
        1-sigma measurement noise per variable.
    actuators
        ``agitation`` and ``airflow`` as operated: their 0.5 and 99.5 % quantiles.
    values
        Spread of each variable's readings.
    deviations
        Spread of (reading - set point) of each controlled variable while its loop holds it.
    feed
        Feeding behaviour.
    envelope
        Per-maturity bands of every variable (the golden batch).
    evolution
        The batch-evolution model; ``None`` with fewer than ``MIN_EVOLUTION_BATCHES`` batches.
    oxygen_balance_spread
        How far the oxygen balance wandered in the reference batches (99.9 % quantile of
        its gap, natural log); ``None`` when the plant lacks one of its inputs.
    """

    card: ProfileCard
    sampling_minutes: float
    variables: tuple[str, ...]
    coverage: dict[str, float]
    setpoints: dict[str, SetpointSchedule]
    instruments: dict[str, tuple[float, float]]
    noise: dict[str, float]
    actuators: dict[str, tuple[float, float]]
    values: dict[str, Quantiles]
    deviations: dict[str, Quantiles]
    feed: FeedBehaviour
    envelope: Envelope
    evolution: BatchEvolutionModel | None
    oxygen_balance_spread: float | None = None

    def __eq__(self, other: object) -> bool:
        return equal(self, other)  # the envelope's arrays compare by value, NaN equal to NaN

    __hash__ = None  # type: ignore[assignment]  # holds arrays: not hashable
