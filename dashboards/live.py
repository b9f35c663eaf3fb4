"""The live page: fleet overview, one reactor's plots and recommendation, alarms with acknowledgement.

A :class:`LivePage` belongs to one browser session and owns that session's
widgets and Bokeh models. :meth:`LivePage.refresh` pulls what changed from the
shared :class:`~dashboards.state.FleetState`; the server calls it from a
periodic callback on the session's own event loop, never from the MQTT thread.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

import panel as pn

from bioreactor.contract import Acknowledgement, AlarmState, StatusState
from dashboards.plots import BatchPlots, marker_columns, reading_columns, recommendation_columns
from dashboards.state import Cursor, FleetState, Timed, Update
from dashboards.widgets import (
    alarm_table,
    alarm_tabulator,
    html_pane,
    overview_html,
    recommendation_html,
)

#: Publishes an acknowledgement: (reactor id, alarm id, user, comment) -> what was sent.
Acknowledge = Callable[[str, str, str, str], Acknowledgement]

#: Recent events listed under the active alarms.
RECENT_EVENTS = 200
#: How often a session pulls updates (ms).
REFRESH_MS = 1000


class LivePage:
    """One browser session's live page.

    Parameters
    ----------
    state
        The fleet state shared by every session.
    acknowledge
        Publishes an operator's acknowledgement (the MQTT bridge's).
    broker
        The broker's address, shown in the header.
    """

    def __init__(self, state: FleetState, acknowledge: Acknowledge, broker: str = "") -> None:
        self.state = state
        self._acknowledge = acknowledge
        self._broker = broker
        self.plots = BatchPlots()
        self._cursors: dict[str, Cursor] = {}
        self._shown: dict[str, object] = {}

        self.header = html_pane(sizing_mode="stretch_width")
        self.overview = html_pane(overview_html([]), sizing_mode="stretch_width")
        self.reactor = pn.widgets.Select(label="Reactor", options=[], width=220)
        self.reactor_header = html_pane(sizing_mode="stretch_width")
        self.recommendation = html_pane(recommendation_html(None), width=340)
        self.active = alarm_tabulator([], pagination="local", page_size=6)
        self.events = alarm_tabulator([], pagination="local", page_size=8)
        self.alarm_choice = pn.widgets.Select(label="Alarm to acknowledge", options={}, sizing_mode="stretch_width")
        self.user = pn.widgets.TextInput(label="Your name", placeholder="operator name", width=180)
        self.comment = pn.widgets.TextInput(label="Comment", placeholder="optional", sizing_mode="stretch_width")
        self.ack_button = pn.widgets.Button(label="Acknowledge", color="primary", width=140, align="end")
        self.ack_result = pn.pane.Alert(visible=False, sizing_mode="stretch_width")
        self.ack_button.on_click(lambda _: self.submit_acknowledgement())
        self.reactor.param.watch(lambda _: self._show_reactor(), "value")

    def layout(self) -> pn.viewable.Viewable:
        """The page, with the project's stylesheet."""
        return pn.Column(
            self.header,
            "## Fleet",
            self.overview,
            "## Reactor",
            pn.Row(self.reactor, self.reactor_header, sizing_mode="stretch_width"),
            pn.Row(
                pn.pane.Bokeh(self.plots.layout, sizing_mode="stretch_width"),
                pn.Column("### Feed recommendation", self.recommendation, width=360),
                sizing_mode="stretch_width",
            ),
            "## Active alarms",
            self.active,
            pn.Row(self.alarm_choice, self.user, self.comment, self.ack_button, sizing_mode="stretch_width"),
            self.ack_result,
            "## Recent alarm events",
            self.events,
            sizing_mode="stretch_width",
            margin=(0, 20),
        )

    def refresh(self) -> None:
        """Bring every widget up to date with the shared state; cheap when nothing changed."""
        self._set(self.header, "object", self._header_html())
        self._set(self.overview, "object", overview_html(self.state.overview()))
        reactors = self.state.reactors()
        if self.reactor.options != reactors:
            self.reactor.options = reactors
        if self.reactor.value is None and reactors:
            self.reactor.value = reactors[0]  # the watcher shows it
        else:
            self._pull_reactor()
        active = self.state.active_alarms()
        if self._changed("active", active):
            self.active.value = alarm_table(active)
            choices = {
                f"{a.reactor_id} · {a.check} · {a.severity.value} · since {a.first_seen:%d %b %H:%M}": a.alarm_id
                for a in active
                if a.state is AlarmState.RAISED
            }
            self.alarm_choice.options = choices
            if self.alarm_choice.value not in choices.values():
                self.alarm_choice.value = next(iter(choices.values()), None)
        events = self.state.recent_events(RECENT_EVENTS)
        if self._changed("events", events):
            self.events.value = alarm_table(events)

    def submit_acknowledgement(self) -> None:
        """Publish the chosen alarm's acknowledgement; say in the page what happened."""
        alarm_id = self.alarm_choice.value or ""
        alarm = next((a for a in self.state.active_alarms() if a.alarm_id == alarm_id), None)
        try:
            if alarm is None:
                raise ValueError("choose an active alarm to acknowledge")
            ack = self._acknowledge(alarm.reactor_id, alarm_id, self.user.value or "", self.comment.value or "")
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
            f'<p class="muted">broker {escape(self._broker)} · {monitor_text}{problems}</p>'
        )

    def _show_reactor(self) -> None:
        """A new reactor was chosen: start its plots from scratch."""
        self._cursors.clear()
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
        view = self.state.view(reactor_id)
        if view is not None:
            self._set(self.recommendation, "object", recommendation_html(view.recommendation))
            day = f"day {view.latest.culture_h / 24:.2f}" if view.latest else "no readings yet"
            self._set(
                self.reactor_header,
                "object",
                f'<p style="margin-top:28px">batch <b>{escape(view.batch_id or "–")}</b> · {day}</p>',
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


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _placed(columns: Callable[[list[tuple[float, Any]]], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    """Column builder for timed items; those without a place on the time axis are left out."""

    def build(items: tuple[Timed[Any], ...]) -> dict[str, Any]:
        return columns([(i.culture_h, i.payload) for i in items if i.culture_h is not None])

    return build


def live_page(state: FleetState, acknowledge: Acknowledge, broker: str = "") -> pn.viewable.Viewable:
    """A new session's page, refreshed every :data:`REFRESH_MS` on the session's loop."""
    pn.extension("tabulator")
    page = LivePage(state, acknowledge, broker)
    page.refresh()
    pn.state.add_periodic_callback(page.refresh, period=REFRESH_MS)
    return page.layout()
