"""Offline analysis of a CSV file gives the engine's events and a per-batch summary."""

from datetime import UTC, datetime, timedelta

import pandas as pd
from typer.testing import CliRunner

from bioreactor.cli import app
from bioreactor.contract import to_dict
from monitor.analyze import EVENT_COLUMNS, analyze_csv, summary_text
from monitor.checks.base import reading_at
from monitor.config import MonitorConfig

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = MonitorConfig.from_mapping({"alarms": {"disabled": ["multivariate"]}})


def write_csv(path):
    rows = []
    for i in range(40):
        r = reading_at(T0 + timedelta(minutes=5 * i), seq=i, glucose=0.3 if i >= 10 else 4.0)
        row = {k: v for k, v in to_dict(r).items() if k != "schema"}
        row["timestamp"] = r.timestamp.isoformat()
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame = pd.concat([frame, frame.iloc[[5]]])  # a late copy of an earlier row
    frame.to_csv(path, index=False)


def test_analyze_gives_events_and_counts_rejections(tmp_path):
    path = tmp_path / "run.csv"
    write_csv(path)
    analysis = analyze_csv(path, config=CONFIG)
    checks = {e.check for e in analysis.events}
    assert {"limit_low_low", "limit_low"} <= checks
    summary = analysis.batches[("R01", "B001")]
    assert summary.rows == 41 and sum(summary.refused.values()) == 1
    text = summary_text(analysis)
    assert "R01 B001: 41 rows, 1 refused" in text and "out of order" in text


def test_cli_writes_the_events_file(tmp_path):
    path, out = tmp_path / "run.csv", tmp_path / "events.csv"
    write_csv(path)
    config = tmp_path / "monitor.toml"
    # The default profile learns no glucose low limit from its reference batches; name one.
    config.write_text('[alarms]\ndisabled = ["multivariate"]\n[limits.glucose]\nlow_low = 0.5\nlow = 1.0\n')
    result = CliRunner().invoke(app, ["analyze", str(path), "--out", str(out), "--config", str(config)])
    assert result.exit_code == 0, result.output
    events = pd.read_csv(out)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert (events["check"] == "limit_low_low").any()
    assert "alarm limit_low_low: 1" in result.output
