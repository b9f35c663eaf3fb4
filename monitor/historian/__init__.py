"""The monitor's history: readings, alarm events, acknowledgements, recommendations, dead letters.

:class:`Historian` is the interface, :class:`SqliteHistorian` the backend in
one file, :func:`export` writes one batch to CSV or Parquet.
"""

from monitor.historian.base import Changeset, Historian, Outgoing, Snapshot, Table
from monitor.historian.export import ExportFormat, export
from monitor.historian.sqlite import DEFAULT_PATH, SqliteHistorian

__all__ = [
    "DEFAULT_PATH",
    "Changeset",
    "ExportFormat",
    "Historian",
    "Outgoing",
    "Snapshot",
    "SqliteHistorian",
    "Table",
    "export",
]
