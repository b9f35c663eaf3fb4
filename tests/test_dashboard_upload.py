"""The analysis page's logic: an uploaded file gives the same events as `bioreactor analyze`, bad files a message."""

import dataclasses
import io
from pathlib import Path

import pandas as pd
import pytest
from bokeh.models.widgets import Select

from bioreactor.columns import ColumnMap
from bioreactor.contract import AlarmState
from dashboards.upload import UploadError, UploadPage, UploadResult, analyze_upload, parse_mappings
from models.predict import RECOMMENDED
from monitor.analyze import analyze_csv, events_frame
from tests.model_helpers import tiny_model_path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "bioreactor_synthetic_1000rows.csv"


@pytest.fixture(scope="module")
def sample():
    return analyze_upload(SAMPLE.read_bytes(), SAMPLE.name)


def test_upload_gives_the_events_of_the_command_line_analysis(sample):
    expected = events_frame(analyze_csv(SAMPLE).events)
    assert pd.read_csv(io.StringIO(sample.events_csv())).equals(pd.read_csv(io.StringIO(expected.to_csv(index=False))))
    summary = sample.summary()
    assert summary["rows"].sum() == 1000 and len(summary) == len(sample.batches())
    assert summary["alarms"].sum() == sum(1 for e in sample.analysis.events if e.state.value == "raised")
    assert sample.predictions is None and "No feed-rate model" in sample.prediction_note


def test_batch_plots_and_markers(sample):
    key = next(k for k in sample.batches() if k.startswith(sample.analysis.events[0].reactor_id))
    page = UploadPage()
    page.show(sample)
    page.batch.value = key
    rows = sample.batch_frame(key)
    assert len(page.plots.readings.data["day"]) == len(rows)
    markers = page.plots.markers.data
    raised = [
        e for e in sample.analysis.events if f"{e.reactor_id} / {e.batch_id}" == key and e.state.value == "raised"
    ]
    assert len(markers["day"]) == len(raised)
    # Markers sit inside the batch's culture time.
    assert all(rows["culture_h"].min() / 24 <= d <= rows["culture_h"].max() / 24 for d in markers["day"])
    assert page.events in page.results.objects and page.message.alert_type == "success"


def event_days(result: UploadResult, key: str) -> list[float]:
    """Culture days of the raised alarms of one batch: the culture hours of the readings they were raised at."""
    rows = result.batch_frame(key)
    days = []
    for e in result.analysis.events:
        if f"{e.reactor_id} / {e.batch_id}" == key and e.state is AlarmState.RAISED:
            (hours,) = rows.loc[rows["timestamp"] == e.timestamp, "culture_h"]
            days.append(hours / 24)
    return days


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_markers_sit_at_the_culture_time_of_their_events(sample, unit):
    frame = sample.frame.assign(timestamp=sample.frame["timestamp"].dt.as_unit(unit))
    result = dataclasses.replace(sample, frame=frame)
    keys = [k for k in result.batches() if event_days(result, k)]
    assert len(keys) >= 2
    for key in keys:
        expected = event_days(result, key)
        # Well inside the batch, not at its end (where an axis mix-up of time units puts every marker).
        assert max(expected) < result.batch_frame(key)["culture_h"].max() / 24 - 1
        assert result.batch_markers(key)["day"] == pytest.approx(expected, abs=1e-6)


def test_markers_of_a_file_without_timestamps_follow_its_culture_hours():
    frame = pd.read_csv(SAMPLE).drop(columns=["timestamp"])
    result = analyze_upload(frame.to_csv(index=False).encode(), "hours-only.csv")
    assert result.frame["culture_h"].tolist() == frame["culture_h"].tolist()
    keys = [k for k in result.batches() if event_days(result, k)]
    assert keys
    for key in keys:
        assert result.batch_markers(key)["day"] == pytest.approx(event_days(result, key), abs=1e-6)


def test_events_table_has_one_row_per_event(sample):
    page = UploadPage()
    page.show(sample)
    table = page.events.value
    events = sample.analysis.events
    assert list(table.columns) == ["time", "reactor", "severity", "state", "check", "message"]
    assert list(table["check"]) == [e.check for e in events]
    assert list(table["reactor"]) == [e.reactor_id for e in events]
    assert list(table["state"]) == [e.state.value for e in events]
    assert list(table["message"]) == [e.message for e in events]
    assert all(f">{e.severity.value}</span>" in cell for e, cell in zip(events, table["severity"], strict=True))


def test_events_table_keeps_text_columns_without_events(sample):
    # The same column types with and without events: the page refills its table rather than rebuilding it.
    empty = dataclasses.replace(sample, analysis=dataclasses.replace(sample.analysis, events=[]))
    assert empty.events_table().empty
    assert empty.events_table().dtypes.equals(sample.events_table().dtypes)


def test_rejected_rows_keep_line_numbers_and_reasons():
    text = SAMPLE.read_text().splitlines()
    text[3] = text[3].replace(",7.", ",abc", 1)  # line 4: a number made unreadable
    result = analyze_upload("\n".join(text).encode(), "edited.csv")
    table = result.rejected_table()
    assert list(table["line"]) == [4]
    assert "not a number" in table["reason"][0] and table["row"][0] == text[3]
    assert len(result.frame) == 999
    page = UploadPage()
    page.show(result)
    assert page.rejected in page.results.objects and page.no_rejected not in page.results.objects
    assert list(page.rejected.value["line"]) == [4]


def test_mappings_convert_foreign_columns_and_units():
    frame = pd.read_csv(SAMPLE).rename(columns={"glucose": "Glc", "temperature": "Temp"})
    frame["Glc"] = frame["Glc"] * 1000  # mg/L
    frame["Temp"] = frame["Temp"] * 9 / 5 + 32
    data = frame.to_csv(index=False).encode()
    result = analyze_upload(data, "plant.csv", "# historian export\nGlc=glucose:mg/L\nTemp=temperature:degF\n")
    assert result.frame["glucose"].round(6).equals(pd.read_csv(SAMPLE)["glucose"].round(6))
    assert result.frame["temperature"].round(6).equals(pd.read_csv(SAMPLE)["temperature"].round(6))


@pytest.mark.parametrize(
    ("data", "mappings", "expected"),
    [
        (b"", "", "is empty"),
        (b"\xff\xfe\x00a,b\n", "", "not UTF-8"),
        (b"vcd,glucose\n1,2\n", "", "the CSV has no column for"),
        (SAMPLE.read_bytes(), "glucose=glucose:mol/L", "unknown unit 'mol/L' for glucose"),
        (SAMPLE.read_bytes(), "Glc=glucose", "not in the file"),
        (SAMPLE.read_bytes(), "just words", "bad column option"),
        (SAMPLE.read_bytes(), "x=nonsense", "unknown field 'nonsense'"),
    ],
)
def test_bad_files_and_mappings_give_a_message(data, mappings, expected):
    with pytest.raises(UploadError, match=expected):
        analyze_upload(data, "bad.csv", mappings)


def test_file_without_usable_rows():
    header = SAMPLE.read_text().splitlines()[0]
    with pytest.raises(UploadError, match="no usable rows"):
        analyze_upload(f"{header}\n{','.join(['x'] * len(header.split(',')))}\n".encode(), "junk.csv")


def test_page_shows_errors_instead_of_results():
    page = UploadPage()
    page.show_error("the CSV has no column for: ph [pH]")
    assert page.message.alert_type == "danger" and "ph [pH]" in page.message.object
    assert not page.results.objects


def test_results_leave_the_page_on_an_error_and_come_back_with_the_next_file(sample):
    page = UploadPage()
    root = page.layout().get_root()
    assert not page.results.objects
    page.show_error("the CSV has no column for: ph [pH]")
    assert not page.results.objects
    page.show(sample)
    assert page.summary in page.results.objects and page.events in page.results.objects
    assert page.no_rejected in page.results.objects and page.rejected not in page.results.objects
    # The batch choice the browser receives names the first batch, whose readings are plotted.
    (select,) = root.select({"type": Select})
    assert isinstance(select, Select)
    assert select.value == sample.batches()[0] and select.options == sample.batches()
    assert len(page.plots.readings.data["day"]) == len(sample.batch_frame(sample.batches()[0]))


def test_parse_mappings_matches_the_command_line_syntax():
    lines = parse_mappings("Glc (mM)=glucose:mM\n  # comment\n\nTemp_F=temperature:degF  ")
    assert ColumnMap.parse(lines) == ColumnMap.parse(["Glc (mM)=glucose:mM", "Temp_F=temperature:degF"])


def test_feed_predictions_when_a_model_exists(sample):
    result = analyze_upload(SAMPLE.read_bytes(), SAMPLE.name, model_path=tiny_model_path())
    assert result.predictions is not None and result.predictions[RECOMMENDED].notna().all()
    key = result.batches()[0]
    recs = result.batch_recommendations(key)
    assert len(recs["recommended"]) == len(result.batch_frame(key))
    assert all(lo <= hi for lo, hi in zip(recs["low"], recs["high"], strict=True))
