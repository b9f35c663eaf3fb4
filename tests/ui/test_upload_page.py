"""The analysis page in a headless browser: upload a CSV, then read back what the page shows.

The events table is read from its cells (header, one row per event, check and
reactor of each), the alarm markers from the plots' Bokeh source, long error texts
by their rendered size; all against the command line's analysis of the same file
(:func:`monitor.analyze.analyze_csv`) and the culture hours written in it.
Chromium comes from Debian; every wait is for a condition, nothing measures time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bioreactor.contract import AlarmEvent, AlarmState
from bioreactor.mqtt import BrokerAddress
from monitor.analyze import EVENT_COLUMNS, analyze_csv
from tests.ui.browser import SCREENSHOTS, WAIT_MS, dashboard_process, pytestmark  # noqa: F401

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "bioreactor_synthetic_1000rows.csv"
EVENT_HEADER = ["time", "reactor", "severity", "state", "check", "message"]
#: Rows a page of the events table shows; the files here have fewer events.
EVENTS_PAGE_SIZE = 10


@pytest.fixture(scope="module")
def dashboard(broker: BrokerAddress, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dashboard_process(broker, tmp_path_factory.mktemp("dashboard")) as url:
        yield url


@pytest.fixture
def page(browser: Any, dashboard: str) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{dashboard}/analyze")
    yield page
    page.close()


def upload(page: Any, path: Path, says: str | None = None) -> str:
    """Choose ``path``, press Analyze and return the page's message once it says ``says``
    (by default what a message about a usable file starts with: the file's name)."""
    from playwright.sync_api import expect  # noqa: PLC0415

    page.locator("input[type=file]").set_input_files(path)
    # The browser reads the file, then sends it to the server; the click must reach the server after it.
    page.wait_for_function(
        """name => [...Bokeh.documents[0].all_models].some(
            m => m.type === "FileInput" && m.filename === name && m.value.length > 0)""",
        arg=path.name,
    )
    page.get_by_role("button", name="Analyze").click()
    message = page.locator("p").filter(has_text=says or f"{path.name}: ")
    expect(message).to_be_visible()
    return str(message.inner_text())


def events_table(page: Any) -> Any:
    """The alarm events table: the one table with a message column."""
    return page.locator(".tabulator").filter(has=page.locator('.tabulator-col[tabulator-field="message"]'))


def rejected_table(page: Any) -> Any:
    return page.locator(".tabulator").filter(has=page.locator('.tabulator-col[tabulator-field="reason"]'))


def header(table: Any) -> list[str]:
    """The titles of a table's shown columns, left to right."""
    titles = table.locator(".tabulator-col[tabulator-field]:visible .tabulator-col-title")
    return [str(t) for t in titles.all_inner_texts()]


def cells(table: Any, fields: list[str]) -> list[list[str]]:
    """The text of the given columns, row by row."""
    rows = table.locator(".tabulator-row").evaluate_all(
        "(rows, fields) => rows.map(row => fields.map(f => row.querySelector(`[tabulator-field='${f}']`).innerText))",
        fields,
    )
    return [[str(c) for c in row] for row in rows]


def overflowing(locator: Any) -> list[str]:
    """The texts of the elements whose content is wider or taller than the element itself (cut off or scrolled)."""
    texts = locator.evaluate_all(
        """els => els.filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
                     .map(e => e.innerText)"""
    )
    return [str(t) for t in texts]


def markers(page: Any, checks: list[str]) -> list[float]:
    """Culture days of the plotted alarm markers, once the marker source holds exactly ``checks``."""
    days = page.wait_for_function(
        """([name, checks]) => {
            const source = Bokeh.documents[0].get_model_by_name(name);
            const data = source.data instanceof Map ? Object.fromEntries(source.data) : source.data;
            const shown = Array.from(data.check);
            return JSON.stringify(shown) === JSON.stringify(checks) && Array.from(data.day);
        }""",
        arg=["markers", checks],
    )
    return [float(d) for d in days.json_value()]


def event_count(message: str) -> int:
    found = re.search(r"(\d+) alarm events", message)
    assert found, message
    return int(found.group(1))


def raised_days(path: Path, events: list[AlarmEvent]) -> dict[str, list[tuple[str, float]]]:
    """``reactor / batch`` -> (check, culture day) of its raised alarms, the day from the file's own culture hours."""
    rows = pd.read_csv(path)
    rows["timestamp"] = pd.to_datetime(rows["timestamp"], utc=True)
    by_batch: dict[str, list[tuple[str, float]]] = {}
    for e in events:
        if e.state is AlarmState.RAISED:
            at = rows[(rows["reactor_id"] == e.reactor_id) & (rows["batch_id"] == e.batch_id)
                      & (rows["timestamp"] == e.timestamp)]
            (hours,) = at["culture_h"]
            by_batch.setdefault(f"{e.reactor_id} / {e.batch_id}", []).append((e.check, hours / 24))
    return by_batch


def test_every_event_is_a_row_of_the_table_and_a_marker_at_its_culture_time(page):
    from playwright.sync_api import expect  # noqa: PLC0415

    events = analyze_csv(SAMPLE).events
    assert 0 < len(events) <= EVENTS_PAGE_SIZE
    message = upload(page, SAMPLE)
    assert event_count(message) == len(events)
    assert "1000 readings in 5 batch(es)" in message

    table = events_table(page)
    expect(table.locator(".tabulator-row")).to_have_count(len(events))
    assert header(table) == EVENT_HEADER
    assert cells(table, ["time", "reactor", "check", "state"]) == [
        [f"{e.timestamp:%Y-%m-%d %H:%M:%S}", e.reactor_id, e.check, e.state.value] for e in events
    ]
    assert cells(table, ["severity"]) == [[e.severity.value] for e in events]

    expected = raised_days(SAMPLE, events)
    assert len(expected) >= 2
    for key, alarms in expected.items():
        page.locator("select").select_option(key)
        days = markers(page, [check for check, _ in alarms])
        assert days == pytest.approx([day for _, day in alarms], abs=1e-6), key
    page.screenshot(path=SCREENSHOTS / "dashboard_analyze.png", full_page=True)


def test_the_events_download_is_the_command_line_analysis(page, tmp_path):
    upload(page, SAMPLE)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download events.csv").click()
    saved = tmp_path / "events.csv"
    download.value.save_as(saved)
    events = pd.read_csv(saved)
    expected = analyze_csv(SAMPLE).events
    assert tuple(events.columns) == EVENT_COLUMNS
    assert list(zip(events["reactor_id"], events["check"], events["state"], strict=True)) == [
        (e.reactor_id, e.check, e.state.value) for e in expected
    ]


def test_long_errors_wrap_and_the_next_file_brings_its_tables_back(page, tmp_path):
    from playwright.sync_api import expect  # noqa: PLC0415

    # A plant export without time columns: the message lists all 40 long column names.
    unusable = tmp_path / "historian_export.csv"
    unusable.write_text(",".join(f"plant_historian_tag_{i:03d}_value" for i in range(40)) + "\n" + "1," * 39 + "1\n")
    upload(page, unusable, says="Cannot analyse this file")
    # The innermost block: the highlighted code block nests one ``pre`` in another.
    error = page.locator("pre:not(:has(pre))", has_text="the CSV has no column for: timestamp or culture_h")
    expect(error).to_contain_text("plant_historian_tag_039_value")
    assert overflowing(error) == []
    box = error.bounding_box()
    assert box["x"] + box["width"] <= page.viewport_size["width"]
    expect(events_table(page)).to_have_count(0)
    page.screenshot(path=SCREENSHOTS / "dashboard_analyze_error.png", full_page=True)

    # The same sample with two unusable rows: a number that is not one, and a row with a long extra cell.
    lines = SAMPLE.read_text().splitlines()
    lines[3] = lines[3].replace(",7.", ",abc", 1)
    lines[9] += ',"' + "x" * 400 + '"'
    edited = tmp_path / "edited.csv"
    edited.write_text("\n".join(lines) + "\n")
    events = analyze_csv(edited).events
    assert 0 < len(events) <= EVENTS_PAGE_SIZE
    message = upload(page, edited)
    assert event_count(message) == len(events) and "2 rejected row(s)" in message

    table = events_table(page)
    expect(table.locator(".tabulator-row")).to_have_count(len(events))
    assert header(table) == EVENT_HEADER
    assert cells(table, ["reactor", "check"]) == [[e.reactor_id, e.check] for e in events]
    first = pd.read_csv(edited, nrows=1).iloc[0]
    expect(page.locator("select")).to_have_value(f"{first['reactor_id']} / {first['batch_id']}")

    rejected = rejected_table(page)
    expect(rejected.locator(".tabulator-row")).to_have_count(2)
    assert header(rejected) == ["line", "field", "column", "reason", "row"]
    not_a_number, too_long = cells(rejected, ["line", "reason", "row"])
    assert not_a_number[0] == "4" and "not a number" in not_a_number[1] and not_a_number[2] == lines[3]
    assert too_long[0] == "10" and "cells" in too_long[1] and too_long[2] == lines[9]
    # Every reason and row is shown whole, inside its cell and the page.
    assert overflowing(rejected.locator(".tabulator-cell:visible")) == []
    assert overflowing(rejected.locator(".tabulator-tableholder")) == []
    page.screenshot(path=SCREENSHOTS / "dashboard_analyze_rejected.png", full_page=True)
