"""Monitor settings: the packaged defaults, what a process profile learnt, and the user's file.

Three layers, each over the one before: ``default_config.toml`` (every setting,
with its source), the numbers a :class:`~monitor.profile.ProcessProfile` learnt
from the plant's reference batches (actuator ranges, noise, instrument ranges,
set points, feeding, and limits derived from the reference spread), and the
user's ``--config`` file, which only lists what it changes and can override
any learnt number.

>>> config = MonitorConfig.default()
>>> config.limit("glucose").low_low
0.5
>>> config.alarms.on_delay_min
10.0
>>> MonitorConfig.from_mapping({"limits": {"glucose": {"low": 2.0}}}).limit("glucose").low
2.0
>>> MonitorConfig.from_mapping({"alarms": {"on_delay": 1}})
Traceback (most recent call last):
...
ValueError: unknown setting 'alarms.on_delay' (known: disabled, max_seq_jump, off_delay_min, ...)
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from monitor.profile import ProcessProfile, Quantiles

T = TypeVar("T")

#: The textbook baseline's rolling z-score: a day's window, three standard deviations.
BASELINE_WINDOW_H = 24.0
BASELINE_Z = 3.0
#: The oxygen-balance limit learnt from a profile: this multiple of the largest gap (99.9 %) its
#: good batches showed, the same margin the multivariate check keeps over its reference quantile.
OXYGEN_BALANCE_MARGIN = 1.5

#: Controlled variables and the reading field of their set point.
SETPOINT_OF: dict[str, str] = {"do": "do_setpoint", "ph": "ph_setpoint", "temperature": "temperature_setpoint"}


@dataclass(frozen=True, slots=True)
class Limit:
    """Fixed alarm limits of one variable.

    L/H limits raise a warning and LL/HH a critical alarm; an alarm clears once the
    value is back inside its limit by ``deadband``. With ``relative_to`` the limits
    are offsets from that reading field (a set point).
    """

    variable: str
    low_low: float | None = None
    low: float | None = None
    high: float | None = None
    high_high: float | None = None
    deadband: float = 0.0
    relative_to: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    """Alarm timing (EEMUA 191 on/off delays), stream sanity and what is switched off."""

    on_delay_min: float = 10.0
    off_delay_min: float = 15.0
    stale_timeout_min: float = 20.0
    settle_min: float = 60.0
    startup_h: float = 2.0
    max_seq_jump: int = 100_000
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HistorySettings:
    """The time bins each reactor's past is kept in."""

    bin_min: float = 5.0
    span_h: float = 12.0


@dataclass(frozen=True, slots=True)
class SetpointSettings:
    """Fallback set points, and how learnt set-point schedules are followed."""

    do: float = 40.0
    ph: float = 7.0
    temperature: float = 37.0
    reach_sigmas: float = 4.0
    window_slack_h: float = 12.0

    def default(self, variable: str) -> float:
        """The fallback set point of a controlled variable."""
        return float(getattr(self, variable))


@dataclass(frozen=True, slots=True)
class LearntLimitSettings:
    """How a profile's reference spread becomes limits."""

    variables: tuple[str, ...] = ()
    margin: float = 0.5
    noise_sigmas: float = 6.0
    deadband: float = 0.5
    low_only: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatisticsSettings:
    """Rolling-statistics checks: z-score, stuck sensor, rate of change."""

    window_h: float = 3.0
    z_limit: float = 6.0
    zscore_variables: tuple[str, ...] = ()
    min_samples: int = 6
    flatline_variables: tuple[str, ...] = ()
    flatline_window_h: float = 1.5
    flatline_fraction: float = 0.1
    rate_span_min: float = 30.0
    noise: Mapping[str, float] = field(default_factory=dict)
    rate_per_h: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CusumSettings:
    """Tabular CUSUM on deviations from set point, in units of sensor noise."""

    variables: tuple[str, ...] = ()
    k: float = 1.0
    h: float = 40.0
    per_min: float = 5.0
    band: Mapping[str, float | Sequence[float]] = field(default_factory=dict)
    sides: Mapping[str, str] = field(default_factory=dict)

    def band_of(self, variable: str) -> tuple[float, float]:
        """How far ``variable`` may sit below and above its set point before it counts (0, 0 if unset).

        >>> CusumSettings(band={"ph": 0.1, "do": [5.0, 1.0]}).band_of("do"), CusumSettings().band_of("ph")
        ((5.0, 1.0), (0.0, 0.0))
        """
        band = self.band.get(variable, 0.0)
        if isinstance(band, int | float):
            return float(band), float(band)
        below, above = band
        return float(below), float(above)


@dataclass(frozen=True, slots=True)
class EnvelopeSettings:
    """The golden-batch envelope check."""

    variables: tuple[str, ...] = ()
    margin_sigmas: float = 6.0
    margin_fraction: float = 0.5


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    """Actuator ranges and the thresholds of the process-aware diagnoses."""

    agitation_min: float = 80.0
    agitation_max: float = 250.0
    airflow_min: float = 0.02
    airflow_max: float = 0.2
    max_volume: float = 4.0
    at_max_fraction: float = 0.97
    do_deficit: float = 8.0
    temperature_deviation: float = 0.5
    ph_deficit: float = 0.08
    feed_start_h: float = 72.0
    feed_due_glucose: float = 4.0
    feed_glucose: float = 250.0
    overfeed_factor: float = 2.0
    uptake_jump: float = 0.3
    kla_power_exponent: float = 0.4
    kla_gas_exponent: float = 0.5
    oxygen_balance_limit: float = 0.3
    oxygen_reference_h: float = 48.0


@dataclass(frozen=True, slots=True)
class MultivariateSettings:
    """The profile's batch-evolution model as a check."""

    margin: float = 1.5


_SECTIONS: dict[str, type] = {
    "alarms": AlarmSettings,
    "history": HistorySettings,
    "setpoints": SetpointSettings,
    "learnt_limits": LearntLimitSettings,
    "statistics": StatisticsSettings,
    "cusum": CusumSettings,
    "envelope": EnvelopeSettings,
    "process": ProcessSettings,
    "multivariate": MultivariateSettings,
}


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Every setting of the monitor engine, and the profile it was built with (if any)."""

    alarms: AlarmSettings = AlarmSettings()
    history: HistorySettings = HistorySettings()
    setpoints: SetpointSettings = SetpointSettings()
    learnt_limits: LearntLimitSettings = LearntLimitSettings()
    statistics: StatisticsSettings = StatisticsSettings()
    cusum: CusumSettings = CusumSettings()
    envelope: EnvelopeSettings = EnvelopeSettings()
    process: ProcessSettings = ProcessSettings()
    multivariate: MultivariateSettings = MultivariateSettings()
    limits: tuple[Limit, ...] = ()
    instruments: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    profile: ProcessProfile | None = None

    @classmethod
    def default(cls) -> MonitorConfig:
        """The packaged defaults, without a profile."""
        return cls.from_mapping({})

    @classmethod
    def from_toml(cls, path: str | Path, profile: ProcessProfile | None = None) -> MonitorConfig:
        """Defaults, then ``profile``, then the settings in the TOML file ``path``."""
        with Path(path).open("rb") as file:
            return cls.from_mapping(tomllib.load(file), profile)

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any], profile: ProcessProfile | None = None) -> MonitorConfig:
        """Defaults, then what ``profile`` learnt, then ``overrides`` (same layout as the TOML file)."""
        data = _default_mapping()
        if profile is not None:
            learnt = _merge(data.get("learnt_limits", {}), overrides.get("learnt_limits", {}))
            banded = _merge(data.get("cusum", {}), overrides.get("cusum", {})).get("band", {})
            data = _merge(data, _profile_mapping(profile, banded))
            data["limits"] = _learnt_limits(profile, _build(LearntLimitSettings, learnt, "learnt_limits."))
        data = _merge(data, overrides)
        _reject_unknown(data, [*_SECTIONS, "limits", "instruments"], "")
        limits = tuple(
            _build(Limit, {"variable": name, **spec}, f"limits.{name}.")
            for name, spec in data.get("limits", {}).items()
        )
        instruments = {str(k): (float(v[0]), float(v[1])) for k, v in data.get("instruments", {}).items()}
        built: dict[str, Any] = {key: _build(kind, data.get(key, {}), f"{key}.") for key, kind in _SECTIONS.items()}
        return cls(limits=limits, instruments=instruments, profile=profile, **built)

    def limit(self, variable: str) -> Limit:
        """The limits of ``variable``; ``KeyError`` when it has none."""
        for limit in self.limits:
            if limit.variable == variable:
                return limit
        raise KeyError(variable)

    def enabled(self, check: str) -> bool:
        """Whether the check called ``check`` runs."""
        return check not in self.alarms.disabled

    def noise(self, variable: str) -> float:
        """The sensor noise (1 sigma) of ``variable``, 0 when unknown."""
        return float(self.statistics.noise.get(variable, 0.0))

    def typical_high(self, variable: str, default: float) -> float:
        """The profile's 99 % quantile of ``variable`` (how large it normally gets), else ``default``."""
        if self.profile is not None and variable in self.profile.values:
            return float(self.profile.values[variable].q99)
        return default

    def baseline(self) -> MonitorConfig:
        """The textbook baseline: the same fixed limits and a 24-hour rolling z-score, nothing else.

        No hysteresis, no on/off delays, no diagnoses: what a plant's historian alarms
        do out of the box, against which the monitor is measured.

        >>> base = MonitorConfig.default().baseline()
        >>> base.alarms.on_delay_min, base.limit("glucose").deadband, base.enabled("cusum")
        (0.0, 0.0, False)
        >>> base.statistics.window_h, base.statistics.z_limit, base.statistics.zscore_variables[:3]
        (24.0, 3.0, ('glucose', 'lactate', 'do'))
        """
        from monitor.checks import CHECK_NAMES  # noqa: PLC0415 - the registry imports this module

        limits = tuple(dataclasses.replace(limit, deadband=0.0) for limit in self.limits)
        alarms = dataclasses.replace(
            self.alarms,
            on_delay_min=0.0,
            off_delay_min=0.0,
            disabled=tuple(name for name in CHECK_NAMES if name not in ("limit", "zscore")),
        )
        statistics = dataclasses.replace(
            self.statistics,
            window_h=BASELINE_WINDOW_H,
            z_limit=BASELINE_Z,
            zscore_variables=tuple(limit.variable for limit in self.limits),
        )
        history = dataclasses.replace(self.history, span_h=max(self.history.span_h, BASELINE_WINDOW_H))
        return dataclasses.replace(self, limits=limits, alarms=alarms, statistics=statistics, history=history)


def _profile_mapping(profile: ProcessProfile, banded: Collection[str]) -> dict[str, Any]:
    """The settings a profile's learnt facts fill in (same layout as the TOML file).

    ``banded`` are the variables whose CUSUM has a normal band; the profile learns its width.
    """
    process: dict[str, Any] = {}
    for actuator in ("agitation", "airflow"):
        if actuator in profile.actuators:
            low, high = profile.actuators[actuator]
            process[f"{actuator}_min"], process[f"{actuator}_max"] = float(low), float(high)
    if "volume" in profile.values:
        process["max_volume"] = profile.values["volume"].q999
    if profile.oxygen_balance_spread is not None:
        # As loose as the plant's good batches need, never tighter than the packaged limit
        # (set on the bench vessel, where the balance holds closely).
        process["oxygen_balance_limit"] = max(
            ProcessSettings().oxygen_balance_limit, OXYGEN_BALANCE_MARGIN * profile.oxygen_balance_spread
        )
    # A feed is due once every reference batch was being fed (the median start would call the
    # later half of the batches' start-up missed feeds).
    start = profile.feed.latest_start_h if profile.feed.latest_start_h is not None else profile.feed.start_h
    if start is not None:
        process["feed_start_h"] = float(start)
    if profile.feed.due_glucose is not None:
        process["feed_due_glucose"] = float(profile.feed.due_glucose)
    setpoints = {v: float(s.levels[0]) for v, s in profile.setpoints.items() if s.levels}
    # The CUSUM counts only what lies beyond the deviations the good batches held 98 % of the
    # time (1-99 %): a loop that normally sits 0.2 above set point late in culture is no drift.
    # Only where a band is configured: DO's 1 % tail is the cascade at its limit, which the
    # oxygen-transfer check judges; a band that wide would blind the CUSUM to a drifting probe.
    band = {
        v: [max(-q.q01, 0.0), max(q.q99, 0.0)]
        for v, q in profile.deviations.items()
        if v in banded and math.isfinite(q.q01 + q.q99)
    }
    return {
        "cusum": {"band": band},
        "process": process,
        "statistics": {"noise": {v: float(n) for v, n in profile.noise.items()}},
        "instruments": {v: [float(lo), float(hi)] for v, (lo, hi) in profile.instruments.items()},
        "setpoints": setpoints,
    }


def _learnt_limits(profile: ProcessProfile, rule: LearntLimitSettings) -> dict[str, dict[str, Any]]:
    """Limits from the spread the reference batches showed: alarm rationalisation from good batches.

    A controlled variable is limited on its deviation from set point, using its 1-99 %
    spread (the 0.1 % tails of a deviation hold the minutes a loop takes to follow a
    planned set-point change); any other variable on its value's 0.1-99.9 % spread.
    """
    limits: dict[str, dict[str, Any]] = {}
    for variable in rule.variables:
        if variable not in profile.variables:
            continue
        relative = variable in SETPOINT_OF and variable in profile.deviations
        spread: Quantiles | None = profile.deviations.get(variable) if relative else profile.values.get(variable)
        if spread is None:
            continue
        low, high = (spread.q01, spread.q99) if relative else (spread.q001, spread.q999)
        margin = max(rule.margin * (high - low), rule.noise_sigmas * profile.noise.get(variable, 0.0))
        if margin <= 0:
            continue
        floor = None if relative else profile.instruments.get(variable, (None, None))[0]
        spec: dict[str, Any] = {"deadband": rule.deadband * margin}
        for name, value in (("low", low - margin), ("low_low", low - 2 * margin)):
            if floor is None or value > floor:  # a limit at or below the instrument's floor never fires
                spec[name] = value
        if variable not in rule.low_only:
            spec["high"], spec["high_high"] = high + margin, high + 2 * margin
        if relative:
            spec["relative_to"] = SETPOINT_OF[variable]
        limits[variable] = spec
    return limits


def _default_mapping() -> dict[str, Any]:
    text = resources.files("monitor").joinpath("default_config.toml").read_text("utf-8")
    return tomllib.loads(text)


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _reject_unknown(data: Mapping[str, Any], known: list[str], where: str) -> None:
    for key in data:
        if key not in known:
            names = ", ".join(sorted(known)[:3])
            more = ", ..." if len(known) > 3 else ""
            raise ValueError(f"unknown setting '{where}{key}' (known: {names}{more})")


def _build(kind: type[T], data: Mapping[str, Any], where: str) -> T:
    known = [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
    _reject_unknown(data, known, where)
    values = {key: tuple(v) if isinstance(v, list) else v for key, v in data.items()}
    return kind(**values)
