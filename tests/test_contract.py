"""The MQTT contract: round trips, and clear errors for every kind of malformed payload."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bioreactor.contract import (
    SCHEMA_VERSION,
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    AlarmState,
    ContractError,
    DeadLetter,
    Driver,
    Metrics,
    Reading,
    Recommendation,
    Severity,
    Status,
    StatusState,
    decode,
    encode,
    topics,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOOD = {
    "schema": 1,
    "timestamp": "2026-03-01T12:00:00Z",
    "reactor_id": "R01",
    "batch_id": "B1",
    "seq": 7,
    "culture_h": 12.5,
    "vcd": 3.2,
    "viability": 96.0,
    "glucose": 5.1,
    "lactate": 0.8,
    "do": 41.0,
    "ph": 7.02,
    "temperature": 36.9,
    "agitation": 110.0,
    "airflow": 0.03,
    "feed_rate": 1.5,
    "volume": 2.1,
}
NUMERIC = ["culture_h", "vcd", "glucose", "lactate", "do", "ph", "temperature", "agitation", "airflow", "feed_rate"]


def alarm(state: AlarmState = AlarmState.RAISED) -> AlarmEvent:
    return AlarmEvent(
        "R01:B1:do_low:1",
        "R01",
        "B1",
        "do_low",
        Severity.CRITICAL,
        state,
        NOW,
        NOW,
        NOW,
        "DO fell to 12 %",
        variable="do",
        value=12.0,
        limit=20.0,
    )


@pytest.mark.parametrize(
    "payload",
    [
        decode(Reading, json.dumps(GOOD)),
        alarm(),
        ActiveAlarms("R01", NOW, (alarm(), alarm(AlarmState.ACKNOWLEDGED))),
        Acknowledgement("R01:B1:do_low:1", "operator", NOW, "checking sparger"),
        Recommendation("R01", "B1", NOW, 2.0, 1.5, 0.5, 1.6, 2.4, "v1", (Driver("vcd", 0.3),)),
        Status("R01", StatusState.END_OF_STREAM, NOW, "B1", "done"),
        DeadLetter("bioreactor/R01/reading", "{", "malformed JSON", "monitor", NOW),
        Metrics("monitor", NOW, 12.5, 3, 1, 0, 0),
    ],
    ids=lambda p: type(p).__name__,
)
def test_round_trip(payload: object) -> None:
    assert decode(type(payload), encode(payload)) == payload


def test_timestamps_are_utc_with_z() -> None:
    reading = decode(Reading, json.dumps({**GOOD, "timestamp": "2026-03-01T13:00:00+01:00"}))
    assert reading.timestamp == NOW
    assert json.loads(encode(reading))["timestamp"] == "2026-03-01T12:00:00.000Z"
    assert json.loads(encode(reading))["schema"] == SCHEMA_VERSION


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"do": "high"}, "do", "must be a number"),
        ({"do": None}, "do", "must not be null"),
        ({"ph": 14.5}, "ph", "outside the plausible range"),
        ({"vcd": -1.0}, "vcd", "outside the plausible range"),
        ({"seq": 1.5}, "seq", "must be an integer"),
        ({"seq": True}, "seq", "must be an integer"),
        ({"reactor_id": ""}, "reactor_id", "non-empty string"),
        ({"timestamp": "yesterday"}, "timestamp", "not an ISO 8601 timestamp"),
        ({"timestamp": "2026-03-01T12:00:00"}, "timestamp", "no time zone"),
        ({"schema": 2}, "schema", "not supported"),
    ],
)
def test_bad_fields_are_named(change: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ContractError, match=reason) as err:
        decode(Reading, json.dumps({**GOOD, **change}))
    assert err.value.field == field


def test_missing_field_is_named() -> None:
    payload = {k: v for k, v in GOOD.items() if k != "glucose"}
    with pytest.raises(ContractError, match="field 'glucose': is required"):
        decode(Reading, json.dumps(payload))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(token: str) -> None:
    text = json.dumps(GOOD).replace('"do": 41.0', f'"do": {token}')
    with pytest.raises(ContractError, match="field 'do': must be a finite number"):
        decode(Reading, text)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"{not json", "malformed JSON"), (b"\xff\xfe", "not UTF-8"), (b"[1, 2]", "must be a JSON object")],
)
def test_undecodable_payloads(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        decode(Reading, payload)


def test_nested_errors_name_the_path() -> None:
    bad = json.loads(encode(ActiveAlarms("R01", NOW, (alarm(),))))
    bad["alarms"][0]["severity"] = "panic"
    with pytest.raises(ContractError, match="one of warning, critical") as err:
        decode(ActiveAlarms, json.dumps(bad))
    assert err.value.field == "alarms[0].severity"


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**12), max_value=10**12),
)


@given(field=st.sampled_from(sorted(GOOD)), value=junk)
def test_any_single_field_change_is_accepted_or_named(field: str, value: object) -> None:
    """Whatever one field holds, decoding either succeeds with a valid reading or names that field."""
    text = json.dumps({**GOOD, field: value}, allow_nan=True)
    try:
        reading = decode(Reading, text)
    except ContractError as err:
        assert err.field == field
        assert field in str(err)
    else:
        value_out = getattr(reading, field)
        if isinstance(value_out, float):
            assert math.isfinite(value_out)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        decode(Reading, data)
    except ContractError as err:
        assert str(err)


def test_topic_tree() -> None:
    assert topics.reading_topic("R01") == "bioreactor/R01/reading"
    assert topics.active_alarms_topic("R01") == "bioreactor/R01/alarms/active"
    assert topics.reactor_from_topic("bioreactor/R01/ack") == "R01"
    assert topics.reactor_from_topic(topics.DEAD_LETTER) is None
    with pytest.raises(ValueError, match="invalid reactor id"):
        topics.reading_topic("R/1")
    with pytest.raises(ValueError, match="invalid reactor id"):
        topics.reading_topic("_monitor")
