"""The live page's session logic, without a browser: what it pulls from the state and what it publishes."""

from datetime import UTC, datetime

import pytest

from bioreactor.contract import (
    Acknowledgement,
    ActiveAlarms,
    AlarmState,
    Incident,
    IncidentState,
    Severity,
    StatusState,
    encode,
)
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
    assert page.reactor.options == ["R1", "R2"]
    assert 'data-reactor="R1"' in page.fleet.cards and 'data-reactor="R2"' in page.fleet.cards
    assert "1 critical" in page.fleet.cards
    assert len(page.plots.readings.data["day"]) == 10
    assert list(page.active.value["reactor"]) == ["R2"]
    assert "low-low limit on R2" in page.active.value["message"][0]
    assert page.active.value["incident"][0] == (
        "R2 · limit_low_low: glucose 0.20 g/L is below the low-low limit on R2 (limit_low_low)"
    )
    # Trouble first: R2 has a critical alarm, so its card comes first and names it in words.
    assert page.fleet.cards.index('data-reactor="R2"') < page.fleet.cards.index('data-reactor="R1"')
    assert "glucose 0.20 g/L is below the low-low limit on R2" in page.fleet.cards
    assert page.reactor.value == "R2"  # the first reactor shown is the one in trouble
    assert page.plots.readings.data["vcd"] == [5.0] * 10
    assert len(page.plots.markers.data["day"]) == 1  # the alarm, on R2's time axis
    assert list(page.reactor_active.value["check"]) == [fleet.active_alarms()[0].check]
    (start,), (end,) = page.plots.spans.data["start"], page.plots.spans.data["end"]
    assert start == end == pytest.approx(latest(fleet, "R2").culture_h / 24)  # raised at the latest reading


def test_a_card_click_opens_that_reactor(fleet):
    page = LivePage(fleet, Recorder())
    page.layout()
    page.refresh()
    page.fleet._handle_msg({"reactor": "R1"})
    assert page.reactor.value == "R1" and page.tabs.active == 1
    assert 'class="card alarm-none selected" data-reactor="R1"' in page.fleet.cards
    page.fleet._handle_msg({"reactor": "nope"})  # an unknown id from the browser changes nothing
    assert page.reactor.value == "R1"


@pytest.mark.parametrize(("search", "show", "shown"), [
    ("", "all", ["R2", "R1"]), ("r1", "all", ["R1"]), ("", "in alarm", ["R2"]), ("", "critical", ["R2"]),
    ("R1", "critical", []),
])
def test_the_fleet_filter_hides_cards(fleet, search, show, shown):
    page = LivePage(fleet, Recorder())
    page.refresh()
    page.search.value, page.show.value = search, show
    order = [part.split('"')[0] for part in page.fleet.cards.split('data-reactor="')[1:]]
    assert order == shown
    assert (f"{2 - len(shown)} reactor(s) hidden" in page.fleet.cards) == (len(shown) < 2)


def test_refresh_shows_a_bounded_history_ending_with_the_newest(fleet):
    page = LivePage(fleet, Recorder())
    page.refresh()
    page.reactor.value = "R1"
    for seq in range(10, 70):
        fleet.apply(t.reading_topic("R1"), encode(reading("R1", seq, feed_rate=float(seq))))
    page.refresh()
    feed = list(page.plots.readings.data["feed_rate"])
    kept = [r.feed_rate for r in fleet.readings_since("R1").items]
    assert len(feed) <= fleet.history and feed == kept  # bounded, and what the state holds
    assert feed[-3:] == [67.0, 68.0, 69.0]


def test_recommendation_and_status_are_shown(fleet):
    fleet.apply(t.recommendation_topic("R1"), encode(recommendation("R1", at=latest(fleet, "R1").timestamp)))
    fleet.apply(t.status_topic("R2"), encode(status("R2", StatusState.END_OF_STREAM)))
    fleet.apply(t.MONITOR_STATUS, encode(status("monitor", StatusState.OFFLINE)))
    page = LivePage(fleet, Recorder())
    page.refresh()
    page.reactor.value = "R1"
    assert "Recommended feed 12.00 mL/h" in page.recommendation.object
    # Drivers by size of contribution: vcd (2.5) before glucose (-1.5) before culture_h.
    text = page.recommendation.object
    assert text.index(">vcd<") < text.index(">glucose<") < text.index(">culture_h<")
    assert page.plots.recommendations.data["recommended"] == [12.0]
    assert "end of stream" in page.fleet.cards
    assert "monitor: offline" in page.header.object


class Click:
    """A Tabulator cell click, as Panel hands it to ``on_click``."""

    def __init__(self, column: str, row: int) -> None:
        self.column, self.row = column, row


def test_acknowledge_from_the_alarm_row(fleet):
    recorder = Recorder()
    page = LivePage(fleet, recorder)
    page.refresh()
    page.user.value = "ana"
    page.comment.value = "feed line re-seated"
    page._ack_clicked(page.active)(Click("message", 0))  # a click elsewhere on the row does nothing
    assert recorder.sent == []
    page._ack_clicked(page.active)(Click("ack", 0))
    (reactor_id, ack), = recorder.sent
    assert reactor_id == "R2" and ack.alarm_id == fleet.active_alarms()[0].alarm_id
    assert (ack.user, ack.comment) == ("ana", "feed line re-seated")
    assert page.ack_result.alert_type == "success" and page.comment.value == ""


def test_acknowledge_problems_are_shown_in_the_page(fleet):
    page = LivePage(fleet, Recorder(ValueError("enter your name")))
    page.refresh()
    page.acknowledge(fleet.active_alarms()[0].alarm_id)
    assert page.ack_result.alert_type == "danger" and "enter your name" in page.ack_result.object

    page.acknowledge("R9:B1:gone")
    assert "no longer active" in page.ack_result.object


def test_acknowledged_alarms_look_different_and_cannot_be_acknowledged_twice(fleet):
    done = alarm("R1", check="rate", severity=Severity.WARNING, state=AlarmState.ACKNOWLEDGED, user="bo")
    fleet.apply(t.active_alarms_topic("R1"), encode(active("R1", done)))
    recorder = Recorder()
    page = LivePage(fleet, recorder)
    page.refresh()
    table = page.active.value
    assert list(table["check"]) == [fleet.active_alarms()[0].check, "rate"]  # unacknowledged first
    assert table["acknowledged"].iloc[0] == "" and table["acknowledged"].iloc[1].startswith("bo · ")
    assert "#8c959f" in table["severity"].iloc[1] and "#8c959f" not in table["severity"].iloc[0]
    page.acknowledge(done.alarm_id)
    assert recorder.sent == [] and "already acknowledged by bo" in page.ack_result.object


def test_text_from_the_broker_is_escaped():
    state = FleetState()
    state.apply(t.reading_topic("R1"), encode(reading("R1", batch_id="<script>x</script>")))
    page = LivePage(state, Recorder())
    page.refresh()
    assert "<script>" not in page.fleet.cards and "&lt;script&gt;" in page.fleet.cards
    assert "<script>" not in page.reactor_header.object


def test_a_signed_in_operator_acknowledges_under_their_own_name(fleet):
    recorder = Recorder()
    page = LivePage(fleet, recorder, operator="alice")
    page.refresh()
    assert page.user.disabled and page.user.value == "alice"
    page.user.value = "mallory"  # a name typed anyway is not the one sent
    page.acknowledge(fleet.active_alarms()[0].alarm_id)
    (_, ack), = recorder.sent
    assert ack.user == "alice"


def test_without_a_signed_in_operator_nothing_is_acknowledged(fleet):
    recorder = Recorder()
    page = LivePage(fleet, recorder, operator="")
    page.refresh()
    page.user.value = "mallory"
    page.acknowledge(fleet.active_alarms()[0].alarm_id)
    assert recorder.sent == [] and "no signed-in operator" in page.ack_result.object


def test_alarms_of_one_incident_are_grouped_under_its_diagnosis(fleet):
    at = latest(fleet, "R1").timestamp
    cause = alarm("R1", check="temperature_control", at=at, incident_id="R1:B1:1",
                  message="Temperature 39.8 °C is 2.8 above its set point. Check the jacket.")
    consequence = alarm("R1", check="limit_high_high", at=at, incident_id="R1:B1:1")
    incident = Incident(incident_id="R1:B1:1", reactor_id="R1", batch_id="B1", state=IncidentState.UPDATED,
                        timestamp=at, opened_at=at, diagnosis="temperature_control", severity=Severity.CRITICAL,
                        message=cause.message)
    fleet.apply(t.active_alarms_topic("R1"), encode(ActiveAlarms(reactor_id="R1", timestamp=at,
                                                                 alarms=(cause, consequence), incidents=(incident,))))
    page = LivePage(fleet, Recorder())
    page.refresh()
    table = page.active.value[page.active.value["reactor"] == "R1"]
    assert set(table["incident"]) == {"R1 · temperature_control: Temperature 39.8 °C is 2.8 above its set point."}
    (consequence_row,) = table[table["check"] == "limit_high_high"]["message"]
    assert "(consequence of temperature_control)" in consequence_row
    assert "Temperature 39.8 °C is 2.8 above its set point." in page.fleet.cards  # the card names the cause
