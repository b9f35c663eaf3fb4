"""`bioreactor dashboard` in a headless browser: the live page against the real broker, and the analysis page.

Chromium comes from Debian (``apt-get install -y chromium``), never from
``playwright install``. Screenshots go to the temporary directory for a person
to look at; nothing here measures time.
"""

import queue
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from bioreactor.contract import Acknowledgement, Severity, decode, encode
from bioreactor.contract import topics as t
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from monitor.analyze import EVENT_COLUMNS
from tests.dashboard_helpers import active, alarm, reading, status
from tests.monitor_helpers import Collector, Publisher, wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "bioreactor_synthetic_1000rows.csv"
SCREENSHOTS = Path(tempfile.gettempdir())
#: Generous: a shared 2-core machine may take a while to start the server and render.
WAIT_MS = 60_000

pytestmark = [
    pytest.mark.ui,
    pytest.mark.broker,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no Debian Chromium at /usr/bin/chromium: install it with `apt-get install -y chromium`",
    ),
]


def _lines(stream, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


@pytest.fixture(scope="module")
def dashboard(broker: BrokerAddress, tmp_path_factory) -> Iterator[str]:
    """A `bioreactor dashboard` process on a free port; yields its base URL."""
    no_model = tmp_path_factory.mktemp("dashboard") / "no-model.joblib"
    command = [sys.executable, "-m", "bioreactor", "dashboard", "--broker", str(broker), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--model", str(no_model)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    seen = []
    try:
        while True:
            line = lines.get(timeout=WAIT_MS / 1000)
            seen.append(line)
            if line.startswith("live fleet:"):
                yield line.split()[-1].removesuffix("/live")
                break
    except queue.Empty:
        pytest.fail(f"the dashboard printed no URL:\n{''.join(seen)}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(WAIT_MS)
    yield page
    page.close()


@pytest.fixture
def reactor(broker: BrokerAddress) -> Iterator[str]:
    """A reactor id of this test only; its retained messages are deleted afterwards."""
    reactor_id = f"UI-{uuid.uuid4().hex[:8]}"
    yield reactor_id
    client = make_client(f"cleanup-{uuid.uuid4().hex[:8]}", persistent=False)
    connect(client, broker)
    for topic in (t.status_topic(reactor_id), t.active_alarms_topic(reactor_id)):
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
    disconnect(client)


def test_live_page_shows_the_reactor_its_alarm_and_sends_an_acknowledgement(dashboard, broker, page, reactor):
    from playwright.sync_api import expect  # noqa: PLC0415

    readings = [reading(reactor, seq, glucose=4.5 - 0.1 * seq) for seq in range(30)]
    raised = alarm(reactor, at=readings[-1].timestamp, message=f"glucose collapsed on {reactor}: check the feed pump")
    with Publisher(broker) as publisher:
        publisher.readings(readings)
        publisher.send(t.alarm_topic(reactor), encode(raised))
    retain = make_client(f"retain-{uuid.uuid4().hex[:8]}", persistent=False)
    connect(retain, broker)
    retain.publish(t.status_topic(reactor), encode(status(reactor)), qos=1, retain=True).wait_for_publish(10)
    retain.publish(t.active_alarms_topic(reactor), encode(active(reactor, raised)), qos=1, retain=True)
    disconnect(retain)

    page.goto(f"{dashboard}/live")
    card = page.locator(f'[data-reactor="{reactor}"]')
    expect(card).to_be_visible()
    expect(card).to_contain_text("online")
    expect(card).to_contain_text(f"1 {Severity.CRITICAL.value}")
    expect(page.get_by_text(raised.message).first).to_be_visible()

    page.locator("select").first.select_option(reactor)
    expect(page.get_by_text(f"batch {raised.batch_id}").first).to_be_visible()
    page.wait_for_timeout(2000)  # let the plots draw before the screenshot
    page.screenshot(path=SCREENSHOTS / "dashboard_live.png", full_page=True)

    with Collector(broker, t.ack_topic(reactor, "ui-test")) as acks:
        choice = page.locator("select").nth(1)
        choice.select_option(label=choice.locator("option", has_text=reactor).inner_text())
        page.get_by_placeholder("operator name").fill("ui-test")
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_text("sent as ui-test")).to_be_visible()
        wait_until(lambda: acks.payloads(t.ack_topic(reactor, "ui-test")), what="the acknowledgement")
        ack = decode(Acknowledgement, acks.payloads(t.ack_topic(reactor, "ui-test"))[0])
    assert (ack.alarm_id, ack.user) == (raised.alarm_id, "ui-test")


def test_analysis_page_analyses_the_sample_file_and_offers_the_events(dashboard, page, tmp_path):
    from playwright.sync_api import expect  # noqa: PLC0415

    page.goto(f"{dashboard}/analyze")
    page.locator("input[type=file]").set_input_files(SAMPLE)
    # The file is sent to the server once chosen; the Analyze click must come after it.
    page.wait_for_timeout(2000)
    page.get_by_role("button", name="Analyze").click()
    expect(page.get_by_text("1000 readings in 5 batch(es)")).to_be_visible()
    expect(page.get_by_text("S1000-B004").first).to_be_visible()
    page.wait_for_timeout(2000)
    page.screenshot(path=SCREENSHOTS / "dashboard_analyze.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download events.csv").click()
    saved = tmp_path / "events.csv"
    download.value.save_as(saved)
    events = pd.read_csv(saved)
    assert tuple(events.columns) == EVENT_COLUMNS and len(events) > 0


def test_analysis_page_explains_a_bad_file(dashboard, page, tmp_path):
    from playwright.sync_api import expect  # noqa: PLC0415

    bad = tmp_path / "bad.csv"
    bad.write_text("time,vcd\n0,1\n")
    page.goto(f"{dashboard}/analyze")
    page.locator("input[type=file]").set_input_files(bad)
    page.wait_for_timeout(2000)
    page.get_by_role("button", name="Analyze").click()
    expect(page.get_by_text("Cannot analyse this file")).to_be_visible()
    expect(page.get_by_text("the CSV has no column for").first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "dashboard_analyze_error.png", full_page=True)
