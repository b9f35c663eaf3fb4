"""Rows a file reader skipped, summarised by reason: one line per kind of problem, not per row.

A 69,000-row export with a few thousand bad cells should say "glucose: not a
number, 3,120 rows, first at line 88 ('n.d.')", not print 3,120 lines, and
never fail the whole file. Reasons are grouped by field and by their wording
with the row-specific values taken out.

>>> summary = RejectionSummary()
>>> for line, cell in [(5, "abc"), (9, "n.d."), (12, "x")]:
...     summary.add(line, "glucose", f"not a number: {cell!r}", cell)
>>> summary.add(20, "vcd", "must be a finite number, got 'inf'", "inf")
>>> summary.total
4
>>> print(summary.text())
4 rows skipped:
  3 x glucose: not a number (first at line 5, e.g. 'abc')
  1 x vcd: must be a finite number (first at line 20, e.g. 'inf')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A quoted value or the ", got ..." tail of a reason: what differs from row to row.
_SPECIFIC = re.compile(r"(?::|,)?\s*(?:got\s+)?'[^']*'|\s+at\s+byte\s+\d+")


def reason_kind(reason: str) -> str:
    """A reason without its row-specific values, so equal problems group together.

    >>> reason_kind("not a number: 'abc'"), reason_kind("must be a finite number, got 'NaN'")
    ('not a number', 'must be a finite number')
    """
    return _SPECIFIC.sub("", reason).strip(" :,") or reason


@dataclass(slots=True)
class _Group:
    count: int
    first_line: int
    example: str


class RejectionSummary:
    """Counts skipped rows by field and kind of reason, keeping the first line and an example."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], _Group] = {}

    def add(self, line: int, field: str, reason: str, example: str = "") -> None:
        """Count one skipped row: its line in the file, the field at fault, why, and the value."""
        key = (field, reason_kind(reason))
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = _Group(1, line, example[:80])
        else:
            group.count += 1
            group.first_line = min(group.first_line, line)

    @property
    def total(self) -> int:
        """Rows skipped in all."""
        return sum(g.count for g in self._groups.values())

    def groups(self) -> list[tuple[str, str, int, int, str]]:
        """``(field, reason, count, first line, example)``, most frequent first."""
        rows = [(f, r, g.count, g.first_line, g.example) for (f, r), g in self._groups.items()]
        return sorted(rows, key=lambda row: (-row[2], row[3]))

    def text(self, indent: str = "  ") -> str:
        """The summary in a few lines ("" when nothing was skipped)."""
        if not self._groups:
            return ""
        lines = [f"{self.total} rows skipped:"]
        for field, reason, count, first, example in self.groups():
            where = f"{field}: " if field else ""
            shown = f", e.g. {example!r}" if example else ""
            lines.append(f"{indent}{count} x {where}{reason} (first at line {first}{shown})")
        return "\n".join(lines)
