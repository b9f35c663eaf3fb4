"""Batch comparison: any batches, from the historian or an uploaded file, overlaid by culture time.

A process engineer asks "is this batch doing what the good ones did?": each chosen
batch is one line of the chosen variable against culture day, with the golden-batch
envelope behind and each batch's alarms as markers in its colour. The figure's
toolbar saves it as PNG.

>>> import pandas as pd
>>> batch = ComparedBatch("R1 / B1", pd.DataFrame({"culture_h": [0.0, 24.0], "glucose": [6.0, 4.0]}), ())
>>> overlay_columns(batch, "glucose")
{'day': [0.0, 1.0], 'value': [6.0, 4.0]}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from bioreactor.contract import AlarmEvent, AlarmState
from dashboards.guide import HOURS_PER_DAY, ProcessGuide
from dashboards.history import stored_payloads
from dashboards.plots import PANELS, Columns
from dashboards.timeline import place_events
from dashboards.upload import UploadError, UploadResult, analyze_upload
from dashboards.widgets import html_pane
from monitor.historian import Table, open_historian

#: Variables one can compare: every measured line of the batch plots.
VARIABLES: dict[str, str] = {
    s.column: f"{s.label} [{p.right if s.right_axis else p.unit}]"
    for p in PANELS
    for s in p.series
    if not s.dashed
}
#: Colour-blind-safe colours of the compared batches (Okabe & Ito), reused past eight.
BATCH_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
_SEPARATOR = " / "


@dataclass(frozen=True)
class ComparedBatch:
    """One batch to overlay: its readings (``culture_h`` and variables) and its raised alarms,
    as ``(culture hours, event)``."""

    label: str
    frame: pd.DataFrame
    alarms: tuple[tuple[float, AlarmEvent], ...]


def overlay_columns(batch: ComparedBatch, variable: str) -> Columns:
    """The batch's line of ``variable`` by culture day (empty when the batch lacks it)."""
    if variable not in batch.frame:
        return {"day": [], "value": []}
    rows = batch.frame[["culture_h", variable]].dropna()
    return {"day": (rows["culture_h"] / HOURS_PER_DAY).tolist(), "value": rows[variable].astype(float).tolist()}


def alarm_points(batch: ComparedBatch, variable: str) -> Columns:
    """Markers of the batch's alarms, on its ``variable`` line at the alarm's culture time."""
    line = overlay_columns(batch, variable)
    days = [hours / HOURS_PER_DAY for hours, _ in batch.alarms]
    values = np.interp(days, line["day"], line["value"]).tolist() if line["day"] else [math.nan] * len(days)
    return {
        "day": days,
        "value": values,
        "check": [event.check for _, event in batch.alarms],
        "message": [event.message for _, event in batch.alarms],
    }


def place_alarms(frame: pd.DataFrame, events: Sequence[AlarmEvent]) -> tuple[tuple[float, AlarmEvent], ...]:
    """Raised alarms of one batch placed on its culture-time axis."""
    return tuple(place_events(frame, [e for e in events if e.state is AlarmState.RAISED]))


def historian_batches(location: str | Path) -> dict[str, Callable[[], ComparedBatch]]:
    """Every batch the historian holds, by ``reactor / batch`` label, each loaded when chosen."""
    with open_historian(location, readonly=True) as historian:
        listed = historian.batches()

    def loader(reactor_id: str, batch_id: str) -> Callable[[], ComparedBatch]:
        def load() -> ComparedBatch:
            with open_historian(location, readonly=True) as historian:
                frame = historian.frame(Table.READINGS, batch_id, reactor_id=reactor_id)
                stored = historian.frame(Table.ALARMS, batch_id, reactor_id=reactor_id)
            events = list(stored_payloads(AlarmEvent, stored))
            return ComparedBatch(f"{reactor_id}{_SEPARATOR}{batch_id}", frame, place_alarms(frame, events))

        return load

    return {
        f"{row.reactor_id}{_SEPARATOR}{row.batch_id}": loader(str(row.reactor_id), str(row.batch_id))
        for row in listed.itertuples()
    }


def upload_batches(result: UploadResult) -> dict[str, ComparedBatch]:
    """The batches of an analysed upload, labelled with the file's name."""
    batches = {}
    for key in result.batches():
        frame = result.batch_frame(key)
        reactor, batch = key.split(_SEPARATOR, 1)
        events = [e for e in result.analysis.events if (e.reactor_id, e.batch_id) == (reactor, batch)]
        label = f"{result.name}: {key}"
        batches[label] = ComparedBatch(label, frame, place_alarms(frame, events))
    return batches


def comparison_figure(batches: Sequence[ComparedBatch], variable: str, guide: ProcessGuide) -> Any:
    """The overlay of ``variable`` for ``batches``, the envelope behind, alarms as markers."""
    fig = figure(
        title=f"{VARIABLES.get(variable, variable)} by culture day", height=480, sizing_mode="stretch_width",
        x_axis_label="culture day", y_axis_label=VARIABLES.get(variable, variable),
        tools="pan,wheel_zoom,box_zoom,reset,save",
    )
    fig.toolbar.logo = None
    band = guide.band(variable)
    if band is not None:
        source = ColumnDataSource({"day": band.day, "low": band.low, "high": band.high}, name="compare_envelope")
        fig.varea("day", "low", "high", source=source, fill_color="#8c959f", fill_alpha=0.25,
                  legend_label="golden batch")
    for number, batch in enumerate(batches):
        colour = BATCH_COLOURS[number % len(BATCH_COLOURS)]
        line = ColumnDataSource(overlay_columns(batch, variable), name=f"compare_line:{batch.label}")
        fig.line("day", "value", source=line, color=colour, line_width=2, legend_label=batch.label)
        marks = ColumnDataSource(alarm_points(batch, variable), name=f"compare_alarms:{batch.label}")
        points = fig.scatter("day", "value", source=marks, marker="triangle", size=11, color=colour,
                             line_color="#000000")
        fig.add_tools(HoverTool(renderers=[points], tooltips=[("batch", batch.label), ("alarm", "@check"),
                                                              ("", "@message")]))
    legend = fig.legend[0] if fig.legend else None
    if legend is not None:
        legend.update(location="top_left", click_policy="hide", label_text_font_size="9pt")
    return fig


class ComparePage:
    """One browser session's comparison page.

    Parameters
    ----------
    historian
        The monitor's historian (SQLite file or ``postgresql://`` URL); ``None``: uploads only.
    guide
        The envelope drawn behind the batches.
    """

    def __init__(self, historian: str | Path | None, guide: ProcessGuide | None = None) -> None:
        self.guide = guide or ProcessGuide()
        self._loaders: dict[str, Callable[[], ComparedBatch]] = {}
        self._loaded: dict[str, ComparedBatch] = {}
        self.note = html_pane(sizing_mode="stretch_width")
        if historian is not None:
            self._loaders.update(historian_batches(historian))
        self.batches = pn.widgets.MultiChoice(label="Batches", options=list(self._loaders), sizing_mode="stretch_width")
        self.variable = pn.widgets.Select(label="Variable", options={v: k for k, v in VARIABLES.items()},
                                          value="glucose", width=260)
        self.file = pn.widgets.FileInput(accept=".csv")
        self.plot = pn.pane.Bokeh(comparison_figure([], "glucose", self.guide), sizing_mode="stretch_width")
        self.file.param.watch(lambda _: self.add_upload(self.file.value, self.file.filename), "value")
        for widget in (self.batches, self.variable):
            widget.param.watch(lambda _: self.redraw(), "value")
        self._say_what_is_there(historian)

    def layout(self) -> pn.viewable.Viewable:
        return pn.Column(
            '<h1 style="margin-bottom:0">Batch comparison</h1>', self.note,
            pn.Row(self.batches, self.variable, sizing_mode="stretch_width"),
            pn.Row("Add the batches of a CSV file:", self.file), self.plot,
            sizing_mode="stretch_width", margin=(0, 20),
        )

    def add_upload(self, data: bytes | None, filename: str | None) -> None:
        """Analyse an uploaded CSV and offer its batches."""
        if not data:
            return
        try:
            result = analyze_upload(data, filename or "upload.csv")
        except UploadError as err:
            self.note.object = f'<p class="sev critical">Cannot use {filename}: {err}</p>'
            return
        added = upload_batches(result)
        self._loaded.update(added)
        self._loaders.update({label: _constant(batch) for label, batch in added.items()})
        self.batches.options = list(self._loaders)
        self.note.object = f'<p class="muted">{len(added)} batch(es) added from {filename}.</p>'

    def redraw(self) -> None:
        """Draw the chosen batches' chosen variable."""
        chosen = [self._batch(label) for label in self.batches.value]
        self.plot.object = comparison_figure(chosen, self.variable.value, self.guide)

    def _batch(self, label: str) -> ComparedBatch:
        if label not in self._loaded:
            self._loaded[label] = self._loaders[label]()
        return self._loaded[label]

    def _say_what_is_there(self, historian: str | Path | None) -> None:
        if historian is None:
            self.note.object = ('<p class="muted">No historian given (dashboard --historian): add CSV files to '
                                "compare their batches.</p>")
        else:
            self.note.object = f'<p class="muted">{len(self._loaders)} batch(es) in the historian.</p>'


def _constant(batch: ComparedBatch) -> Callable[[], ComparedBatch]:
    return lambda: batch


def compare_page(historian: str | Path | None, guide: ProcessGuide | None = None) -> pn.viewable.Viewable:
    """A new session's comparison page; the chosen batches and variable are in the page's URL
    (``?batches=["R1 / B1"]&variable=do``), so a comparison can be bookmarked and shared."""
    page = ComparePage(historian, guide)
    if pn.state.location is not None:
        pn.state.location.sync(page.batches, {"value": "batches"})
        pn.state.location.sync(page.variable, {"value": "variable"})
    return page.layout()

