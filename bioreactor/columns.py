"""Map a foreign CSV's columns and units onto the fields of :class:`~bioreactor.contract.Reading`.

A plant historian or a spreadsheet rarely uses the contract's names and units,
so each column can be mapped with an option ``SOURCE=FIELD`` or
``SOURCE=FIELD:UNIT``; values are converted to the field's canonical unit (the
``unit`` in the Reading field's metadata).

>>> columns = ColumnMap.parse(["Glc (mM)=glucose:mM", "Temp_F=temperature:degF"])
>>> resolved = columns.resolve(["Time [h]", "Glc (mM)", "Temp_F", "VCD"])
>>> round(resolved.fields["glucose"].convert(10.0), 4)
1.8016
>>> resolved.fields["temperature"].convert(98.6)
37.0
>>> resolved.fields["vcd"].source
'VCD'

Columns without an option are matched automatically when their name, ignoring
case, spaces, underscores and punctuation, is a field name or a listed alias
(``ALIASES``), optionally followed by a known unit of that field:
``"VCD"``, ``"Feed Rate"``, ``"feed_rate_ml_h"`` (mL/h), ``"Glucose (mM)"``,
``"Temp_F"`` (°F) and ``"Viability [fraction]"`` all match. A bare name means
the canonical unit. A column is matched only when exactly one column claims the
field; otherwise the field is left to an explicit option. A bare ``time``
column is never matched: it may hold clock times or culture hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bioreactor.contract import Reading, field_names, field_units, optional_fields

__all__ = [
    "ALIASES",
    "FIELDS",
    "OPTIONAL_FIELDS",
    "Column",
    "ColumnMap",
    "ColumnMapError",
    "Linear",
    "Resolved",
    "field_hint",
    "units_of",
]

#: The Reading fields a column can be mapped to (``schema`` is set by the contract itself).
FIELDS: tuple[str, ...] = field_names(Reading)

#: Fields a Reading may leave out (``None``).
OPTIONAL_FIELDS: frozenset[str] = optional_fields(Reading)

_CANONICAL_UNIT: dict[str, str] = field_units(Reading)

#: Other names of fields that are matched automatically (besides the field names themselves).
ALIASES: Mapping[str, tuple[str, ...]] = {
    "timestamp": ("datetime", "date time", "time stamp"),
    "reactor_id": ("reactor", "bioreactor", "vessel"),
    "batch_id": ("batch", "run", "lot"),
    "culture_h": ("culture time", "elapsed time", "process time"),
    "vcd": ("viable cell density", "xv"),
    "viability": ("via", "viable fraction"),
    "glucose": ("glc",),
    "lactate": ("lac",),
    "do": ("dissolved oxygen", "do2", "po2"),
    "temperature": ("temp",),
    "agitation": ("stirrer speed", "agitator speed", "stirring"),
    "airflow": ("air flow", "aeration"),
    "feed_rate": ("feed flow",),
    "volume": ("working volume",),
}


@dataclass(frozen=True, slots=True)
class Linear:
    """A unit conversion ``canonical = value * scale + offset``.

    >>> Linear(5 / 9, -32 * 5 / 9)(212.0)
    100.0
    """

    scale: float = 1.0
    offset: float = 0.0

    def __call__(self, value: float) -> float:
        return value * self.scale + self.offset


_IDENTITY = Linear()

# Units accepted for each canonical unit, with their spellings. The canonical
# unit's own spellings come first so that error messages list it first.
_UNITS: Mapping[str, Mapping[str, tuple[Linear, tuple[str, ...]]]] = {
    "h": {
        "h": (_IDENTITY, ("h", "hr", "hours")),
        "min": (Linear(1 / 60), ("min", "minutes")),
        "s": (Linear(1 / 3600), ("s", "sec", "seconds")),
        "d": (Linear(24), ("d", "day", "days")),
    },
    "1e6 cells/mL": {
        "1e6 cells/mL": (_IDENTITY, ("1e6 cells/mL", "10^6 cells/mL", "1e6/mL", "e6 cells/mL")),
        "1e5 cells/mL": (Linear(0.1), ("1e5 cells/mL", "10^5 cells/mL", "1e5/mL")),
        "cells/mL": (Linear(1e-6), ("cells/mL", "cells/ml")),
        "1e9 cells/L": (_IDENTITY, ("1e9 cells/L", "10^9 cells/L")),
        "cells/L": (Linear(1e-9), ("cells/L",)),
    },
    "g/L": {
        "g/L": (_IDENTITY, ("g/L", "mg/mL")),
        "mg/L": (Linear(1e-3), ("mg/L",)),
        "mg/dL": (Linear(1e-2), ("mg/dL",)),
    },
    "% air sat.": {
        "%": (_IDENTITY, ("% air sat.", "%", "% sat", "% air saturation")),
        "fraction": (Linear(100), ("fraction",)),
    },
    "pH": {"pH": (_IDENTITY, ("pH",))},
    "°C": {
        "°C": (_IDENTITY, ("°C", "degC", "C", "celsius")),
        "°F": (Linear(5 / 9, -32 * 5 / 9), ("°F", "degF", "F", "fahrenheit")),
        "K": (Linear(1, -273.15), ("K", "kelvin")),
    },
    "rpm": {
        "rpm": (_IDENTITY, ("rpm", "1/min")),
        "rps": (Linear(60), ("rps", "1/s", "Hz")),
    },
    "L/min": {
        "L/min": (_IDENTITY, ("L/min", "slpm", "lpm")),
        "mL/min": (Linear(1e-3), ("mL/min", "sccm", "ccm")),
        "L/h": (Linear(1 / 60), ("L/h",)),
    },
    "mL/h": {
        "mL/h": (_IDENTITY, ("mL/h", "mL/hr")),
        "mL/min": (Linear(60), ("mL/min",)),
        "mL/day": (Linear(1 / 24), ("mL/day", "mL/d")),
        "L/h": (Linear(1000), ("L/h", "L/hr")),
        "L/day": (Linear(1000 / 24), ("L/day", "L/d")),
    },
    # Gas flows of a few mL/min (CO2 for pH control), often logged in sccm or L/min.
    "mL/min": {
        "mL/min": (_IDENTITY, ("mL/min", "sccm", "ccm")),
        "L/min": (Linear(1000), ("L/min", "slpm", "lpm")),
        "L/h": (Linear(1000 / 60), ("L/h",)),
    },
    "L": {
        "L": (_IDENTITY, ("L", "litre", "liter")),
        "mL": (Linear(1e-3), ("mL",)),
        "m3": (Linear(1000), ("m3", "m^3")),
    },
    "%": {
        "%": (_IDENTITY, ("%", "percent")),
        "fraction": (Linear(100), ("fraction", "0-1")),
    },
}

# Molar masses turn mmol/L into g/L for the metabolites (domain notes: glucose
# 180.16 g/mol, 1 g/L = 5.55 mM; lactate 90.08 g/mol, 1 g/L = 11.1 mM).
_MOLAR_MASS_G_PER_MOL: Mapping[str, float] = {"glucose": 180.16, "lactate": 90.08}


def _key(text: str) -> str:
    """Spelling-insensitive key: lower case, letters and digits only (``°`` dropped)."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def units_of(field: str) -> dict[str, tuple[Linear, tuple[str, ...]]]:
    """The units a field accepts: name -> (conversion to canonical, spellings).

    >>> list(units_of("glucose"))
    ['g/L', 'mg/L', 'mg/dL', 'mM']
    >>> list(units_of("co2_flow"))
    ['mL/min', 'L/min', 'L/h']
    >>> units_of("co2_flow")["L/min"][0](0.25)
    250.0
    >>> units_of("reactor_id")
    {}
    """
    units = dict(_UNITS.get(_CANONICAL_UNIT.get(field, ""), {}))
    if field in _MOLAR_MASS_G_PER_MOL:
        units["mM"] = (Linear(_MOLAR_MASS_G_PER_MOL[field] / 1000), ("mM", "mmol/L"))
    return units


class ColumnMapError(ValueError):
    """A column option that names an unknown field or unit."""


def _field_unit(field: str, unit: str | None) -> Linear:
    if field not in FIELDS:
        raise ColumnMapError(f"unknown field {field!r}; valid fields: {', '.join(FIELDS)}")
    units = units_of(field)
    if not unit:
        return _IDENTITY
    if not units:
        raise ColumnMapError(f"field {field!r} takes no unit, got {unit!r}")
    wanted = _key(unit)
    for conversion, spellings in units.values():
        if any(_key(s) == wanted for s in spellings):
            return conversion
    valid = ", ".join(units)
    raise ColumnMapError(f"unknown unit {unit!r} for {field} (canonical {_CANONICAL_UNIT[field]}); valid: {valid}")


@dataclass(frozen=True, slots=True)
class Column:
    """One source column feeding one Reading field, with its unit conversion."""

    source: str
    field: str
    convert: Linear = _IDENTITY


@dataclass(frozen=True, slots=True)
class Resolved:
    """How a CSV header maps onto Reading fields.

    ``fields`` maps each matched field to its column; ``unused`` lists header
    columns that feed nothing; ``ambiguous`` maps a field to the columns that
    all matched it automatically (none is used).
    """

    fields: dict[str, Column]
    unused: tuple[str, ...]
    ambiguous: dict[str, tuple[str, ...]]


def _automatic_index() -> dict[str, tuple[str, Linear] | None]:
    """Spelling key -> (field, conversion); ``None`` marks a key two meanings share."""
    index: dict[str, tuple[str, Linear] | None] = {}
    for field in FIELDS:
        names = (field, *ALIASES.get(field, ()))
        suffixes = [("", _IDENTITY)] + [
            (spelling, conversion) for conversion, spellings in units_of(field).values() for spelling in spellings
        ]
        for name in names:
            for suffix, conversion in suffixes:
                key = _key(name) + _key(suffix)
                meaning = (field, conversion)
                index[key] = meaning if index.get(key, meaning) == meaning else None
    return index


_AUTOMATIC = _automatic_index()


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Explicit column options; everything else is matched automatically.

    >>> ColumnMap.parse(["VCD=vcd:cells/mL"]).columns[0].convert(2.5e6)
    2.5
    >>> try:
    ...     ColumnMap.parse(["Glc=glucose:mol/L"])
    ... except ColumnMapError as err:
    ...     print(err)
    unknown unit 'mol/L' for glucose (canonical g/L); valid: g/L, mg/L, mg/dL, mM
    """

    columns: tuple[Column, ...] = ()

    @classmethod
    def parse(cls, options: Iterable[str]) -> ColumnMap:
        """Parse ``SOURCE=FIELD`` / ``SOURCE=FIELD:UNIT`` options (the last ``=`` splits)."""
        columns: list[Column] = []
        for option in options:
            source, sep, target = option.rpartition("=")
            field, _, unit = target.partition(":")
            source, field, unit = source.strip(), field.strip(), unit.strip()
            if not sep or not source or not field:
                raise ColumnMapError(f"bad column option {option!r}: expected SOURCE=FIELD or SOURCE=FIELD:UNIT")
            column = Column(source, field, _field_unit(field, unit or None))
            if any(c.field == field for c in columns):
                raise ColumnMapError(f"field {field!r} is mapped twice")
            columns.append(column)
        return cls(tuple(columns))

    def resolve(self, header: Sequence[str]) -> Resolved:
        """Match a CSV header: explicit options first, then automatic matches.

        Raises :class:`ColumnMapError` when an option names a column the header lacks.
        """
        found = set(header)
        missing = [c.source for c in self.columns if c.source not in found]
        if missing:
            raise ColumnMapError(
                f"mapped column(s) {', '.join(map(repr, missing))} not in the file; "
                f"columns found: {', '.join(map(repr, header))}"
            )
        fields = {c.field: c for c in self.columns}
        taken = {c.source for c in self.columns}
        candidates: dict[str, list[Column]] = {}
        for name in header:
            meaning = _AUTOMATIC.get(_key(name)) if name not in taken else None
            if meaning is not None and meaning[0] not in fields:
                candidates.setdefault(meaning[0], []).append(Column(name, *meaning))
        ambiguous: dict[str, tuple[str, ...]] = {}
        for field, columns in candidates.items():
            if len(columns) == 1:
                fields[field] = columns[0]
            else:
                ambiguous[field] = tuple(c.source for c in columns)
        used = {c.source for c in fields.values()}
        unused = tuple(name for name in header if name not in used)
        return Resolved(fields, unused, ambiguous)


def field_hint(field: str) -> str:
    """The canonical unit of a field for messages, e.g. ``'glucose [g/L]'``.

    >>> field_hint("glucose"), field_hint("batch_id")
    ('glucose [g/L]', 'batch_id')
    """
    unit = _CANONICAL_UNIT.get(field)
    return f"{field} [{unit}]" if unit else field
