"""Monitor settings: limits, delays and check parameters, read from TOML.

The packaged ``default_config.toml`` holds every setting with its source; a user
file only lists what it changes and is merged over the defaults.

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
ValueError: unknown setting 'alarms.on_delay' (known: disabled, history_h, off_delay_min, ...)
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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
    default_setpoint: float | None = None


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    """Alarm timing (EEMUA 191 on/off delays) and what is switched off."""

    on_delay_min: float = 10.0
    off_delay_min: float = 15.0
    stale_timeout_min: float = 20.0
    history_h: float = 12.0
    settle_min: float = 60.0
    startup_h: float = 2.0
    disabled: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatisticsSettings:
    """Rolling-statistics checks: z-score, stuck sensor, rate of change."""

    window_h: float = 3.0
    min_samples: int = 12
    z_limit: float = 6.0
    zscore_variables: tuple[str, ...] = ()
    flatline_variables: tuple[str, ...] = ()
    flatline_window_h: float = 1.5
    noise: Mapping[str, float] = field(default_factory=dict)
    rate_per_h: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CusumSettings:
    """Tabular CUSUM on deviations from set point, in units of sensor noise."""

    variables: tuple[str, ...] = ()
    k: float = 1.0
    h: float = 40.0
    band: Mapping[str, float] = field(default_factory=dict)
    sides: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    """Vessel ranges and thresholds of the process-aware diagnoses."""

    agitation_min: float = 80.0
    agitation_max: float = 250.0
    max_volume: float = 3.5
    airflow_max: float = 0.3
    at_max_fraction: float = 0.97
    do_deficit: float = 8.0
    temperature_deviation: float = 0.5
    ph_deficit: float = 0.08
    feed_start_h: float = 72.0
    feed_due_glucose: float = 4.0
    feed_glucose: float = 150.0
    overfeed_factor: float = 2.0
    uptake_jump: float = 0.3
    impeller_diameter: float = 0.06
    vessel_diameter: float = 0.13
    power_number: float = 1.5
    kla_power_exponent: float = 0.4
    kla_gas_exponent: float = 0.5
    gas_mixing_power: float = 1.0
    oxygen_balance_limit: float = 0.3
    oxygen_reference_h: float = 48.0


@dataclass(frozen=True, slots=True)
class MultivariateSettings:
    """PCA monitoring fitted on fault-free simulated batches."""

    training_batches: int = 12
    training_seed: int = 20240601
    variance: float = 0.9
    quantile: float = 0.999
    margin: float = 4.0


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Every setting of the monitor engine."""

    alarms: AlarmSettings = AlarmSettings()
    limits: tuple[Limit, ...] = ()
    statistics: StatisticsSettings = StatisticsSettings()
    cusum: CusumSettings = CusumSettings()
    process: ProcessSettings = ProcessSettings()
    multivariate: MultivariateSettings = MultivariateSettings()

    @classmethod
    def default(cls) -> MonitorConfig:
        """The packaged defaults."""
        return cls.from_mapping({})

    @classmethod
    def from_toml(cls, path: str | Path) -> MonitorConfig:
        """Defaults overridden by the settings in the TOML file ``path``."""
        with Path(path).open("rb") as file:
            return cls.from_mapping(tomllib.load(file))

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any]) -> MonitorConfig:
        """Defaults overridden by ``overrides`` (same layout as the TOML file)."""
        data = _merge(_default_mapping(), overrides)
        sections = {
            "alarms": AlarmSettings,
            "statistics": StatisticsSettings,
            "cusum": CusumSettings,
            "process": ProcessSettings,
            "multivariate": MultivariateSettings,
        }
        _reject_unknown(data, [*sections, "limits"], "")
        limits = tuple(
            _build(Limit, {"variable": name, **spec}, f"limits.{name}")
            for name, spec in data.get("limits", {}).items()
        )
        built: dict[str, Any] = {key: _build(kind, data.get(key, {}), key) for key, kind in sections.items()}
        return cls(limits=limits, **built)

    def limit(self, variable: str) -> Limit:
        """The limits of ``variable``; ``KeyError`` when it has none."""
        for limit in self.limits:
            if limit.variable == variable:
                return limit
        raise KeyError(variable)

    def default_setpoints(self) -> dict[str, float]:
        """Set points assumed for readings that do not carry their own (e.g. a plant CSV)."""
        return {
            limit.variable: limit.default_setpoint for limit in self.limits if limit.default_setpoint is not None
        }

    def enabled(self, check: str) -> bool:
        """Whether the check called ``check`` runs."""
        return check not in self.alarms.disabled

    def baseline(self) -> MonitorConfig:
        """The textbook baseline: the same fixed limits alone, no hysteresis, no delays.

        >>> base = MonitorConfig.default().baseline()
        >>> base.alarms.on_delay_min, base.limit("glucose").deadband, base.enabled("zscore")
        (0.0, 0.0, False)
        """
        from monitor.checks import CHECK_NAMES  # noqa: PLC0415 - the registry imports this module

        limits = tuple(dataclasses.replace(limit, deadband=0.0) for limit in self.limits)
        alarms = dataclasses.replace(
            self.alarms,
            on_delay_min=0.0,
            off_delay_min=0.0,
            disabled=tuple(name for name in CHECK_NAMES if name != "limit"),
        )
        return dataclasses.replace(self, limits=limits, alarms=alarms)


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
    _reject_unknown(data, known, f"{where}.")
    values = {key: tuple(v) if isinstance(v, list) else v for key, v in data.items()}
    return kind(**values)
