"""Batch comparison without a browser: batches from a historian and from an upload, overlaid by culture time."""

from __future__ import annotations

import pytest
from bokeh.models import SaveTool

from bioreactor.contract import AlarmState, replace
from dashboards.compare import ComparePage, alarm_points, historian_batches, overlay_columns
from dashboards.guide import ProcessGuide
from monitor.config import MonitorConfig
from monitor.historian import Changeset, SqliteHistorian
from tests.dashboard_helpers import alarm, reading


@pytest.fixture
def historian(tmp_path):
    path = tmp_path / "historian.sqlite"
    first = [reading("R1", seq, "B1", glucose=5.0 - 0.01 * seq) for seq in range(100)]
    second = [reading("R2", seq, "B2", glucose=4.0) for seq in range(60)]
    raised = alarm("R1", batch_id="B1", at=first[40].timestamp)
    with SqliteHistorian(path) as store:
        store.commit(Changeset(readings=first + second, events=[raised, replace(raised, state=AlarmState.CLEARED)]))
    return path


def test_historian_batches_are_listed_and_loaded_with_their_alarms(historian):
    loaders = historian_batches(historian)
    assert list(loaders) == ["R1 / B1", "R2 / B2"]
    batch = loaders["R1 / B1"]()
    line = overlay_columns(batch, "glucose")
    assert len(line["day"]) == 100 and line["day"][0] == pytest.approx(reading("R1", 0).culture_h / 24)
    marks = alarm_points(batch, "glucose")  # the raised alarm only, on the glucose line at its time
    assert marks["day"] == [pytest.approx(reading("R1", 40).culture_h / 24)]
    assert marks["value"] == [pytest.approx(5.0 - 0.4)]


def test_the_page_overlays_the_chosen_batches_and_the_envelope(historian, tmp_path):
    page = ComparePage(historian, ProcessGuide.from_config(MonitorConfig.default()))
    assert "2 batch(es) in the historian" in page.note.object
    page.batches.value = ["R1 / B1", "R2 / B2"]
    names = {r.data_source.name for r in page.plot.object.renderers}
    assert any(isinstance(tool, SaveTool) for tool in page.plot.object.toolbar.tools)  # PNG export
    assert {"compare_line:R1 / B1", "compare_line:R2 / B2", "compare_alarms:R1 / B1"} <= names
    page.variable.value = "do"
    assert "Dissolved" in page.plot.object.title.text or "DO" in page.plot.object.title.text

    csv = tmp_path / "run.csv"
    rows = ["timestamp,reactor_id,batch_id,culture_h,glucose"]
    rows += [f"2026-01-01T{h:02d}:00:00Z,U1,UB,{h},{6 - 0.1 * h}" for h in range(20)]
    csv.write_text("\n".join(rows) + "\n")
    page.add_upload(csv.read_bytes(), "run.csv")
    assert "1 batch(es) added from run.csv" in page.note.object
    assert "run.csv: U1 / UB" in page.batches.options
    page.variable.value = "glucose"
    page.batches.value = ["run.csv: U1 / UB"]
    (line,) = [r for r in page.plot.object.renderers if r.data_source.name == "compare_line:run.csv: U1 / UB"]
    assert line.data_source.data["value"][:2] == [6.0, pytest.approx(5.9)]


def test_without_a_historian_the_page_says_to_upload():
    page = ComparePage(None)
    assert "No historian given" in page.note.object and page.batches.options == []
