"""How the fleet state reads on the page: reactor cards, alarm tables, the latest recommendation.

Pure functions from contract payloads to HTML or tables, so the live and upload
pages render alike and the wording can be tested without a browser. Every text
that came over MQTT is HTML-escaped.

>>> from datetime import datetime, UTC
>>> from bioreactor.contract import Status, StatusState
>>> at = datetime(2026, 1, 1, tzinfo=UTC)
>>> status_badge(Status("R1", StatusState.END_OF_STREAM, at))
'<span class="badge end_of_stream">end of stream</span>'
>>> status_badge(None)
'<span class="badge unknown">no status</span>'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

import pandas as pd
import panel as pn

from bioreactor.contract import AlarmEvent, Recommendation, Severity, Status
from dashboards.plots import SEVERITY_COLOURS
from dashboards.state import ReactorView
from monitor.analyze import events_frame

#: Latest values on a reactor card: field, label, unit, decimals.
CARD_VALUES: tuple[tuple[str, str, str, int], ...] = (
    ("vcd", "VCD", "1e6/mL", 2),
    ("viability", "Viability", "%", 1),
    ("glucose", "Glucose", "g/L", 2),
    ("lactate", "Lactate", "g/L", 2),
    ("do", "DO", "%", 1),
    ("ph", "pH", "", 2),
    ("temperature", "T", "°C", 1),
    ("feed_rate", "Feed", "mL/h", 1),
)
#: Columns of the alarm tables on the page, from :func:`monitor.analyze.events_frame`.
ALARM_TABLE_COLUMNS: tuple[str, ...] = ("timestamp", "reactor_id", "severity", "state", "check", "message")
#: Drivers of a recommendation shown, largest contribution first.
TOP_DRIVERS = 5

STYLESHEET = """
.fleet { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 10px; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px 10px; background: #fff;
        font-size: 13px; }
.card.alarm-critical { border-left: 6px solid #d62728; }
.card.alarm-warning { border-left: 6px solid #e69f00; }
.card.alarm-none { border-left: 6px solid #2ca02c; }
.card h3 { margin: 0 0 2px 0; font-size: 15px; display: flex; justify-content: space-between; gap: 6px; }
.card .sub { color: #57606a; margin-bottom: 6px; }
.card table { width: 100%; border-collapse: collapse; }
.card td { padding: 1px 2px; }
.card td.v { text-align: right; font-variant-numeric: tabular-nums; }
.card .alarms { margin-top: 6px; font-weight: 600; }
.badge { border-radius: 10px; padding: 1px 8px; font-size: 11px; font-weight: 600; color: #fff;
         white-space: nowrap; }
.badge.online { background: #2ca02c; }
.badge.offline { background: #6e7781; }
.badge.end_of_stream { background: #1f77b4; }
.badge.unknown { background: #afb8c1; }
.sev { font-weight: 700; }
.sev.critical { color: #d62728; }
.sev.warning { color: #e69f00; }
.ok { color: #2ca02c; }
.drivers td { padding: 1px 6px; }
.bar { display: inline-block; height: 10px; border-radius: 2px; }
.muted { color: #57606a; }
"""


def status_badge(status: Status | None) -> str:
    """A coloured badge for a publisher's retained status."""
    if status is None:
        return '<span class="badge unknown">no status</span>'
    state = status.state.value
    return f'<span class="badge {state}">{state.replace("_", " ")}</span>'


def alarm_summary(counts: dict[Severity, int]) -> tuple[str, str]:
    """The CSS class and text of a reactor's active-alarm count, worst severity first.

    >>> alarm_summary({Severity.WARNING: 1, Severity.CRITICAL: 2})
    ('alarm-critical', '<span class="sev critical">2 critical</span> · <span class="sev warning">1 warning</span>')
    >>> alarm_summary({Severity.WARNING: 0, Severity.CRITICAL: 0})
    ('alarm-none', '<span class="ok">no active alarms</span>')
    """
    parts = [
        f'<span class="sev {s.value}">{counts[s]} {s.value}</span>'
        for s in (Severity.CRITICAL, Severity.WARNING)
        if counts.get(s)
    ]
    if not parts:
        return "alarm-none", '<span class="ok">no active alarms</span>'
    worst = Severity.CRITICAL if counts.get(Severity.CRITICAL) else Severity.WARNING
    return f"alarm-{worst.value}", " · ".join(parts)


def _value(view: ReactorView, name: str, decimals: int) -> str:
    value = getattr(view.latest, name, None) if view.latest else None
    return "–" if value is None else f"{value:.{decimals}f}"


def reactor_card(view: ReactorView) -> str:
    """One reactor's card: status, batch, culture day, latest values, active alarms."""
    css, alarms = alarm_summary(view.alarm_counts())
    latest = view.latest
    when = f"day {latest.culture_h / 24:.2f} · {latest.timestamp:%H:%M:%S}" if latest else "no readings yet"
    rows = "".join(
        f'<tr><td>{label}</td><td class="v">{_value(view, name, decimals)}</td><td class="muted">{unit}</td></tr>'
        for name, label, unit, decimals in CARD_VALUES
    )
    return (
        f'<div class="card {css}" data-reactor="{escape(view.reactor_id)}">'
        f"<h3><span>{escape(view.reactor_id)}</span>{status_badge(view.status)}</h3>"
        f'<div class="sub">batch {escape(view.batch_id or "–")} · {when}</div>'
        f'<table>{rows}</table><div class="alarms">{alarms}</div></div>'
    )


def overview_html(views: Sequence[ReactorView]) -> str:
    """The fleet overview: one card per reactor."""
    if not views:
        return '<p class="muted">Waiting for reactors: nothing has been published on the broker yet.</p>'
    return f'<div class="fleet">{"".join(reactor_card(v) for v in views)}</div>'


def alarm_table(events: Iterable[AlarmEvent]) -> pd.DataFrame:
    """Alarm events as the page's table: time, reactor, severity (coloured), state, check, message."""
    frame = events_frame(events).loc[:, list(ALARM_TABLE_COLUMNS)]
    frame["timestamp"] = frame["timestamp"].str.replace("T", " ").str.slice(0, 19)
    # Inline style: a table cell does not see the page's stylesheet.
    frame["severity"] = [
        f'<span style="color:{SEVERITY_COLOURS[s]};font-weight:700">{s}</span>' for s in frame["severity"]
    ]
    return frame.rename(columns={"timestamp": "time", "reactor_id": "reactor"})


def html_pane(text: str = "", **options: Any) -> pn.pane.HTML:
    """An HTML pane with the project's stylesheet (each pane has its own shadow DOM)."""
    return pn.pane.HTML(text, stylesheets=[STYLESHEET], **options)


def alarm_tabulator(events: Iterable[AlarmEvent], **options: Any) -> pn.widgets.Tabulator:
    """A read-only table of alarm events: severity coloured, messages wrapped."""
    return pn.widgets.Tabulator(
        alarm_table(events),
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        layout="fit_columns",
        formatters={"severity": {"type": "html"}, "message": {"type": "textarea"}},
        widths={"time": 150, "reactor": 110, "severity": 90, "state": 110, "check": 150},
        **options,
    )


def recommendation_html(recommendation: Recommendation | None) -> str:
    """The latest feed recommendation and what drove it."""
    if recommendation is None:
        return '<p class="muted">No feed recommendation yet for this reactor.</p>'
    r = recommendation
    drivers = sorted(r.drivers, key=lambda d: abs(d.contribution), reverse=True)[:TOP_DRIVERS]
    largest = max((abs(d.contribution) for d in drivers), default=0.0) or 1.0
    rows = "".join(
        f"<tr><td>{escape(d.variable)}</td><td>{d.contribution:+.2f} mL/h</td>"
        f'<td><span class="bar" style="width:{80 * abs(d.contribution) / largest:.0f}px;'
        f'background:{"#1f77b4" if d.contribution >= 0 else "#ff7f0e"}"></span></td></tr>'
        for d in drivers
    )
    table = f'<table class="drivers">{rows}</table>' if rows else '<p class="muted">no drivers reported</p>'
    return (
        f"<p><b>Recommended feed {r.recommended_feed_rate:.2f} mL/h</b> "
        f"(interval {r.interval_low:.2f}–{r.interval_high:.2f}); now {r.current_feed_rate:.2f} mL/h, "
        f"change {r.delta:+.2f} mL/h.</p>"
        f'<p class="muted">batch {escape(r.batch_id)} · {r.timestamp:%Y-%m-%d %H:%M} UTC · '
        f"model {escape(r.model_version)}</p><p>Top drivers:</p>{table}"
    )
