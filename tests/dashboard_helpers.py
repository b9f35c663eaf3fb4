"""Contract messages for the dashboard tests: alarm events, active-alarm lists, statuses, recommendations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bioreactor.contract import (
    ActiveAlarms,
    AlarmEvent,
    AlarmState,
    Driver,
    Reading,
    Recommendation,
    Severity,
    Status,
    StatusState,
)
from dashboards.state import FleetState, ReactorView
from tests.monitor_helpers import START, reading

__all__ = ["START", "active", "alarm", "latest", "reading", "recommendation", "status", "status_of", "view_of"]


def view_of(state: FleetState, reactor_id: str) -> ReactorView:
    view = state.view(reactor_id)
    assert view is not None, f"{reactor_id} is unknown"
    return view


def latest(state: FleetState, reactor_id: str) -> Reading:
    reading = view_of(state, reactor_id).latest
    assert reading is not None, f"{reactor_id} has no reading"
    return reading


def status_of(state: FleetState, reactor_id: str) -> StatusState | None:
    status = view_of(state, reactor_id).status
    return None if status is None else status.state


def alarm(
    reactor_id: str,
    *,
    check: str = "limit_low_low",
    severity: Severity = Severity.CRITICAL,
    state: AlarmState = AlarmState.RAISED,
    at: datetime = START,
    batch_id: str = "B1",
    **values: Any,
) -> AlarmEvent:
    """An alarm event with a recognisable message."""
    fields: dict[str, Any] = {
        "variable": "glucose",
        "value": 0.2,
        "limit": 0.5,
        "message": f"glucose 0.20 g/L is below the low-low limit on {reactor_id} ({check})",
    }
    fields.update(values)
    return AlarmEvent(
        alarm_id=f"{reactor_id}:{batch_id}:{check}:{at.isoformat()}",
        reactor_id=reactor_id,
        batch_id=batch_id,
        check=check,
        severity=severity,
        state=state,
        timestamp=at,
        first_seen=at,
        last_seen=at,
        **fields,
    )


def active(reactor_id: str, *alarms: AlarmEvent) -> ActiveAlarms:
    return ActiveAlarms(reactor_id=reactor_id, timestamp=START, alarms=alarms)


def status(reactor_id: str, state: StatusState = StatusState.ONLINE) -> Status:
    return Status(source=reactor_id, state=state, timestamp=START, batch_id="B1")


def recommendation(reactor_id: str, at: datetime = START, batch_id: str = "B1") -> Recommendation:
    return Recommendation(
        reactor_id=reactor_id,
        batch_id=batch_id,
        timestamp=at,
        recommended_feed_rate=12.0,
        current_feed_rate=10.0,
        delta=2.0,
        interval_low=11.0,
        interval_high=13.5,
        model_version="rf-test",
        drivers=(Driver("glucose", -1.5), Driver("vcd", 2.5), Driver("culture_h", 0.25)),
    )
