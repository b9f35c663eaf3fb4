"""The analysis page: upload a CSV of a past run, see what the monitor and the feed model make of it.

The file goes through the same parser (:mod:`bioreactor.csvio`), monitor
engine (:mod:`monitor.analyze`) and feed model (:mod:`models.predict`) as
``bioreactor analyze`` and ``bioreactor predict``, so the page and the command
line agree on every row. A bad file (missing columns, unknown unit, not a CSV)
gives a message in the page, never a traceback.

>>> parse_mappings("# units of the plant historian\\nGlc (mM)=glucose:mM\\n\\nTemp_F = temperature:degF")
['Glc (mM)=glucose:mM', 'Temp_F = temperature:degF']
"""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn

from bioreactor.columns import ColumnMap
from bioreactor.contract import AlarmEvent
from bioreactor.csvio import CsvReadings, MissingColumnsError, RowError, default_reactor_id, read_frame
from dashboards.plots import BatchPlots, Columns, frame_columns, marker_columns, recommendation_columns
from dashboards.timeline import place_events
from dashboards.widgets import alarm_table, alarm_tabulator
from models.artifact import IncompatibleModelError, load_model
from models.predict import HIGH, LOW, RECOMMENDED, recommend_frame
from monitor.analyze import Analysis, analyze_rows, events_frame
from monitor.engine import MonitorEngine

log = logging.getLogger(__name__)

_KEY_SEPARATOR = " / "


class UploadError(ValueError):
    """A file or mapping the analysis cannot use; the message is written for the page."""


@dataclass
class UploadResult:
    """Everything the page shows about one uploaded file."""

    name: str
    frame: pd.DataFrame
    analysis: Analysis
    rejected: list[RowError]
    predictions: pd.DataFrame | None
    prediction_note: str

    def batches(self) -> list[str]:
        """``reactor / batch`` keys of the batches with readings, in file order."""
        pairs = self.frame[["reactor_id", "batch_id"]].drop_duplicates()
        return [f"{r}{_KEY_SEPARATOR}{b}" for r, b in pairs.itertuples(index=False)]

    def summary(self) -> pd.DataFrame:
        """One row per batch: rows used, rejected and why, alarms by check."""
        return pd.DataFrame(
            [
                {
                    "reactor": s.reactor_id,
                    "batch": s.batch_id,
                    "rows": s.rows,
                    "refused": sum(s.refused.values()),
                    "alarms": sum(s.alarms.values()),
                    "alarms by check": ", ".join(f"{c} ×{n}" for c, n in sorted(s.alarms.items())),
                    "refused because": "; ".join(f"{r} ×{n}" for r, n in s.refused.most_common()),
                }
                for _, s in sorted(self.analysis.batches.items())
            ]
        )

    def rejected_table(self) -> pd.DataFrame:
        """The rows the parser refused, with line numbers and reasons."""
        return pd.DataFrame(
            [{"line": e.line, "field": e.field, "column": e.column or "", "reason": e.reason, "row": e.text}
             for e in self.rejected],
            columns=["line", "field", "column", "reason", "row"],
        )

    def events_table(self) -> pd.DataFrame:
        """The alarm events as the page's table, one row per event."""
        return events_table(self.analysis.events)

    def events_csv(self) -> str:
        """The events as ``bioreactor analyze --out`` writes them."""
        return str(events_frame(self.analysis.events).to_csv(index=False))

    def batch_frame(self, key: str) -> pd.DataFrame:
        """The readings of one batch (with predictions when there are any)."""
        reactor, batch = key.split(_KEY_SEPARATOR, 1)
        frame = self.predictions if self.predictions is not None else self.frame
        return frame[(frame["reactor_id"] == reactor) & (frame["batch_id"] == batch)]

    def batch_markers(self, key: str) -> Columns:
        """Alarm markers of one batch, placed on its culture-time axis."""
        rows = self.batch_frame(key)
        reactor, batch = key.split(_KEY_SEPARATOR, 1)
        events = [e for e in self.analysis.events if e.reactor_id == reactor and e.batch_id == batch]
        return marker_columns(place_events(rows, events))

    def batch_recommendations(self, key: str) -> Columns:
        rows = self.batch_frame(key)
        if RECOMMENDED not in rows:
            return recommendation_columns([])
        return {
            "day": (rows["culture_h"] / 24).tolist(),
            "recommended": rows[RECOMMENDED].tolist(),
            "low": rows[LOW].tolist(),
            "high": rows[HIGH].tolist(),
        }


def events_table(events: Iterable[AlarmEvent]) -> pd.DataFrame:
    """:func:`dashboards.widgets.alarm_table` with every column text, also when there are no events.

    An empty alarm table's severity column is numeric and a filled one's text. Panel configures a
    Tabulator by its columns' types (numbers sort as numbers) and rebuilds it in the browser when
    they change; with fixed types the page refills the table of one file with another's events
    instead of rebuilding it, also when one of them has none.

    >>> events_table([]).dtypes.map(str).unique().tolist()
    ['str']
    """
    return alarm_table(events).astype("str")


def parse_mappings(text: str) -> list[str]:
    """``SOURCE=FIELD[:UNIT]`` options from the page's text box: one a line, ``#`` starts a comment."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def analyze_upload(data: bytes, filename: str, mappings: str = "", model_path: Path | None = None) -> UploadResult:
    """Run the offline analysis (and the feed model, when ``model_path`` exists) on an uploaded file.

    Raises :class:`UploadError` with a message for the page when the file or
    the mappings cannot be used.
    """
    if not data.strip():
        raise UploadError(f"{filename or 'the file'} is empty")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UploadError(f"{filename} is not UTF-8 text (byte {err.start}); export the CSV as UTF-8") from None
    try:
        columns = ColumnMap.parse(parse_mappings(mappings))
        with tempfile.TemporaryDirectory() as folder:
            # Saved under its own name: without a reactor column the reactor id comes from the file name.
            path = Path(folder) / f"{default_reactor_id(filename or 'upload')}.csv"
            path.write_bytes(data)
            # One start for both passes, so events and readings share time stamps in files without any.
            start = datetime.now(UTC).replace(microsecond=0)
            analysis = analyze_rows(CsvReadings(path, columns, start=start), MonitorEngine())
            frame, rejected = read_frame(path, columns, start=start)
    except MissingColumnsError as err:
        hint = "(on this page: one SOURCE=FIELD or SOURCE=FIELD:UNIT a line, without --map)"
        raise UploadError(f"{err}\n{hint}") from None
    except ValueError as err:  # unknown field or unit, bad mapping syntax, a mapped column not in the file
        raise UploadError(str(err)) from None
    if frame.empty:
        reasons = "\n".join(str(e) for e in rejected[:5])
        raise UploadError(f"{filename} has no usable rows.\n{reasons}".rstrip())
    predictions, note = _predict(frame, model_path)
    return UploadResult(filename, frame, analysis, rejected, predictions, note)


def _predict(frame: pd.DataFrame, model_path: Path | None) -> tuple[pd.DataFrame | None, str]:
    """Feed-rate recommendations for every row, or why there are none."""
    if model_path is None or not model_path.exists():
        return None, "No feed-rate model found: train one with `bioreactor train` to see recommendations."
    try:
        return recommend_frame(load_model(model_path), frame), f"Feed-rate recommendations by {model_path}."
    except (ValueError, IncompatibleModelError) as err:
        return None, f"No feed-rate recommendations: {err}"


#: Long words (a rejected CSV row has no spaces) break anywhere rather than run out of their cell.
_WRAP = ".tabulator-cell { overflow-wrap: anywhere; }"
_TABLE: dict[str, Any] = {
    "show_index": False, "disabled": True, "sizing_mode": "stretch_width", "layout": "fit_columns",
    "stylesheets": [_WRAP],
}
# A ``pre`` block keeps every line on one line; an error's rows and reasons wrap to the page instead.
_MESSAGE_STYLE = "pre { white-space: pre-wrap; overflow-wrap: anywhere; }"


class UploadPage:
    """One browser session's analysis page.

    Parameters
    ----------
    model_path
        The feed-rate model used when it exists.
    """

    def __init__(self, model_path: Path | None = None) -> None:
        self.model_path = model_path
        self.result: UploadResult | None = None
        self.plots = BatchPlots()
        self.file = pn.widgets.FileInput(accept=".csv,.txt,.tsv", label="CSV file")
        self.mappings = pn.widgets.TextAreaInput(
            label="Column mappings (optional): one SOURCE=FIELD or SOURCE=FIELD:UNIT a line",
            placeholder="Glc (mM)=glucose:mM\nTemp_F=temperature:degF",
            height=90,
            sizing_mode="stretch_width",
        )
        self.run = pn.widgets.Button(label="Analyze", color="primary", width=140)
        self.message = pn.pane.Alert(visible=False, sizing_mode="stretch_width", stylesheets=[_MESSAGE_STYLE])
        self.summary = pn.widgets.Tabulator(
            pd.DataFrame(),
            formatters={"alarms by check": {"type": "textarea"}, "refused because": {"type": "textarea"}},
            widths={"reactor": 110, "batch": 160, "rows": 80, "refused": 90, "alarms": 80},
            **_TABLE,
        )
        self.events = alarm_tabulator([], pagination="local", page_size=10, stylesheets=[_WRAP])
        self.rejected = pn.widgets.Tabulator(
            pd.DataFrame(),
            pagination="local",
            page_size=10,
            formatters={"reason": {"type": "textarea"}, "row": {"type": "textarea"}},
            widths={"line": 70, "field": 120, "column": 140},
            **_TABLE,
        )
        self.no_rejected = pn.pane.Markdown("Every row of the file was usable.")
        self.batch = pn.widgets.Select(label="Batch", options=[], width=320)
        self.download = pn.widgets.FileDownload(
            callback=self._events_file, filename="events.csv", label="Download events.csv",
            color="success", width=220, align="end",
        )
        self.plot_pane = pn.pane.Bokeh(self.plots.layout, sizing_mode="stretch_width")
        self.batch_row = pn.Row(self.batch, self.download)
        # Empty until there is an analysis to show.
        self.results = pn.Column(sizing_mode="stretch_width")
        self.run.on_click(self._on_run)
        self.batch.param.watch(lambda _: self.show_batch(), "value")

    def layout(self) -> pn.viewable.Viewable:
        return pn.Column(
            '<h1 style="margin-bottom:0">Bioreactor run analysis</h1>',
            '<p style="color:#57606a">Upload a CSV of readings: the monitor\'s checks and the feed model run over it '
            "exactly as over the live fleet. Columns are matched by name; map the others below.</p>",
            pn.Row(self.file, self.run),
            self.mappings,
            self.message,
            self.results,
            sizing_mode="stretch_width",
            margin=(0, 20),
        )

    def show(self, result: UploadResult) -> None:
        """Fill the page with an analysis."""
        self.result = result
        self.summary.value = result.summary()
        self.events.value = result.events_table()
        table = result.rejected_table()
        self.rejected.value = table
        keys = result.batches()
        # Chosen explicitly: a Select not yet on the page gives new options no value of its own.
        unchanged = self.batch.value == keys[0]
        self.batch.param.update(options=keys, value=keys[0])
        if unchanged:  # the value watcher draws the plots only when the value changes
            self.show_batch()
        rejected = f", {len(table)} rejected row(s) listed below" if len(table) else ""
        self.message.param.update(
            object=f"**{result.name}**: {len(result.frame)} readings in {len(self.batch.options)} batch(es), "
            f"{len(result.analysis.events)} alarm events{rejected}. {result.prediction_note}",
            alert_type="success",
            visible=True,
        )
        # A table joins the page with its rows and is never hidden: Tabulator lays a hidden table out
        # at zero size and draws no rows or header when it appears. Objects already on the page stay.
        self.results[:] = [
            "## Batches",
            self.summary,
            self.batch_row,
            self.plot_pane,
            "## Alarm events",
            self.events,
            "## Rejected rows",
            self.no_rejected if table.empty else self.rejected,
        ]

    def show_error(self, text: str) -> None:
        self.message.param.update(object=f"**Cannot analyse this file.**\n\n```\n{text}\n```",
                                  alert_type="danger", visible=True)
        self.results.clear()

    def show_batch(self) -> None:
        """Plot the chosen batch with its alarm markers and the model's recommendations."""
        if self.result is None or not self.batch.value:
            return
        key = self.batch.value
        self.plots.readings.data = frame_columns(self.result.batch_frame(key))
        self.plots.recommendations.data = self.result.batch_recommendations(key)
        self.plots.markers.data = self.result.batch_markers(key)

    async def _on_run(self, _: object) -> None:
        if self.file.value is None:
            self.show_error("choose a CSV file first")
            return
        self.run.disabled = True
        self.message.param.update(object=f"Analysing {self.file.filename}…", alert_type="info", visible=True)
        document = pn.state.curdoc
        try:
            # Off the server's event loop: a large file must not freeze the live page of other users.
            result: UploadResult | str = await asyncio.to_thread(
                analyze_upload, self.file.value, self.file.filename or "upload.csv", self.mappings.value or "",
                self.model_path,
            )
        except UploadError as err:
            result = str(err)
        except Exception as err:
            log.exception("analysis of %s failed", self.file.filename)
            result = f"the analysis failed unexpectedly: {err}"
        # Bokeh models may change only under the document lock, which a next-tick callback holds.
        if document is None:
            self._finish(result)
        else:
            document.add_next_tick_callback(partial(self._finish, result))

    def _finish(self, result: UploadResult | str) -> None:
        if isinstance(result, str):
            self.show_error(result)
        else:
            self.show(result)
        self.run.disabled = False

    def _events_file(self) -> io.StringIO:
        return io.StringIO(self.result.events_csv() if self.result else "")


def upload_page(model_path: Path | None = None) -> pn.viewable.Viewable:
    """A new session's analysis page."""
    pn.extension("tabulator")
    return UploadPage(model_path).layout()
