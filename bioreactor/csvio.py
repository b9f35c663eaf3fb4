"""Read any CSV of bioreactor samples into validated :class:`~bioreactor.contract.Reading` objects.

This is the project's one CSV parser: the replay, the offline analysis and the
model all read files through it, so a file is judged the same way everywhere.
A bad row never stops the reading: each data row yields either a :class:`Row`
or a :class:`RowError` with its line number and a reason naming the field.

>>> import io
>>> text = '''Batch,Time [h],VCD,Glc (mM),lactate,DO,pH,Temp_F,agitation,airflow,feed_rate
... B7,0,0.4,33.3,0.2,95,7.05,98.6,80,0.02,0
... B7,0.5,0.41,abc,0.2,94,7.05,98.6,80,0.02,0
... '''
>>> source = CsvReadings(io.StringIO(text), ColumnMap.parse(["Time [h]=culture_h"]),
...                      reactor_id="R7", start=datetime(2026, 1, 1, tzinfo=UTC))
>>> good, bad = list(source)
>>> good.reading.reactor_id, good.reading.batch_id, good.reading.seq
('R7', 'B7', 0)
>>> round(good.reading.glucose, 2), good.reading.temperature
(6.0, 37.0)
>>> print(bad)
line 3: glucose (column 'Glc (mM)'): not a number: 'abc'

Missing identifiers get defaults: without a ``reactor_id`` column every row
belongs to the caller's ``reactor_id`` (by default derived from the file
name); without ``batch_id`` the batch is the reactor id; without ``seq`` rows
are numbered per reactor in file order, counting good rows only; without
``timestamp`` it is ``start + culture_h``; without ``culture_h`` it is the hours
since the first good row of the same reactor and batch. Timestamps without a
time zone are taken as UTC (``naive_timezone``).
"""

from __future__ import annotations

import csv
import difflib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd

from bioreactor.columns import (
    FIELDS,
    OPTIONAL_FIELDS,
    ColumnMap,
    Resolved,
    _key,
    field_hint,
)
from bioreactor.contract import ContractError, Reading, from_dict
from bioreactor.contract.topics import is_valid_reactor_id

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = [
    "FRAME_COLUMNS",
    "ColumnMap",
    "CsvReadings",
    "MissingColumnsError",
    "Row",
    "RowError",
    "RowResult",
    "default_reactor_id",
    "read_frame",
]

#: Column order of :func:`read_frame`: the Reading fields, labels last (as the generated
#: datasets); an optional column appears only when the file has it.
FRAME_COLUMNS: tuple[str, ...] = FIELDS

_IDENTIFIERS_WITH_DEFAULTS = frozenset({"reactor_id", "batch_id", "seq"})
_REQUIRED = tuple(f for f in FIELDS if f not in OPTIONAL_FIELDS)
_TEXT_FIELDS = frozenset({"reactor_id", "batch_id", "fault"})
# Numeric cells that mean "not measured" (pandas writes an empty cell; other tools these words).
_MISSING = frozenset({"na", "n/a", "null", "none"})


# pandas dtypes of read_frame's non-float columns; "Int64" keeps missing labels as <NA>.
_DTYPES = {
    "timestamp": "datetime64[ms, UTC]",
    "reactor_id": "str",
    "batch_id": "str",
    "fault": "str",
    "seq": "int64",
    "fault_effective": "Int64",
}


class MissingColumnsError(ValueError):
    """A CSV that lacks columns for required fields; raised before any row is read."""

    def __init__(self, missing: list[str], resolved: Resolved, header: list[str]) -> None:
        self.missing = tuple(missing)
        self.found = tuple(header)
        lines = [f"the CSV has no column for: {', '.join(map(field_hint, missing))}"]
        lines.append(f"columns found: {', '.join(map(repr, header)) or '(none)'}")
        for field, sources in resolved.ambiguous.items():
            lines.append(f"{field} is matched by several columns ({', '.join(map(repr, sources))}): map one")
        keys = {_key(name): name for name in resolved.unused}
        for field in missing:
            for close in difflib.get_close_matches(_key(field), keys, n=1, cutoff=0.5):
                lines.append(f"did you mean --map '{keys[close]}={field}[:UNIT]'?")
        lines.append("map columns with --map 'SOURCE=FIELD' or --map 'SOURCE=FIELD:UNIT'")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class Row:
    """A data row that became a valid reading; ``line`` is its first line in the file (from 1)."""

    line: int
    reading: Reading


@dataclass(frozen=True, slots=True)
class RowError:
    """A data row that could not be used, with the field at fault and the original text."""

    line: int
    field: str
    reason: str
    text: str
    column: str | None = None
    reactor_id: str | None = None
    value: str = ""  # the offending cell, when one cell is at fault

    def __str__(self) -> str:
        where = f"{self.field} (column {self.column!r})" if self.column else self.field
        return f"line {self.line}: {where + ': ' if where else ''}{self.reason}"


RowResult = Row | RowError


def default_reactor_id(name: str) -> str:
    """A valid reactor id made from a file name.

    >>> default_reactor_id("/data/run 12 (old).csv")
    'run-12--old'
    >>> default_reactor_id("...")
    'R1'
    """
    stem = Path(name).stem
    return re.sub(r"[^A-Za-z0-9_.-]", "-", stem).strip("_.-")[:64] or "R1"


def _delimiter(header_line: str) -> str:
    # Spreadsheets in many locales write ';' (decimal comma) or tabs.
    counts = {d: header_line.count(d) for d in ",;\t"}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _open(path: str | Path) -> TextIO:
    # utf-8-sig drops the byte-order mark that spreadsheet exports start with.
    return open(path, encoding="utf-8-sig", newline="")


class _LineTap:
    """Feeds lines to ``csv.reader`` and keeps those of the current row, to quote them back."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line

    def pop_text(self) -> str:
        text = "".join(self.taken).rstrip("\r\n")
        self.taken.clear()
        return text


def _reader(handle: TextIO) -> tuple[_LineTap, CsvReader]:
    first = handle.readline()
    tap = _LineTap(itertools.chain([first] if first else [], handle))
    return tap, csv.reader(tap, delimiter=_delimiter(first))


def _parse_cell(field: str, text: str, convert: Any, naive_timezone: tzinfo) -> Any:
    """The typed value of one cell, or ``None`` when it is empty."""
    if text == "" or (field not in _TEXT_FIELDS and text.lower() in _MISSING):
        if field in OPTIONAL_FIELDS:
            return None
        raise ContractError(field, "is empty")
    if field == "timestamp":
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            raise ContractError(field, f"not an ISO 8601 timestamp: {text!r}") from None
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=naive_timezone)
    if field in _TEXT_FIELDS:
        return text
    try:
        number: float = int(text) if field in ("seq", "fault_effective") else float(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise ContractError(field, f"not a number: {text!r}") from None
    if math.isnan(number) and field in OPTIONAL_FIELDS:  # a measurement not taken
        return None
    if not math.isfinite(number):
        raise ContractError(field, f"must be a finite number, got {text!r}")
    return convert(number) if isinstance(number, float) else number


class CsvReadings:
    """The readings of one CSV file, one :data:`RowResult` per data row, in file order.

    The header is read and matched in the constructor, so a file that lacks
    required columns raises :class:`MissingColumnsError` (or an unknown mapped
    column :class:`~bioreactor.columns.ColumnMapError`) before any row is read.
    A path can be iterated again; an open text stream only once.

    Parameters
    ----------
    source
        A path or an open text stream.
    columns
        Explicit column options; other columns are matched automatically.
    reactor_id
        Reactor of every row, replacing any reactor column; by default the
        reactor column or, without one, an id made from the file name.
    start
        Time of culture hour 0 for files without timestamps (default: now).
    naive_timezone
        Zone of timestamps written without one.
    """

    def __init__(
        self,
        source: str | Path | TextIO,
        columns: ColumnMap | None = None,
        *,
        reactor_id: str | None = None,
        start: datetime | None = None,
        naive_timezone: tzinfo = UTC,
    ) -> None:
        self._source = source
        self.name = str(source) if isinstance(source, str | Path) else str(getattr(source, "name", ""))
        if reactor_id is not None and not is_valid_reactor_id(reactor_id):
            raise ValueError(f"invalid reactor id {reactor_id!r}: letters, digits, '_', '.', '-'")
        self._reactor_override = reactor_id
        self.default_reactor_id = reactor_id or default_reactor_id(self.name or "R1")
        self.start = start or datetime.now(UTC).replace(microsecond=0)
        self.naive_timezone = naive_timezone
        self._stream: tuple[_LineTap, CsvReader] | None = None
        if isinstance(source, str | Path):
            with _open(source) as handle:
                header: list[str] = next(_reader(handle)[1], [])
        else:
            self._stream = _reader(source)
            header = next(self._stream[1], [])
        self.header = [name.strip() for name in header]
        self.columns = (columns or ColumnMap()).resolve(self.header)
        if reactor_id is not None:
            self.columns.fields.pop("reactor_id", None)
        self._check_required()

    def _check_required(self) -> None:
        present = set(self.columns.fields) | _IDENTIFIERS_WITH_DEFAULTS
        missing = [f for f in _REQUIRED if f not in present and f not in ("timestamp", "culture_h")]
        if not present & {"timestamp", "culture_h"}:
            missing.insert(0, "timestamp or culture_h")
        if missing:
            raise MissingColumnsError(missing, self.columns, self.header)

    def __iter__(self) -> Iterator[RowResult]:
        if isinstance(self._source, str | Path):
            with _open(self._source) as handle:
                tap, reader = _reader(handle)
                next(reader, None)  # the header, already matched
                yield from self._rows(tap, reader)
        elif self._stream is not None:
            stream, self._stream = self._stream, None
            yield from self._rows(*stream)
        else:
            raise RuntimeError("a text stream can be read only once")

    def _rows(self, tap: _LineTap, reader: CsvReader) -> Iterator[RowResult]:
        tap.pop_text()
        seq: Counter[str] = Counter()
        origins: dict[tuple[str, str], datetime] = {}
        fields = self.columns.fields
        for cells in reader:
            # A quoted cell may span lines: report the row's first one.
            line = reader.line_num - len(tap.taken) + 1
            text = tap.pop_text()
            if not any(c.strip() for c in cells):
                continue
            by_name = dict(zip(self.header, cells, strict=False))
            try:
                if len(cells) != len(self.header):
                    raise ContractError("", f"has {len(cells)} cells, the header has {len(self.header)}")
                data = {
                    field: _parse_cell(field, by_name[col.source].strip(), col.convert, self.naive_timezone)
                    for field, col in fields.items()
                }
                self._fill_identifiers(data, seq, origins)
                reading = from_dict(Reading, data)
            except ContractError as err:
                column = fields[err.field].source if err.field in fields else None
                value = by_name.get(column, "") if column else ""
                yield RowError(line, err.field, err.reason, text, column, self._reactor_of(by_name), value)
                continue
            seq[reading.reactor_id] += 1
            yield Row(line, reading)

    def _reactor_of(self, by_name: dict[str, str]) -> str | None:
        """The reactor a row belongs to, if it can be told (to file its error under)."""
        column = self.columns.fields.get("reactor_id")
        if column is None:
            return self.default_reactor_id
        reactor = by_name.get(column.source, "").strip()
        return reactor if is_valid_reactor_id(reactor) else None

    def _fill_identifiers(
        self, data: dict[str, Any], seq: Counter[str], origins: dict[tuple[str, str], datetime]
    ) -> None:
        reactor = data.setdefault("reactor_id", self.default_reactor_id)
        if not is_valid_reactor_id(reactor):
            raise ContractError("reactor_id", f"{reactor!r} cannot name an MQTT topic (letters, digits, _ . -)")
        batch = data.setdefault("batch_id", reactor)
        data.setdefault("seq", seq[reactor])
        if "timestamp" not in data:
            data["timestamp"] = self.start + timedelta(hours=data["culture_h"])
        elif "culture_h" not in data:
            origin = origins.setdefault((reactor, batch), data["timestamp"])
            data["culture_h"] = (data["timestamp"] - origin).total_seconds() / 3600


def read_frame(
    source: str | Path | TextIO,
    columns: ColumnMap | None = None,
    *,
    reactor_id: str | None = None,
    start: datetime | None = None,
    naive_timezone: tzinfo = UTC,
    lines: bool = False,
) -> tuple[pd.DataFrame, list[RowError]]:
    """A CSV as a validated DataFrame of canonical columns, plus the rows that were skipped.

    Columns follow :data:`FRAME_COLUMNS`; an optional column (viability,
    setpoints, ``fault`` labels, ...) is present only when the file has it.
    Rows stay in file order; with ``lines`` a ``line`` column gives each row's
    line in the file. Other arguments are those of :class:`CsvReadings`.

    >>> import io
    >>> text = ("reactor_id,culture_h,vcd,glucose,lactate,do,ph,temperature,agitation,airflow,"
    ...         "feed_rate\\nR1,0,0.4,6,0.2,95,7.05,37,80,0.02,0\\n"
    ...         "R1,1,0.5,6,0.2,95,7.05,37,80,0.02,x\\n")
    >>> frame, errors = read_frame(io.StringIO(text))
    >>> list(frame.columns[:5]), len(frame), errors[0].field
    (['timestamp', 'reactor_id', 'batch_id', 'seq', 'culture_h'], 1, 'feed_rate')
    """
    readings = CsvReadings(source, columns, reactor_id=reactor_id, start=start, naive_timezone=naive_timezone)
    names = [c for c in FRAME_COLUMNS if c not in OPTIONAL_FIELDS or c in readings.columns.fields]
    rows: list[tuple[Any, ...]] = []
    errors: list[RowError] = []
    for result in readings:
        if isinstance(result, RowError):
            errors.append(result)
        else:
            rows.append((*(getattr(result.reading, c) for c in names), result.line))
    frame = pd.DataFrame.from_records(rows, columns=[*names, "line"])
    frame = frame.astype({name: _DTYPES.get(name, "float64") for name in names} | {"line": "int64"})
    return (frame if lines else frame.drop(columns="line")), errors
