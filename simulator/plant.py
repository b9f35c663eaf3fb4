"""The plant the simulator runs: vessel, control, sampling period and CSV export, from a TOML file.

Every key of a plant file is optional and defaults to the 5 L bench vessel of
:mod:`simulator.parameters`, so ``Plant()`` is that bench: it reproduces the
committed sample dataset byte for byte. Presets ship in ``simulator/plants/``;
``pilot_200l.toml`` is the commented example of every section.

>>> load_plant("bench_5l") == Plant()
True
>>> pilot = load_plant("pilot_200l")
>>> pilot.vessel.max_volume, pilot.control.do_setpoint, pilot.sample_minutes
(200.0, 30.0, 15.0)
>>> Plant.from_toml("[vessel]\\nimpeller_diameter = 0.07", name="bigger impeller").vessel.impeller_diameter
0.07
>>> try:
...     Plant.from_toml("[control]\\ndo_set_point = 30", name="typo")
... except PlantError as err:
...     print(err)
typo: [control] unknown key(s) do_set_point; known: base_concentration, base_max_rate, ...
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from simulator.export import Export, ExportColumn
from simulator.parameters import Control, Vessel

__all__ = ["DEFAULT_PLANT", "Plant", "PlantError", "load_plant", "preset_names"]

#: The plant simulated unless another is named: the 5 L bench vessel.
DEFAULT_PLANT = "bench_5l"

_PRESETS = resources.files("simulator") / "plants"

_Section = TypeVar("_Section", Vessel, Control)


class PlantError(ValueError):
    """A plant file that cannot be read: unknown preset, bad TOML, unknown key or invalid value."""


@dataclass(frozen=True, slots=True)
class Plant:
    """Everything that differs between plants.

    Attributes
    ----------
    name
        Preset or file name, shown in messages.
    vessel
        Geometry, volumes, impeller, kLa constants, agitation and airflow ranges.
    control
        Set points, pH deadband, temperature shift and its window, pumps, feed concentrate.
    sample_minutes
        The historian's sampling period: the default of ``generate`` and ``simulate``.
    export
        How the plant writes its CSV (names, units, left-out columns, time format).
    """

    name: str = DEFAULT_PLANT
    vessel: Vessel = field(default_factory=Vessel)
    control: Control = field(default_factory=Control)
    sample_minutes: float = 5.0
    export: Export = field(default_factory=Export)

    def __post_init__(self) -> None:
        if self.sample_minutes <= 0:
            raise ValueError(f"sample_minutes must be positive, got {self.sample_minutes}")

    @classmethod
    def from_toml(cls, text: str, *, name: str) -> Plant:
        """A plant from the text of a plant file.

        Parameters
        ----------
        text
            TOML: optional ``name`` and ``sample_minutes``, tables ``[vessel]``,
            ``[control]`` (keys: the fields of Vessel and Control) and ``[export]``.
        name
            Used when the file names no plant.

        Raises
        ------
        PlantError
            Bad TOML, an unknown key, a value of the wrong type or out of range.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise PlantError(f"{name}: not valid TOML: {err}") from None
        name = str(data.get("name", name))
        _no_unknown_keys(data, {"name", "sample_minutes", "vessel", "control", "export"}, name, "top level")
        try:
            plant = cls(
                name=name,
                vessel=_section(Vessel(), data.get("vessel", {}), name, "vessel"),
                control=_section(Control(), data.get("control", {}), name, "control"),
                export=_export(data.get("export", {}), name),
            )
            if "sample_minutes" in data:
                plant = replace(plant, sample_minutes=_number(data["sample_minutes"], name, "sample_minutes"))
            return plant
        except PlantError:
            raise
        except ValueError as err:  # a dataclass refusing a value
            raise PlantError(f"{name}: {err}") from None


def preset_names() -> list[str]:
    """The plants shipped with the simulator."""
    return sorted(p.name.removesuffix(".toml") for p in _PRESETS.iterdir() if p.name.endswith(".toml"))


def load_plant(spec: str | Path) -> Plant:
    """A preset by name or a plant file by path.

    Parameters
    ----------
    spec
        A name from :func:`preset_names` (``pilot_200l``) or the path of a ``.toml`` file.

    Raises
    ------
    PlantError
        Unknown preset, unreadable file, or a file :meth:`Plant.from_toml` refuses.
    """
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise PlantError(f"cannot read plant file {path}: {err.strerror}") from None
        return Plant.from_toml(text, name=path.stem)
    if str(spec) not in preset_names():
        raise PlantError(f"unknown plant {str(spec)!r}: a preset ({', '.join(preset_names())}) or a .toml file")
    return Plant.from_toml((_PRESETS / f"{spec}.toml").read_text(encoding="utf-8"), name=str(spec))


def _no_unknown_keys(table: dict[str, Any], known: set[str], plant: str, section: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise PlantError(f"{plant}: [{section}] unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _number(value: object, plant: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlantError(f"{plant}: {key} must be a number, got {value!r}")
    return float(value)


def _section(default: _Section, table: object, plant: str, section: str) -> _Section:
    """``default`` with the values of a TOML table; each value has the type of the default's."""
    if not isinstance(table, dict):
        raise PlantError(f"{plant}: [{section}] must be a table")
    _no_unknown_keys(table, {f.name for f in fields(default)}, plant, section)
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"[{section}] {key}"
        template = getattr(default, key)
        if isinstance(template, tuple):
            if not isinstance(value, list) or len(value) != len(template):
                raise PlantError(f"{plant}: {where} must be a list of {len(template)} numbers, got {value!r}")
            values[key] = tuple(_number(v, plant, where) for v in value)
        else:
            values[key] = _number(value, plant, where)
    return replace(default, **values)


def _export(table: object, plant: str) -> Export:
    if not isinstance(table, dict):
        raise PlantError(f"{plant}: [export] must be a table")
    _no_unknown_keys(table, {"columns", "omit", "setpoints", "timestamp_format"}, plant, "export")
    columns = table.get("columns", {})
    if not isinstance(columns, dict):
        raise PlantError(f"{plant}: [export.columns] must map fields to {{ name = ..., unit = ... }}")
    parsed = []
    for field_name, spec in columns.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise PlantError(f'{plant}: [export.columns] {field_name} needs {{ name = "..." [, unit = "..."] }}')
        _no_unknown_keys(spec, {"name", "unit"}, plant, f"export.columns.{field_name}")
        unit = spec.get("unit")
        parsed.append(ExportColumn(field_name, spec["name"], None if unit is None else str(unit)))
    omit = table.get("omit", [])
    setpoints = table.get("setpoints", True)
    timestamp_format = table.get("timestamp_format")
    if not isinstance(omit, list) or not all(isinstance(o, str) for o in omit):
        raise PlantError(f"{plant}: [export] omit must be a list of field names")
    if not isinstance(setpoints, bool):
        raise PlantError(f"{plant}: [export] setpoints must be true or false")
    if timestamp_format is not None and not isinstance(timestamp_format, str):
        raise PlantError(f"{plant}: [export] timestamp_format must be a strftime pattern")
    return Export(tuple(parsed), frozenset(omit), setpoints, timestamp_format)
