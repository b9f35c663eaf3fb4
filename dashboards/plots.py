"""Bokeh time-series plots of one batch, shared by the live page and the upload page.

Every plot is described once in :data:`PANELS`; :class:`BatchPlots` builds the
figures for one Bokeh document (models must never be shared between browser
sessions) around four data sources: readings, feed recommendations, alarm markers
and alarm spans (raised to cleared, shaded). A :class:`~dashboards.guide.ProcessGuide`
adds what normal looks like: the L/H/LL/HH limits the monitor alarms on (amber and
red, following the set point where they are relative to it) and the golden-batch
envelope (grey band). The x axis is culture days, so batches started on different
dates line up.

>>> columns = reading_columns([])
>>> sorted(columns)[:3], columns["day"]
(['agitation', 'airflow', 'base_rate'], [])
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from bokeh.layouts import gridplot
from bokeh.models import (
    BasicTickFormatter,
    CDSView,
    ColumnDataSource,
    DataRange1d,
    GridPlot,
    GroupFilter,
    HoverTool,
    LinearAxis,
    Range1d,
)
from bokeh.models.annotations import Span
from bokeh.plotting import figure
from bokeh.transform import dodge

from bioreactor.contract import AlarmEvent, AlarmState, Reading, Recommendation, Severity
from dashboards.guide import HOURS_PER_DAY, ProcessGuide

#: Colours of alarm severities, used on the plots and the overview (amber/red: ISA-101 style).
SEVERITY_COLOURS: Mapping[str, str] = {Severity.WARNING.value: "#e69f00", Severity.CRITICAL.value: "#d62728"}
_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf")


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a plot: a column of the readings source."""

    column: str
    label: str
    dashed: bool = False
    right_axis: bool = False


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """One plot: its title, left-axis unit and lines; ``right`` names the right axis' unit."""

    title: str
    unit: str
    series: tuple[Series, ...]
    right: str | None = None
    right_range: tuple[float, float] | None = None
    recommendations: bool = False
    #: The narrowest left axis span (in ``unit``): a quiet sensor's noise is not drawn as a swing.
    min_span: float | None = None


#: The plots of a batch, in page order. Setpoints are dashed; units are the contract's.
PANELS: tuple[PanelSpec, ...] = (
    PanelSpec(
        "Viable cells",
        "VCD [1e6 cells/mL]",
        (Series("vcd", "VCD"), Series("viability", "viability", right_axis=True)),
        right="viability [%]",
        right_range=(0.0, 105.0),
    ),
    PanelSpec("Metabolites", "g/L", (Series("glucose", "glucose"), Series("lactate", "lactate")), min_span=2.0),
    PanelSpec(
        "Dissolved oxygen",
        "DO [% air sat.]",
        (Series("do", "DO"), Series("do_setpoint", "setpoint", dashed=True)),
        min_span=20.0,
    ),
    PanelSpec("pH", "pH", (Series("ph", "pH"), Series("ph_setpoint", "setpoint", dashed=True)), min_span=0.4),
    PanelSpec(
        "Temperature",
        "°C",
        (Series("temperature", "temperature"), Series("temperature_setpoint", "setpoint", dashed=True)),
        min_span=2.0,
    ),
    PanelSpec(
        "Agitation and airflow",
        "agitation [rpm]",
        (Series("agitation", "agitation"), Series("airflow", "airflow", right_axis=True)),
        right="airflow [L/min]",
    ),
    PanelSpec("Feed rate", "mL/h", (Series("feed_rate", "actual"),), recommendations=True),
)

#: Columns of the readings source: culture day, the time stamp, every plotted variable.
READING_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(["day", "time", "base_rate", *(s.column for p in PANELS for s in p.series)])
)
RECOMMENDATION_COLUMNS: tuple[str, ...] = ("day", "recommended", "low", "high")
MARKER_COLUMNS: tuple[str, ...] = ("day", "y", "variable", "check", "severity", "colour", "message")
SPAN_COLUMNS: tuple[str, ...] = ("start", "end", "check", "colour")
#: Colours of limit lines by criticality: L/H amber, LL/HH red, as the alarms they raise.
_LIMIT_COLOURS = {False: SEVERITY_COLOURS[Severity.WARNING.value], True: SEVERITY_COLOURS[Severity.CRITICAL.value]}

#: The data of a ColumnDataSource: column name -> values.
Columns = dict[str, Any]


def alarm_span_columns(points: Iterable[tuple[float, AlarmEvent]], until_day: float) -> Columns:
    """Shaded spans of alarms, from ``(culture hours, event)`` pairs: raised to cleared, or to
    ``until_day`` (the latest reading) for an alarm still standing.

    >>> from datetime import datetime, UTC
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def event(state):
    ...     return AlarmEvent(alarm_id="R1:B1:glucose", reactor_id="R1", batch_id="B1", check="glucose",
    ...                       severity=Severity.WARNING, state=state, timestamp=at, first_seen=at,
    ...                       last_seen=at, message="glucose low")
    >>> raised, cleared = event(AlarmState.RAISED), event(AlarmState.CLEARED)
    >>> alarm_span_columns([(24.0, raised), (36.0, cleared)], until_day=3.0)["end"]
    [1.5]
    >>> alarm_span_columns([(24.0, raised)], until_day=3.0)["end"]
    [3.0]
    """
    opened: dict[str, tuple[float, AlarmEvent]] = {}
    rows: list[tuple[float, float, str, str]] = []
    for hours, event in points:
        day = hours / HOURS_PER_DAY
        if event.state is AlarmState.RAISED:
            opened.setdefault(event.alarm_id, (day, event))
        elif event.state is AlarmState.CLEARED and event.alarm_id in opened:
            start, raised = opened.pop(event.alarm_id)
            rows.append((start, day, raised.check, SEVERITY_COLOURS[raised.severity.value]))
    for start, event in opened.values():
        rows.append((start, max(start, until_day), event.check, SEVERITY_COLOURS[event.severity.value]))
    return {name: [row[i] for row in rows] for i, name in enumerate(SPAN_COLUMNS)}


def _number(value: float | None) -> float:
    """Bokeh draws a gap at NaN; an unmeasured optional value is a gap."""
    return math.nan if value is None else float(value)


def reading_columns(readings: Sequence[Reading]) -> Columns:
    """The readings source's columns for ``readings``."""
    columns: Columns = {
        "day": [r.culture_h / HOURS_PER_DAY for r in readings],
        "time": [r.timestamp for r in readings],
    }
    for name in READING_COLUMNS[2:]:
        columns[name] = [_number(getattr(r, name)) for r in readings]
    return columns


def frame_columns(frame: pd.DataFrame) -> Columns:
    """The readings source's columns for a canonical frame (:func:`bioreactor.csvio.read_frame`)."""
    columns: Columns = {
        "day": (frame["culture_h"] / HOURS_PER_DAY).to_numpy(),
        "time": frame["timestamp"].dt.tz_localize(None).to_numpy(),
    }
    for name in READING_COLUMNS[2:]:
        columns[name] = frame[name].to_numpy(dtype=float) if name in frame else [math.nan] * len(frame)
    return columns


def recommendation_columns(points: Iterable[tuple[float, Recommendation]]) -> Columns:
    """The recommendation source's columns for ``(culture hours, recommendation)`` pairs."""
    rows = [(h / HOURS_PER_DAY, r.recommended_feed_rate, r.interval_low, r.interval_high) for h, r in points]
    return {name: [row[i] for row in rows] for i, name in enumerate(RECOMMENDATION_COLUMNS)}


def marker_columns(points: Iterable[tuple[float, AlarmEvent]]) -> Columns:
    """The alarm-marker source's columns for raised alarms, given as ``(culture hours, event)``."""
    rows = [
        (
            h / HOURS_PER_DAY,
            _number(e.value),
            e.variable or "",
            e.check,
            e.severity.value,
            SEVERITY_COLOURS[e.severity.value],
            e.message,
        )
        for h, e in points
        if e.state is AlarmState.RAISED
    ]
    return {name: [row[i] for row in rows] for i, name in enumerate(MARKER_COLUMNS)}


class BatchPlots:
    """The plots of one batch for one Bokeh document, linked on the culture-day axis.

    Update the plots through :attr:`readings` (``stream`` with ``rollover``),
    :attr:`recommendations`, :attr:`markers` and :attr:`spans`.

    >>> plots = BatchPlots()
    >>> len(plots.figures) == len(PANELS)
    True
    """

    def __init__(self, guide: ProcessGuide | None = None, height: int = 230) -> None:
        self.guide = guide or ProcessGuide()
        self.readings = ColumnDataSource(reading_columns([]), name="readings")
        self.recommendations = ColumnDataSource(recommendation_columns([]), name="recommendations")
        self.markers = ColumnDataSource(marker_columns([]), name="markers")
        self.spans = ColumnDataSource({name: [] for name in SPAN_COLUMNS}, name="spans")
        x_range = DataRange1d(range_padding=0.02)
        self.figures = [self._figure(spec, x_range, height) for spec in PANELS]
        self.layout: GridPlot = gridplot(
            self.figures, ncols=2, sizing_mode="stretch_width", merge_tools=True, toolbar_location="right"
        )

    def _figure(self, spec: PanelSpec, x_range: DataRange1d, height: int) -> Any:
        fig = figure(
            title=spec.title,
            height=height,
            sizing_mode="stretch_width",
            x_range=x_range,
            x_axis_label="culture day",
            y_axis_label=spec.unit,
            tools="pan,xwheel_zoom,box_zoom,reset,save",
        )
        fig.toolbar.logo = None
        fig.yaxis.formatter = BasicTickFormatter(use_scientific=False)  # 0.004, not 4.000e-3
        # Alarm spans under everything else.
        fig.vstrip(x0="start", x1="end", source=self.spans, fill_color="colour", fill_alpha=0.12, line_alpha=0)
        # Equal borders keep the plots of a column aligned whatever their tick labels.
        fig.min_border_left, fig.min_border_right = 70, 60
        right: DataRange1d | Range1d = DataRange1d()
        if spec.right_range is not None:
            low, high = spec.right_range
            right = Range1d(start=low, end=high)
        if spec.right:
            fig.extra_y_ranges = {"right": right}
            fig.add_layout(LinearAxis(y_range_name="right", axis_label=spec.right), "right")
        lines: dict[Series, Any] = {
            series: fig.line(
                "day",
                series.column,
                source=self.readings,
                legend_label=series.label,
                color="#555555" if series.dashed else colour,
                line_dash="dashed" if series.dashed else "solid",
                line_width=1.5 if series.dashed else 2,
                y_range_name="right" if series.right_axis else "default",
            )
            for colour, series in zip(_PALETTE, spec.series, strict=False)
        }
        # Each axis scales to its own lines only (by default a range covers every line of the plot),
        # and to the envelope and limits around them, so the axis shows how far from normal a value is.
        left: list[Any] = [r for s, r in lines.items() if not s.right_axis]
        measured = [s for s in spec.series if not s.dashed and not s.right_axis]
        colours = dict(zip(spec.series, _PALETTE, strict=False))
        left += [r for s in measured for r in self._add_guide(fig, s, colours[s])]
        if spec.recommendations:
            left += self._add_recommendations(fig)
        fig.y_range = DataRange1d(renderers=left, range_padding=0.08, min_interval=spec.min_span)
        if isinstance(right, DataRange1d):
            right.renderers = [r for s, r in lines.items() if s.right_axis]
        # Alarm times across every plot; the value itself on the plot of the alarm's variable.
        fig.vspan(x="day", source=self.markers, line_color="colour", line_alpha=0.5, line_width=1)
        for series in (s for s in spec.series if not s.dashed):
            view = CDSView(filter=GroupFilter(column_name="variable", group=series.column))
            marks = fig.scatter(
                "day", "y", source=self.markers, view=view, marker="triangle", size=10, color="colour",
                y_range_name="right" if series.right_axis else "default",
            )
            fig.add_tools(HoverTool(renderers=[marks], tooltips=[("alarm", "@check (@severity)"), ("", "@message")]))
        fig.add_tools(
            HoverTool(
                renderers=left[:1],
                tooltips=[(s.label, f"@{s.column}{{0.00}}") for s in spec.series] + [("day", "@day{0.00}")],
                mode="vline",
            )
        )
        # Above the plot area, where it never hides data; a click hides a line.
        legend = fig.legend[0]
        fig.add_layout(legend, "above")
        legend.update(
            location="top_left", orientation="horizontal", padding=0, spacing=10, margin=2,
            border_line_alpha=0, label_text_font_size="8pt", label_height=12, glyph_height=12,
            click_policy="hide",
        )
        return fig

    def _add_guide(self, fig: Any, series: Series, colour: str) -> list[Any]:
        """Draw a series' golden-batch band (in its colour) and limit lines; returns what the axis should cover."""
        variable = series.column
        renderers: list[Any] = []
        band = self.guide.band(variable)
        if band is not None:
            source = ColumnDataSource(
                {"day": band.day, "low": band.low, "high": band.high}, name=f"envelope_{variable}"
            )
            renderers.append(fig.varea("day", "low", "high", source=source, fill_color=colour, fill_alpha=0.12,
                                       legend_label=f"{series.label} golden batch", level="underlay"))
        for level in self.guide.levels(variable):
            colour = _LIMIT_COLOURS[level.critical]
            if level.relative_to is None:
                fig.add_layout(Span(location=level.value, dimension="width", line_color=colour,
                                    line_dash="dotted", line_width=1, name=f"limit_{variable}_{level.name}"))
            else:  # an offset from the set point: a line that follows a planned set-point shift
                renderers.append(fig.line("day", dodge(level.relative_to, level.value), source=self.readings,
                                          line_color=colour, line_dash="dotted", line_width=1,
                                          name=f"limit_{variable}_{level.name}"))
        return renderers

    def _add_recommendations(self, fig: Any) -> list[Any]:
        band = fig.varea(
            "day", "low", "high", source=self.recommendations, fill_color="#ff7f0e", fill_alpha=0.2,
            legend_label="recommendation interval",
        )
        line = fig.line(
            "day", "recommended", source=self.recommendations, color="#ff7f0e", line_width=2,
            legend_label="recommended",
        )
        return [band, line]
