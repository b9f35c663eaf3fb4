"""A plant's CSV export: the column names, units and time format its historian writes.

The simulator computes canonical readings (the Reading fields in their contract
units, see ``simulator.frame``). A plant writes them its own way; every unit is
one that :mod:`bioreactor.columns` reads, so the export's :meth:`Export.map_options`
turn the file back into canonical readings.

>>> export = Export(columns=(ExportColumn("glucose", "Glc (mmol/L)", "mmol/L"),), setpoints=False)
>>> export.map_options()
['Glc (mmol/L)=glucose:mmol/L']
>>> frame = pd.DataFrame({"glucose": [5.0], "do_setpoint": [40.0], "ph_setpoint": [7.0],
...                       "temperature_setpoint": [37.0]})
>>> export.apply(frame)
   Glc (mmol/L)
0        27.753
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from bioreactor.columns import OPTIONAL_FIELDS, ColumnMap, Linear
from simulator.frame import CSV_COLUMNS, DECIMALS

__all__ = ["OMITTABLE", "SETPOINT_COLUMNS", "Export", "ExportColumn"]

SETPOINT_COLUMNS = frozenset({"do_setpoint", "ph_setpoint", "temperature_setpoint"})
#: Columns an export may leave out: those a Reading may lack, and ``seq``, which the CSV
#: reader numbers itself in file order (plant historians rarely keep a sample counter).
OMITTABLE = OPTIONAL_FIELDS | {"seq"}


def _resolution(field: str) -> int | None:
    """Decimals the simulator keeps for a field; a set point has its variable's."""
    return DECIMALS.get(field, DECIMALS.get(field.removesuffix("_setpoint")))


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """The column a canonical field is written to: its ``name`` and ``unit`` (None: the canonical unit).

    >>> column = ExportColumn("temperature", "Temp (degF)", "degF")
    >>> column.map_option, column.decimals
    ('Temp (degF)=temperature:degF', 2)
    >>> column.from_canonical(pd.Series([37.0, 32.0])).tolist()
    [98.6, 89.6]
    """

    field: str
    name: str
    unit: str | None = None

    def __post_init__(self) -> None:
        if self.field not in CSV_COLUMNS:
            raise ValueError(f"export column {self.name!r}: unknown field {self.field!r}")
        if not self.name.strip() or self.name != self.name.strip() or "=" in self.name:
            raise ValueError(
                f"export column {self.name!r} of {self.field}: a name is non-empty, without outer spaces or '='"
            )
        if self.unit is not None and _resolution(self.field) is None:
            raise ValueError(f"export column {self.name!r}: {self.field} is not a measured value, it takes no unit")
        self._conversion()  # raises ColumnMapError (a ValueError) for a unit the reader does not know

    @property
    def map_option(self) -> str:
        """The ``--map`` option that reads this column back into its field."""
        return f"{self.name}={self.field}" + (f":{self.unit}" if self.unit else "")

    def _conversion(self) -> Linear:
        """What the CSV reader will apply: canonical = value * scale + offset."""
        return ColumnMap.parse([self.map_option]).columns[0].convert

    @property
    def decimals(self) -> int | None:
        """Decimals written: as fine as the canonical value's, so reading back loses nothing.

        A canonical step of 10^-d is 10^-d / scale in this unit, hence d + log10(scale) decimals.
        """
        resolution = _resolution(self.field)
        if resolution is None:
            return None
        return max(0, math.ceil(resolution + math.log10(abs(self._conversion().scale)) - 1e-9))

    def from_canonical(self, values: pd.Series) -> pd.Series:
        """Canonical values in this column's unit, rounded to :attr:`decimals`."""
        if self.unit is None or self.decimals is None:
            return values
        conversion = self._conversion()
        converted = (values - conversion.offset) / conversion.scale
        return converted.round(self.decimals)


@dataclass(frozen=True, slots=True)
class Export:
    """How a plant writes its CSV: renamed and converted columns, columns left out, time format.

    Fields without an :class:`ExportColumn` keep their canonical name and unit.
    ``setpoints=False`` leaves out the three set-point columns; ``omit`` names
    other fields to leave out (only those in :data:`OMITTABLE`).
    ``timestamp_format`` is a ``strftime`` pattern (None: the contract's ISO 8601
    with milliseconds and ``Z``); it must write ISO 8601, which the CSV reader
    parses, naive times being taken as UTC.
    """

    columns: tuple[ExportColumn, ...] = ()
    omit: frozenset[str] = frozenset()
    setpoints: bool = True
    timestamp_format: str | None = None

    def __post_init__(self) -> None:
        twice = [f for f, n in Counter(c.field for c in self.columns).items() if n > 1]
        if twice:
            raise ValueError(f"export: field(s) {', '.join(twice)} given more than one column")
        not_omittable = sorted(self.omit - OMITTABLE)
        if not_omittable:
            raise ValueError(
                f"export: cannot leave out {', '.join(not_omittable)}; omittable: {', '.join(sorted(OMITTABLE))}"
            )
        header = self.header()
        clashes = [n for n, k in Counter(header).items() if k > 1]
        if clashes:
            raise ValueError(f"export: column name(s) {', '.join(map(repr, clashes))} used twice")
        if self.timestamp_format is not None:
            sample = datetime(2026, 1, 2, 3, 4, 5)
            try:
                parsed = datetime.fromisoformat(sample.strftime(self.timestamp_format))
            except ValueError:
                parsed = None
            if parsed is None or parsed.replace(tzinfo=None) != sample:
                raise ValueError(
                    f"export: timestamp_format {self.timestamp_format!r} must write ISO 8601 to the second"
                    " (e.g. '%Y-%m-%d %H:%M:%S'), which the CSV reader parses"
                )

    @property
    def dropped(self) -> frozenset[str]:
        """Canonical columns the export leaves out."""
        return self.omit if self.setpoints else self.omit | SETPOINT_COLUMNS

    def _written(self) -> list[ExportColumn]:
        """Every column written, in canonical order, with its name and unit."""
        given = {c.field: c for c in self.columns}
        return [given.get(f, ExportColumn(f, f)) for f in CSV_COLUMNS if f not in self.dropped]

    def header(self) -> list[str]:
        """The export's column names, in order."""
        return [c.name for c in self._written()]

    def map_options(self) -> list[str]:
        """``--map`` options that read the export back as canonical readings (renamed or converted columns)."""
        return [c.map_option for c in self._written() if c.name != c.field or c.unit]

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The canonical ``frame`` (``simulator.frame`` columns) as this plant writes it."""
        out = frame.drop(columns=[c for c in frame.columns if c in self.dropped])
        for column in self.columns:
            if column.field in out:
                out[column.field] = column.from_canonical(out[column.field])
        if self.timestamp_format is not None and "timestamp" in out:
            out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).dt.strftime(self.timestamp_format)
        return out.rename(columns={c.field: c.name for c in self.columns})
