"""The live page in a headless browser, against a real broker and a monitor historian.

What an operator sees is read back from the page: the order and text of the
fleet cards, which reactor a click opened, the rows of the alarm tables, and the
data of the plots' Bokeh sources (the whole batch from the historian, alarm
spans, golden-batch envelope, limit lines). Chromium comes from Debian; nothing
here measures time or sleeps to decide that something did not happen.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bioreactor.contract import Acknowledgement, AlarmState, Severity, decode, encode, replace
from bioreactor.contract import topics as t
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from dashboards.guide import ProcessGuide
from monitor.historian import Changeset, SqliteHistorian
from monitor.run import monitor_config
from tests.dashboard_helpers import active, alarm, reading, status
from tests.monitor_helpers import Collector, Publisher, wait_until
from tests.ui.browser import SCREENSHOTS, WAIT_MS, dashboard_process, pytestmark  # noqa: F401

#: The harvested batch stored in the historian before the dashboard starts: 6 days at 5 minutes.
HARVESTED_READINGS = 6 * 24 * 12
HARVESTED = "HIST-1"


@pytest.fixture(scope="module")
def historian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A monitor historian holding one harvested batch, with a glucose alarm raised and cleared."""
    path = tmp_path_factory.mktemp("live") / "historian.sqlite"
    readings = [reading(HARVESTED, seq, "H-B1") for seq in range(HARVESTED_READINGS)]
    raised = alarm(HARVESTED, batch_id="H-B1", at=readings[300].timestamp, check="limit_low_low")
    cleared = replace(raised, state=AlarmState.CLEARED, timestamp=readings[420].timestamp)
    with SqliteHistorian(path) as store:
        store.commit(Changeset(readings=readings, events=[raised, cleared]))
    return path


@pytest.fixture(scope="module")
def dashboard(broker: BrokerAddress, historian: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dashboard_process(broker, tmp_path_factory.mktemp("dashboard"), "--historian", str(historian)) as url:
        yield url


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(WAIT_MS)
    yield page
    page.close()


@pytest.fixture
def fleet(broker: BrokerAddress) -> Iterator[dict[str, str]]:
    """Three reactors of this test: one healthy, one with a warning, one critical (retained, cleaned up)."""
    tag = uuid.uuid4().hex[:6].upper()
    ids = {"healthy": f"OK-{tag}", "warning": f"WARN-{tag}", "critical": f"CRIT-{tag}"}
    with Publisher(broker) as publisher:
        for reactor_id in ids.values():
            publisher.readings([reading(reactor_id, seq) for seq in range(24)])
    end = reading(ids["critical"], 23).timestamp
    warning = alarm(ids["warning"], check="limit_low", severity=Severity.WARNING, at=end,
                    message="glucose 0.90 g/L is below its low limit 1.00 g/L. Check the feed.")
    critical = alarm(ids["critical"], at=end - timedelta(hours=1),
                     message="DO 8.0 % is 32.0 below its set point. The sparger may be blocked.")
    retain = make_client(f"retain-{tag}", persistent=False)
    connect(retain, broker)
    for reactor_id in ids.values():
        retain.publish(t.status_topic(reactor_id), encode(status(reactor_id)), qos=1, retain=True).wait_for_publish(10)
    for reactor_id, raised in ((ids["warning"], warning), (ids["critical"], critical)):
        retain.publish(t.alarm_topic(reactor_id), encode(raised), qos=1).wait_for_publish(10)
        retain.publish(t.active_alarms_topic(reactor_id), encode(active(reactor_id, raised)), qos=1,
                       retain=True).wait_for_publish(10)
    ids["critical_alarm"], ids["warning_alarm"] = critical.alarm_id, warning.alarm_id
    yield ids
    for reactor_id in (ids["healthy"], ids["warning"], ids["critical"]):
        for topic in (t.status_topic(reactor_id), t.active_alarms_topic(reactor_id)):
            retain.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
    disconnect(retain)


def card_order(page: Any) -> list[str]:
    return [str(r) for r in page.locator("[data-reactor]").evaluate_all("cards => cards.map(c => c.dataset.reactor)")]


def source_data(page: Any, name: str) -> dict[str, list[Any]]:
    """The data of the Bokeh source called ``name`` in the page's document (plain lists)."""
    return dict(page.evaluate(
        """name => {
            const source = Bokeh.documents[0].get_model_by_name(name);
            const data = {};
            const entries = source.data instanceof Map ? source.data.entries() : Object.entries(source.data);
            for (const [key, values] of entries) { data[key] = Array.from(values); }
            return data;
        }""",
        name,
    ))


def shown_reactor(page: Any) -> str:
    return str(page.locator("select").first.input_value())


def test_the_root_url_opens_the_live_page(dashboard):
    with urllib.request.urlopen(f"{dashboard}/", timeout=WAIT_MS / 1000) as response:
        assert response.url == f"{dashboard}/live" and b"Bokeh" in response.read()


def test_the_fleet_shows_trouble_first_and_a_card_opens_its_reactor(dashboard, page, fleet):
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"{dashboard}/live")
    ours = [fleet["critical"], fleet["warning"], fleet["healthy"]]
    wait_until(lambda: [r for r in card_order(page) if r in ours] == ours, timeout=WAIT_MS / 1000,
               what="cards ordered critical, warning, healthy")
    critical_card = page.locator(f'[data-reactor="{fleet["critical"]}"]')
    expect(critical_card).to_contain_text("DO 8.0 % is 32.0 below its set point.")  # the alarm, in words
    expect(critical_card).not_to_contain_text("The sparger may be blocked")  # one sentence on a card
    expect(page.locator(f'[data-reactor="{fleet["healthy"]}"]')).to_contain_text("no active alarms")
    page.screenshot(path=SCREENSHOTS / "live_fleet.png", full_page=True)

    page.get_by_placeholder("search reactor or batch").fill(fleet["warning"].lower())
    page.keyboard.press("Enter")
    wait_until(lambda: card_order(page) == [fleet["warning"]], timeout=WAIT_MS / 1000, what="search keeps one card")
    page.get_by_placeholder("search reactor or batch").fill("")
    page.keyboard.press("Enter")

    page.locator(f'[data-reactor="{fleet["healthy"]}"]').click()
    wait_until(lambda: shown_reactor(page) == fleet["healthy"], timeout=WAIT_MS / 1000, what="the clicked reactor")
    expect(page.get_by_role("heading", name="Active alarms of this reactor")).to_be_visible()  # its tab is open
    wait_until(lambda: len(source_data(page, "readings")["day"]) == 24, timeout=WAIT_MS / 1000,
               what="the reactor's 24 readings on the plots")
    days = source_data(page, "readings")["day"]
    assert days[0] == pytest.approx(reading(fleet["healthy"], 0).culture_h / 24)
    assert days[-1] == pytest.approx(reading(fleet["healthy"], 23).culture_h / 24)


def test_an_alarm_is_acknowledged_from_its_row(dashboard, broker, page, fleet):
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"{dashboard}/live")
    page.get_by_placeholder("operator name").fill("ui-test")
    # Rows are grouped under their incident (here each alarm is one of its own).
    group = page.locator(".tabulator-group", has_text=fleet["critical"]).first
    expect(group).to_contain_text(f"{fleet['critical']} · limit_low_low: DO 8.0 % is 32.0 below its set point.")
    row = page.locator(".tabulator-row:not(.tabulator-group)", has_text=fleet["critical"]).first
    expect(row).to_contain_text("DO 8.0 % is 32.0 below its set point")
    expect(row).to_contain_text("critical")
    with Collector(broker, t.ack_topic(fleet["critical"], "ui-test")) as acks:
        row.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_text("sent as ui-test")).to_be_visible()
        wait_until(lambda: acks.payloads(t.ack_topic(fleet["critical"], "ui-test")), what="the acknowledgement")
        ack = decode(Acknowledgement, acks.payloads(t.ack_topic(fleet["critical"], "ui-test"))[0])
    assert (ack.alarm_id, ack.user) == (fleet["critical_alarm"], "ui-test")

    # The monitor applies it and republishes the active list: the row shows who and when, greyed.
    critical = alarm(fleet["critical"], at=reading(fleet["critical"], 23).timestamp - timedelta(hours=1))
    acknowledged = replace(critical, state=AlarmState.ACKNOWLEDGED, user="ui-test",
                           timestamp=reading(fleet["critical"], 23).timestamp)
    retain = make_client(f"ack-{uuid.uuid4().hex[:6]}", persistent=False)
    connect(retain, broker)
    retain.publish(t.active_alarms_topic(fleet["critical"]), encode(active(fleet["critical"], acknowledged)), qos=1,
                   retain=True).wait_for_publish(10)
    disconnect(retain)
    expect(row).to_contain_text(f"ui-test · {acknowledged.timestamp:%Y-%m-%d %H:%M}")
    page.screenshot(path=SCREENSHOTS / "live_acknowledged.png", full_page=True)


def test_a_harvested_batch_is_drawn_whole_with_limits_spans_and_envelope(dashboard, page):
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"{dashboard}/live")
    page.locator(f'[data-reactor="{HARVESTED}"]').click()
    wait_until(lambda: shown_reactor(page) == HARVESTED, timeout=WAIT_MS / 1000, what="the harvested reactor")
    wait_until(lambda: len(source_data(page, "readings")["day"]) == HARVESTED_READINGS, timeout=WAIT_MS / 1000,
               what="every stored reading on the plots")
    days = source_data(page, "readings")["day"]
    first, last = reading(HARVESTED, 0), reading(HARVESTED, HARVESTED_READINGS - 1)
    assert (days[0], days[-1]) == (pytest.approx(first.culture_h / 24), pytest.approx(last.culture_h / 24))

    # The glucose alarm's span: from its raise (reading 300) to its clear (reading 420).
    spans = source_data(page, "spans")
    assert spans["start"] == [pytest.approx(reading(HARVESTED, 300).culture_h / 24)]
    assert spans["end"] == [pytest.approx(reading(HARVESTED, 420).culture_h / 24)]

    # Limits and envelope are the monitor's own, from the same default profile.
    guide = ProcessGuide.from_config(monitor_config(None, None))
    for level in guide.levels("glucose"):  # absolute limits are horizontal spans
        drawn = page.evaluate(
            "name => Bokeh.documents[0].get_model_by_name(name).location", f"limit_glucose_{level.name}"
        )
        assert drawn == pytest.approx(level.value), level.name
    band = guide.band("glucose")
    assert band is not None
    envelope = source_data(page, "envelope_glucose")
    assert envelope["day"] == pytest.approx(band.day) and envelope["high"] == pytest.approx(band.high)
    expect(page.locator("p", has_text="batch H-B1 · day 8.00")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "live_harvested.png", full_page=True)


def test_batches_are_compared_by_culture_time_from_a_shared_link(dashboard, page):
    from urllib.parse import quote  # noqa: PLC0415

    from playwright.sync_api import expect  # noqa: PLC0415

    label = f"{HARVESTED} / H-B1"
    page.goto(f"{dashboard}/compare?batches={quote(json.dumps([label]))}&variable=glucose")
    expect(page.get_by_text("batch(es) in the historian")).to_be_visible()
    wait_until(lambda: len(source_data(page, f"compare_line:{label}")["day"]) == HARVESTED_READINGS,
               timeout=WAIT_MS / 1000, what="the chosen batch drawn")
    marks = source_data(page, f"compare_alarms:{label}")
    assert marks["day"] == [pytest.approx(reading(HARVESTED, 300).culture_h / 24)]
    assert marks["check"] == ["limit_low_low"]
    page.screenshot(path=SCREENSHOTS / "compare.png", full_page=True)


@pytest.fixture(scope="module")
def signed_in_dashboard(broker: BrokerAddress, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dashboard behind a (stand-in) login proxy that names the operator in X-Forwarded-User."""
    workdir = tmp_path_factory.mktemp("signed-in")
    with dashboard_process(broker, workdir, "--user-header", "X-Forwarded-User") as url:
        yield url


def test_behind_a_login_an_acknowledgement_carries_the_signed_in_operator(signed_in_dashboard, broker, browser, fleet):
    from playwright.sync_api import expect  # noqa: PLC0415

    context = browser.new_context(extra_http_headers={"X-Forwarded-User": "alice"},
                                  viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{signed_in_dashboard}/live")
        name = page.get_by_label("Signed in as")
        expect(name).to_have_value("alice")
        expect(name).to_be_disabled()
        row = page.locator(".tabulator-row:not(.tabulator-group)", has_text=fleet["warning"]).first
        any_user = t.ack_topic(fleet["warning"], "alice").rsplit("/", 1)[0] + "/+"
        with Collector(broker, any_user) as acks:
            row.get_by_role("button", name="Acknowledge").click()
            expect(page.get_by_text("sent as alice")).to_be_visible()
            wait_until(lambda: acks.payloads(t.ack_topic(fleet["warning"], "alice")), what="alice's acknowledgement")
            assert acks.payloads(any_user) == acks.payloads(t.ack_topic(fleet["warning"], "alice"))
        ack = decode(Acknowledgement, acks.payloads(t.ack_topic(fleet["warning"], "alice"))[0])
        assert (ack.alarm_id, ack.user) == (fleet["warning_alarm"], "alice")
    finally:
        context.close()
