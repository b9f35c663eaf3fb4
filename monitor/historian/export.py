"""Write what a historian holds about one batch to a CSV or Parquet file.

Exported readings have the columns of a :class:`bioreactor.contract.Reading`,
so a readings CSV can be replayed or analysed like a simulator data set.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from monitor.historian.base import Historian, Table


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def export(
    historian: Historian,
    out: Path,
    *,
    batch_id: str | None,
    fmt: ExportFormat = ExportFormat.CSV,
    table: Table = Table.READINGS,
) -> int:
    """Write ``table`` of ``batch_id`` (every batch when ``None``) to ``out``; return its row count.

    Raises ``LookupError`` when there is nothing to export, so a typo in a
    batch id does not produce an empty file.
    """
    frame = historian.frame(table, batch_id)
    if frame.empty:
        scope = f"batch {batch_id!r}" if batch_id is not None else "the historian"
        raise LookupError(f"no {table.value} for {scope}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt is ExportFormat.PARQUET:
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    return len(frame)
