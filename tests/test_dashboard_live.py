"""The live page's session logic, without a browser: what it pulls from the state and what it publishes."""

from datetime import UTC, datetime

import pytest

from bioreactor.contract import Acknowledgement, AlarmState, Severity, StatusState, encode
from bioreactor.contract import topics as t
from dashboards.live import LivePage
from dashboards.state import FleetState
from tests.dashboard_helpers import active, alarm, latest, reading, recommendation, status


class Recorder:
    """Stands in for the MQTT bridge's acknowledge: keeps what would be published."""

    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[tuple[str, Acknowledgement]] = []
        self.error = error

    def __call__(self, reactor_id: str, alarm_id: str, user: str, comment: str) -> Acknowledgement:
        if self.error:
            raise self.error
        ack = Acknowledgement(alarm_id=alarm_id, user=user, timestamp=datetime.now(UTC), comment=comment or None)
        self.sent.append((reactor_id, ack))
        return ack


@pytest.fixture
def fleet():
    state = FleetState(history=50)
    for reactor in ("R1", "R2"):
        state.apply(t.status_topic(reactor), encode(status(reactor)))
        for seq in range(10):
            state.apply(t.reading_topic(reactor), encode(reading(reactor, seq)))
    raised = alarm("R2", at=latest(state, "R2").timestamp)
    state.apply(t.alarm_topic("R2"), encode(raised))
    state.apply(t.active_alarms_topic("R2"), encode(active("R2", raised)))
    return state


def test_refresh_shows_fleet_plots_and_alarms(fleet):
    page = LivePage(fleet, Recorder(), "mqtt://broker")
    page.refresh()
    assert page.reactor.options == ["R1", "R2"] and page.reactor.value == "R1"
    assert 'data-reactor="R1"' in page.overview.object and 'data-reactor="R2"' in page.overview.object
    assert "1 critical" in page.overview.object
    assert len(page.plots.readings.data["day"]) == 10
    assert list(page.active.value["reactor"]) == ["R2"]
    assert "low-low limit on R2" in page.active.value["message"][0]
    assert len(page.alarm_choice.options) == 1

    page.reactor.value = "R2"
    assert page.plots.readings.data["vcd"] == [5.0] * 10
    assert len(page.plots.markers.data["day"]) == 1  # the alarm, on R2's time axis


def test_refresh_streams_only_new_readings_with_rollover(fleet):
    page = LivePage(fleet, Recorder())
    page.refresh()
    for seq in range(10, 70):
        fleet.apply(t.reading_topic("R1"), encode(reading("R1", seq, feed_rate=float(seq))))
    page.refresh()
    feed = page.plots.readings.data["feed_rate"]
    assert len(feed) == 50  # rollover at the state's history
    assert list(feed)[-3:] == [67.0, 68.0, 69.0]


def test_recommendation_and_status_are_shown(fleet):
    fleet.apply(t.recommendation_topic("R1"), encode(recommendation("R1", at=latest(fleet, "R1").timestamp)))
    fleet.apply(t.status_topic("R2"), encode(status("R2", StatusState.END_OF_STREAM)))
    fleet.apply(t.MONITOR_STATUS, encode(status("monitor", StatusState.OFFLINE)))
    page = LivePage(fleet, Recorder())
    page.refresh()
    assert "Recommended feed 12.00 mL/h" in page.recommendation.object
    # Drivers by size of contribution: vcd (2.5) before glucose (-1.5) before culture_h.
    text = page.recommendation.object
    assert text.index(">vcd<") < text.index(">glucose<") < text.index(">culture_h<")
    assert page.plots.recommendations.data["recommended"] == [12.0]
    assert "end of stream" in page.overview.object
    assert "monitor: offline" in page.header.object


def test_acknowledge_publishes_for_the_chosen_alarm(fleet):
    recorder = Recorder()
    page = LivePage(fleet, recorder)
    page.refresh()
    page.user.value = "ana"
    page.comment.value = "feed line re-seated"
    page.submit_acknowledgement()
    (reactor_id, ack), = recorder.sent
    assert reactor_id == "R2" and ack.alarm_id == fleet.active_alarms()[0].alarm_id
    assert (ack.user, ack.comment) == ("ana", "feed line re-seated")
    assert page.ack_result.alert_type == "success" and page.comment.value == ""


def test_acknowledge_problems_are_shown_in_the_page(fleet):
    page = LivePage(fleet, Recorder(ValueError("enter your name")))
    page.refresh()
    page.submit_acknowledgement()
    assert page.ack_result.alert_type == "danger" and "enter your name" in page.ack_result.object

    page.alarm_choice.options = {}
    page.alarm_choice.value = None
    page.submit_acknowledgement()
    assert "choose an active alarm" in page.ack_result.object


def test_only_raised_alarms_can_be_acknowledged(fleet):
    done = alarm("R1", check="rate", severity=Severity.WARNING, state=AlarmState.ACKNOWLEDGED, user="bo")
    fleet.apply(t.active_alarms_topic("R1"), encode(active("R1", done)))
    page = LivePage(fleet, Recorder())
    page.refresh()
    assert len(page.active.value) == 2
    assert list(page.alarm_choice.options.values()) == [fleet.active_alarms()[0].alarm_id]


def test_text_from_the_broker_is_escaped():
    state = FleetState()
    state.apply(t.reading_topic("R1"), encode(reading("R1", batch_id="<script>x</script>")))
    page = LivePage(state, Recorder())
    page.refresh()
    assert "<script>" not in page.overview.object and "&lt;script&gt;" in page.overview.object
    assert "<script>" not in page.reactor_header.object
