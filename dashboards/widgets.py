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

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import pandas as pd
import panel as pn

from bioreactor.contract import AlarmEvent, AlarmState, Recommendation, Severity, Status
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
.fleet { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 8px; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 6px 8px; background: #fff;
        font-size: 12px; cursor: pointer; }
.card:hover { box-shadow: 0 0 0 2px #1f77b4; }
.card.selected { box-shadow: 0 0 0 2px #1f77b4; background: #f3f8fc; }
.card.alarm-critical { border-left: 6px solid #d62728; }
.card.alarm-warning { border-left: 6px solid #e69f00; }
.card.alarm-none { border-left: 6px solid #2ca02c; }
.card h3 { margin: 0 0 2px 0; font-size: 15px; display: flex; justify-content: space-between; gap: 6px; }
.card .sub { color: #57606a; margin-bottom: 6px; }
.card .values { display: grid; grid-template-columns: auto 1fr auto auto 1fr auto; gap: 0 4px; margin-top: 4px; }
.card .v { text-align: right; font-variant-numeric: tabular-nums; }
.card .alarms { margin: 2px 0; }
.card .worst { font-weight: 700; }
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


def first_sentence(text: str, limit: int = 110) -> str:
    """The opening sentence of an alarm's explanation, short enough for a card.

    >>> first_sentence("DO 12.0 % is 28.0 below its set point. The agitator is at its maximum.")
    'DO 12.0 % is 28.0 below its set point.'
    """
    end = text.find(". ")
    sentence = text if end < 0 else text[: end + 1]
    return sentence if len(sentence) <= limit else f"{sentence[: limit - 1]}…"


def worst_alarm_html(view: ReactorView) -> str:
    """The card's alarm line: what is wrong in words (the incident's diagnosis when the worst
    alarm belongs to one), since when on the reactor's data clock, and how many alarms stand."""
    worst = view.worst_alarm()
    if worst is None:
        return '<div class="alarms"><span class="ok">no active alarms</span></div>'
    incident = view.incident_of(worst)
    text = first_sentence(incident.message if incident else worst.message)
    acknowledged = " · acknowledged" if worst.state is AlarmState.ACKNOWLEDGED else ""
    _, counts = alarm_summary(view.alarm_counts())
    return (
        f'<div class="alarms"><div class="worst sev {worst.severity.value}" title="{escape(worst.message)}">'
        f"{escape(text)}</div>"
        f'<div class="muted">since {worst.first_seen:%d %b %H:%M} UTC (data){acknowledged} · {counts}</div></div>'
    )


def reactor_card(view: ReactorView, selected: bool = False) -> str:
    """One reactor's card: status, batch, culture day, what is wrong, latest values; a click opens it."""
    css, _ = alarm_summary(view.alarm_counts())
    css += " selected" if selected else ""
    latest = view.latest
    when = f"day {latest.culture_h / 24:.2f} · {latest.timestamp:%H:%M:%S} UTC" if latest else "no readings yet"
    values = "".join(
        f'<span>{label}</span><span class="v">{_value(view, name, decimals)}</span><span class="muted">{unit}</span>'
        for name, label, unit, decimals in CARD_VALUES
    )
    return (
        f'<div class="card {css}" data-reactor="{escape(view.reactor_id)}" title="open {escape(view.reactor_id)}">'
        f"<h3><span>{escape(view.reactor_id)}</span>{status_badge(view.status)}</h3>"
        f'<div class="sub">batch {escape(view.batch_id or "–")} · {when}</div>'
        f"{worst_alarm_html(view)}"
        f'<div class="values">{values}</div></div>'
    )


def overview_html(views: Sequence[ReactorView], hidden: int = 0, selected: str | None = None) -> str:
    """The fleet overview: one card per reactor, in the given order, the ``selected`` one marked;
    ``hidden`` cards were filtered out."""
    if not views and not hidden:
        return '<p class="muted">Waiting for reactors: nothing has been published on the broker yet.</p>'
    note = f'<p class="muted">{hidden} reactor(s) hidden by the filter.</p>' if hidden else ""
    return f'<div class="fleet">{"".join(reactor_card(v, v.reactor_id == selected) for v in views)}</div>{note}'


def alarm_table(events: Iterable[AlarmEvent]) -> pd.DataFrame:
    """Alarm events as the page's table: time, reactor, severity (coloured), state, check, message."""
    frame = events_frame(events).loc[:, list(ALARM_TABLE_COLUMNS)]
    frame["timestamp"] = frame["timestamp"].str.replace("T", " ").str.slice(0, 19)
    # Inline style: a table cell does not see the page's stylesheet.
    frame["severity"] = [
        f'<span style="color:{SEVERITY_COLOURS[s]};font-weight:700">{s}</span>' for s in frame["severity"]
    ]
    return frame.rename(columns={"timestamp": "time", "reactor_id": "reactor"})


#: Columns of the active-alarm table; ``ack`` holds each row's acknowledge button.
ACTIVE_TABLE_COLUMNS: tuple[str, ...] = (
    "incident", "raised", "reactor", "severity", "check", "message", "acknowledged", "alarm_id",
)
_MUTED = "#8c959f"


def active_table(alarms: Sequence[AlarmEvent], views: Mapping[str, ReactorView] | None = None) -> pd.DataFrame:
    """Active alarms as the page's table, most urgent first as given, under their incident.

    ``incident`` names the problem an alarm belongs to (its reactor and the incident's
    diagnosis, or the alarm itself when it stands alone); the page groups rows by it, so
    one temperature-loop failure is one group, not seven unrelated rows. Raise and
    acknowledgement times are both on the reactor's data clock (UTC), the clock of its
    readings, so they compare; an acknowledged alarm is greyed and names who acknowledged
    it. An alarm that is a consequence of another's incident says so.
    """
    rows = []
    for a in alarms:
        acknowledged = a.state is AlarmState.ACKNOWLEDGED
        colour = _MUTED if acknowledged else SEVERITY_COLOURS[a.severity.value]
        view = (views or {}).get(a.reactor_id)
        incident = view.incident_of(a) if view else None
        cause = (
            f' <i>(consequence of {escape(incident.diagnosis)})</i>'
            if incident is not None and incident.diagnosis != a.check
            else ""
        )
        style = f"color:{_MUTED}" if acknowledged else ""
        problem = first_sentence(incident.message, 90) if incident is not None else first_sentence(a.message, 90)
        rows.append({
            "incident": f"{a.reactor_id} · {incident.diagnosis if incident else a.check}: {problem}",
            "raised": f"{a.first_seen:%Y-%m-%d %H:%M}",
            "reactor": a.reactor_id,
            "severity": f'<span style="color:{colour};font-weight:700">{a.severity.value}</span>',
            "check": a.check,
            "message": f'<div style="white-space:normal;{style}">{escape(a.message)}{cause}</div>',
            "acknowledged": f"{a.user or '?'} · {a.timestamp:%Y-%m-%d %H:%M}" if acknowledged else "",
            "alarm_id": a.alarm_id,
        })
    return pd.DataFrame(rows, columns=list(ACTIVE_TABLE_COLUMNS))


def active_tabulator(**options: Any) -> pn.widgets.Tabulator:
    """The active-alarm table, an *Acknowledge* button on each row (its click is the caller's)."""
    return pn.widgets.Tabulator(
        active_table([]),
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        layout="fit_columns",
        hidden_columns=["alarm_id", "incident"],
        groupby=["incident"],
        buttons={"ack": '<button class="ack" title="acknowledge this alarm">Acknowledge</button>'},
        titles={"raised": "raised (UTC, data clock)", "acknowledged": "acknowledged by · at (UTC, data clock)"},
        formatters={"severity": {"type": "html"}, "message": {"type": "html"}},
        widths={"raised": 190, "reactor": 130, "severity": 90, "check": 150, "acknowledged": 250, "ack": 130},
        **options,
    )


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
