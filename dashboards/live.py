"""The live page: the fleet trouble first, one reactor's plots and recommendation, alarms acknowledged by row.

A :class:`LivePage` belongs to one browser session and owns that session's
widgets and Bokeh models. :meth:`LivePage.refresh` pulls what changed from the
shared :class:`~dashboards.state.FleetState`; the server calls it from a
periodic callback on the session's own event loop, never from the MQTT thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

import panel as pn

from bioreactor.contract import Acknowledgement, AlarmEvent, AlarmState, Severity, StatusState
from dashboards.fleetgrid import FleetGrid
from dashboards.guide import HOURS_PER_DAY, ProcessGuide
from dashboards.plots import (
    BatchPlots,
    alarm_span_columns,
    marker_columns,
    reading_columns,
    recommendation_columns,
)
from dashboards.state import Cursor, FleetState, ReactorView, Timed, Update, urgency
from dashboards.widgets import (
    active_table,
    active_tabulator,
    alarm_table,
    alarm_tabulator,
    html_pane,
    overview_html,
    recommendation_html,
    worst_alarm_html,
)

#: Publishes an acknowledgement: (reactor id, alarm id, user, comment) -> what was sent.
Acknowledge = Callable[[str, str, str, str], Acknowledgement]

#: Recent events listed under the active alarms.
RECENT_EVENTS = 200
#: How often a session pulls updates (ms).
REFRESH_MS = 1000


class LivePage:
    """One browser session's live page: the fleet, trouble first, and one reactor's detail.

    Parameters
    ----------
    state
        The fleet state shared by every session.
    acknowledge
        Publishes an operator's acknowledgement (the MQTT bridge's).
    broker
        The broker's address, shown in the header.
    guide
        Limits and golden-batch envelope drawn on the plots.
    operator
        The operator a login in front of the dashboard authenticated (see
        :func:`operator_from_headers`): acknowledgements carry that name and it cannot be
        changed on the page; ``""`` when a login is required but did not name anyone, so
        nothing can be acknowledged. ``None``: no login, the operator types a name.
    """

    def __init__(
        self,
        state: FleetState,
        acknowledge: Acknowledge,
        broker: str = "",
        guide: ProcessGuide | None = None,
        operator: str | None = None,
    ) -> None:
        self.state = state
        self._acknowledge = acknowledge
        self._broker = broker
        self.plots = BatchPlots(guide)
        self._cursors: dict[str, Cursor] = {}
        self._events: list[tuple[float, AlarmEvent]] = []
        self._shown: dict[str, object] = {}

        self.header = html_pane(sizing_mode="stretch_width")
        self.search = pn.widgets.TextInput(placeholder="search reactor or batch", width=260)
        self.show = pn.widgets.RadioButtonGroup(options=list(FILTERS), value="all", color="light")
        self.fleet = FleetGrid(cards=overview_html([]), sizing_mode="stretch_width")
        self.reactor = pn.widgets.Select(label="Reactor", options=[], width=220)
        self.reactor_header = html_pane(sizing_mode="stretch_width")
        self.recommendation = html_pane(recommendation_html(None), width=340)
        self.operator = operator
        self.user = pn.widgets.TextInput(label="Your name", placeholder="operator name", width=200)
        if operator is not None:
            self.user.param.update(value=operator, disabled=True, label="Signed in as")
        self.comment = pn.widgets.TextInput(label="Comment", placeholder="optional", sizing_mode="stretch_width")
        self.active = active_tabulator(pagination="local", page_size=25)
        self.reactor_active = active_tabulator()
        self.ack_result = pn.pane.Alert(visible=False, sizing_mode="stretch_width")
        self.events = alarm_tabulator([], pagination="local", page_size=10)
        self.tabs = pn.Tabs(dynamic=False, sizing_mode="stretch_width")
        for table in (self.active, self.reactor_active):
            table.on_click(self._ack_clicked(table))
        self.fleet.on_open(self.open_reactor)
        self.reactor.param.watch(lambda _: self._show_reactor(), "value")
        for widget in (self.search, self.show):
            widget.param.watch(lambda _: self._show_fleet(), "value")

    def layout(self) -> pn.viewable.Viewable:
        """The page: a fleet tab and a reactor tab, acknowledgement under both."""
        ack = pn.Row(self.user, self.comment, sizing_mode="stretch_width")
        self.tabs[:] = [
            ("Fleet", pn.Column(
                pn.Row(self.search, self.show), self.fleet, "### Active alarms", self.active,
                "### Recent alarm events", self.events, sizing_mode="stretch_width",
            )),
            ("Reactor", pn.Column(
                pn.Row(self.reactor, self.reactor_header, sizing_mode="stretch_width"),
                pn.Row(
                    pn.pane.Bokeh(self.plots.layout, sizing_mode="stretch_width"),
                    pn.Column("### Feed recommendation", self.recommendation, width=360),
                    sizing_mode="stretch_width",
                ),
                "### Active alarms of this reactor", self.reactor_active, sizing_mode="stretch_width",
            )),
        ]
        return pn.Column(self.header, ack, self.ack_result, self.tabs, sizing_mode="stretch_width", margin=(0, 20))

    def refresh(self) -> None:
        """Bring every widget up to date with the shared state; cheap when nothing changed."""
        self._set(self.header, "object", self._header_html())
        views = self.state.overview()  # one snapshot of the fleet for the cards, the choice and the table
        self._show_fleet(views)
        reactors = self.state.reactors()
        if self.reactor.options != reactors:
            self.reactor.options = reactors
        if self.reactor.value is None and views:
            self.reactor.value = views[0].reactor_id  # trouble first; the watcher shows it
        else:
            self._pull_reactor()
        active = self.state.active_alarms()
        if self._changed("active", active):
            self.active.value = active_table(active, {v.reactor_id: v for v in views})
        events = self.state.recent_events(RECENT_EVENTS)
        if self._changed("events", events):
            self.events.value = alarm_table(events)

    def open_reactor(self, reactor_id: str) -> None:
        """Show ``reactor_id``'s detail (a click on its card)."""
        if reactor_id in self.state.reactors():
            self.reactor.value = reactor_id
            self.tabs.active = 1

    def acknowledge(self, alarm_id: str) -> None:
        """Publish the acknowledgement of one active alarm; say in the page what happened."""
        alarm = next((a for a in self.state.active_alarms() if a.alarm_id == alarm_id), None)
        try:
            if alarm is None:
                raise ValueError("that alarm is no longer active")
            if alarm.state is AlarmState.ACKNOWLEDGED:
                raise ValueError(f"{alarm.check} on {alarm.reactor_id} is already acknowledged by {alarm.user}")
            if self.operator == "":
                raise ValueError("no signed-in operator: open the dashboard through its login to acknowledge")
            user = self.user.value if self.operator is None else self.operator
            ack = self._acknowledge(alarm.reactor_id, alarm_id, user or "", self.comment.value or "")
        except (ValueError, ConnectionError) as err:
            self.ack_result.param.update(object=str(err), alert_type="danger", visible=True)
            return
        self.comment.value = ""
        self.ack_result.param.update(
            object=f"Acknowledgement of {alarm.check} on {alarm.reactor_id} sent as {ack.user}; "
            "the alarm shows as acknowledged once the monitor has applied it.",
            alert_type="success",
            visible=True,
        )

    # -- internals ------------------------------------------------------------------------

    def _ack_clicked(self, table: pn.widgets.Tabulator) -> Callable[[Any], None]:
        def clicked(event: Any) -> None:
            if event.column == "ack" and 0 <= event.row < len(table.value):
                self.acknowledge(str(table.value["alarm_id"].iloc[event.row]))

        return clicked

    def _show_fleet(self, views: list[ReactorView] | None = None) -> None:
        """Redraw the cards: of ``views``, or of a fresh snapshot (a filter or the chosen reactor changed)."""
        views = self.state.overview() if views is None else views
        shown = [v for v in views if _matches(v, self.search.value or "", self.show.value)]
        self._set(self.fleet, "cards", overview_html(shown, len(views) - len(shown), self.reactor.value))

    def _header_html(self) -> str:
        monitor = self.state.monitor_status
        monitor_text = "monitor: no status" if monitor is None else f"monitor: {monitor.state.value}"
        if monitor is not None and monitor.state is not StatusState.ONLINE:
            monitor_text = f'<span class="sev critical">{monitor_text}</span>'
        malformed = self.state.malformed
        problems = (
            f' · <span title="{escape(self.state.last_problem or "")}">{malformed} malformed message(s) ignored, '
            f"last: {escape(_shorten(self.state.last_problem or ''))}</span>"
            if malformed
            else ""
        )
        return (
            f'<h1 style="margin-bottom:0">Bioreactor fleet – live</h1>'
            f'<p class="muted">broker {escape(self._broker)} · {monitor_text}{problems} · '
            "times are UTC on each reactor's data clock</p>"
        )

    def _show_reactor(self) -> None:
        """A new reactor was chosen: start its plots from scratch."""
        self._cursors.clear()
        self._events = []
        self._show_fleet()
        self._pull_reactor()

    def _pull_reactor(self) -> None:
        reactor_id = self.reactor.value
        if not reactor_id:
            return
        readings = self.state.readings_since(reactor_id, self._cursors.get("readings", Cursor()))
        self._apply(self.plots.readings, "readings", readings, reading_columns)
        recommendations = self.state.recommendations_since(reactor_id, self._cursors.get("recs", Cursor()))
        self._apply(self.plots.recommendations, "recs", recommendations, _placed(recommendation_columns))
        events = self.state.events_since(reactor_id, self._cursors.get("events", Cursor()))
        self._apply(self.plots.markers, "events", events, _placed(marker_columns))
        placed = [(i.culture_h, i.payload) for i in events.items if i.culture_h is not None]
        self._events = placed if events.reset else self._events + placed
        view = self.state.view(reactor_id)
        if view is None:
            return
        now_day = view.latest.culture_h / HOURS_PER_DAY if view.latest else 0.0
        spans = alarm_span_columns(self._events, now_day)
        if self._changed("spans", spans):
            self.plots.spans.data = spans
        if self._changed("reactor_active", view.active):
            self.reactor_active.value = active_table(sorted(view.active, key=urgency), {reactor_id: view})
        self._set(self.recommendation, "object", recommendation_html(view.recommendation))
        day = f"day {now_day:.2f} · {view.latest.timestamp:%Y-%m-%d %H:%M} UTC" if view.latest else "no readings yet"
        self._set(
            self.reactor_header,
            "object",
            f'<p style="margin-top:28px">batch <b>{escape(view.batch_id or "–")}</b> · {day} · '
            f"{worst_alarm_html(view)}</p>",
        )

    def _apply(self, source: Any, key: str, update: Update[Any], columns: Callable[[Any], dict[str, Any]]) -> None:
        """Stream new items into a source (bounded by ``rollover``) or replace its data after a reset."""
        self._cursors[key] = update.cursor
        if update.reset:
            source.data = columns(update.items)
        elif update.items:
            source.stream(columns(update.items), rollover=self.state.history)

    def _set(self, pane: Any, name: str, value: object) -> None:
        if getattr(pane, name) != value:
            setattr(pane, name, value)

    def _changed(self, key: str, value: object) -> bool:
        if self._shown.get(key) == value:
            return False
        self._shown[key] = value
        return True


#: The fleet filter's choices: which reactors' cards to show.
FILTERS: dict[str, Callable[[ReactorView], bool]] = {
    "all": lambda view: True,
    "in alarm": lambda view: bool(view.active),
    "critical": lambda view: any(a.severity is Severity.CRITICAL for a in view.active),
}


def _matches(view: ReactorView, search: str, show: str) -> bool:
    """Whether a card passes the fleet filter: its choice and a search in reactor and batch ids."""
    text = search.strip().lower()
    found = not text or text in view.reactor_id.lower() or text in (view.batch_id or "").lower()
    return found and FILTERS.get(show, FILTERS["all"])(view)


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _placed(columns: Callable[[list[tuple[float, Any]]], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    """Column builder for timed items; those without a place on the time axis are left out."""

    def build(items: tuple[Timed[Any], ...]) -> dict[str, Any]:
        return columns([(i.culture_h, i.payload) for i in items if i.culture_h is not None])

    return build


def operator_from_headers(headers: Mapping[str, str | list[str]], header: str | None) -> str | None:
    """The operator an authenticating proxy named in ``header`` of the page's request.

    ``None`` when the dashboard trusts no header (operators type their name); ``""`` when it
    does and the request lacks it (a request that bypassed the proxy acknowledges nothing).

    >>> operator_from_headers({"x-forwarded-user": " alice "}, "X-Forwarded-User")
    'alice'
    >>> operator_from_headers({}, "X-Forwarded-User"), operator_from_headers({}, None)
    ('', None)
    """
    if header is None:
        return None
    wanted = header.lower()
    for name, value in headers.items():
        if name.lower() == wanted:
            first = value[0] if isinstance(value, list) and value else value  # Tornado may list repeats
            return first.strip() if isinstance(first, str) else ""
    return ""


def live_page(
    state: FleetState,
    acknowledge: Acknowledge,
    broker: str = "",
    guide: ProcessGuide | None = None,
    user_header: str | None = None,
) -> pn.viewable.Viewable:
    """A new session's page, refreshed every :data:`REFRESH_MS` on the session's loop."""
    pn.extension("tabulator")
    page = LivePage(state, acknowledge, broker, guide, operator_from_headers(pn.state.headers or {}, user_header))
    page.refresh()
    pn.state.add_periodic_callback(page.refresh, period=REFRESH_MS)
    return page.layout()
