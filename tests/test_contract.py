"""The MQTT contract: round trips, limits, and clear errors for every kind of malformed payload."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bioreactor.contract import (
    LIMITS,
    SCHEMA_VERSION,
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    AlarmState,
    ContractError,
    Coverage,
    DeadLetter,
    Driver,
    Incident,
    IncidentAlarm,
    IncidentState,
    Metrics,
    Reading,
    Recommendation,
    Severity,
    SkippedCheck,
    Status,
    StatusState,
    decode,
    encode,
    topics,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOOD = {
    "schema": SCHEMA_VERSION,
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


def alarm(state: AlarmState = AlarmState.RAISED) -> AlarmEvent:
    return AlarmEvent(
        alarm_id="R01:B1:do_low:1", reactor_id="R01", batch_id="B1", check="do_low",
        severity=Severity.CRITICAL, state=state, timestamp=NOW, first_seen=NOW, last_seen=NOW,
        message="DO fell to 12 %", variable="do", value=12.0, limit=20.0,
    )


def incident() -> Incident:
    member = IncidentAlarm(
        alarm_id="R01:B1:do_low:1", check="do_low", severity=Severity.CRITICAL, state=AlarmState.RAISED,
        first_seen=NOW, variable="do",
    )
    return Incident(
        incident_id="R01:B1:oxygen_transfer:1", reactor_id="R01", batch_id="B1", state=IncidentState.OPENED,
        timestamp=NOW, opened_at=NOW, diagnosis="oxygen_transfer", severity=Severity.CRITICAL,
        message="DO low with the cascade at its maximum", alarms=(member,),
    )


@pytest.mark.parametrize(
    "payload",
    [
        decode(Reading, json.dumps(GOOD)),
        Reading(timestamp=NOW, reactor_id="R9", batch_id="B9", seq=0, culture_h=0.0),  # variables are optional
        alarm(),
        incident(),
        ActiveAlarms(
            reactor_id="R01", timestamp=NOW, alarms=(alarm(), alarm(AlarmState.ACKNOWLEDGED)), incidents=(incident(),)
        ),
        Acknowledgement(alarm_id="R01:B1:do_low:1", timestamp=NOW, comment="checking sparger"),
        Recommendation(
            reactor_id="R01", batch_id="B1", timestamp=NOW, recommended_feed_rate=2.0, current_feed_rate=1.5,
            delta=0.5, interval_low=1.6, interval_high=2.4, model_version="v1", drivers=(Driver("vcd", 0.3),),
        ),
        Status(source="R01", state=StatusState.END_OF_STREAM, timestamp=NOW, batch_id="B1", detail="done"),
        DeadLetter(
            topic="bioreactor/R01/reading", payload="{", size=1, reason="malformed JSON", source="monitor",
            timestamp=NOW,
        ),
        Coverage(
            reactor_id="R01", timestamp=NOW, running=("limit",), skipped=(SkippedCheck("flatline", "needs do"),)
        ),
        Metrics(source="monitor", timestamp=NOW, readings_per_s=12.5, queue_depth=3, active_alarms=1),
    ],
    ids=lambda p: type(p).__name__,
)
def test_round_trip(payload: object) -> None:
    assert decode(type(payload), encode(payload)) == payload


def test_every_payload_carries_the_schema_and_leaves_out_empty_fields() -> None:
    text = json.loads(encode(Reading(timestamp=NOW, reactor_id="R9", batch_id="B9", seq=0, culture_h=0.0)))
    assert text == {"schema": SCHEMA_VERSION, "timestamp": "2026-03-01T12:00:00Z", "reactor_id": "R9",
                    "batch_id": "B9", "seq": 0, "culture_h": 0.0}


def test_timestamps_are_stored_in_utc() -> None:
    reading = decode(Reading, json.dumps({**GOOD, "timestamp": "2026-03-01T13:00:00+01:00"}))
    assert reading.timestamp == NOW
    assert reading.timestamp.tzinfo is UTC
    assert json.loads(encode(reading))["timestamp"] == "2026-03-01T12:00:00Z"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"do": "high"}, "do", "expected `float | null`, got `str`"),
        ({"seq": 1.5}, "seq", "expected `int`, got `float`"),
        ({"seq": True}, "seq", "expected `int`, got `bool`"),
        ({"seq": -1}, "seq", "expected `int` >= 0"),
        ({"reactor_id": ""}, "reactor_id", "matching regex"),
        ({"reactor_id": "_monitor"}, "reactor_id", "matching regex"),
        ({"batch_id": "x" * 129}, "batch_id", "length <= 128"),
        ({"batch_id": "B\n1"}, "batch_id", "matching regex"),
        ({"timestamp": "yesterday"}, "timestamp", "invalid RFC3339"),
        ({"timestamp": "2026-03-01T12:00:00"}, "timestamp", "timezone"),
        ({"schema": 1}, "schema", "1 is not a supported schema version"),
    ],
)
def test_bad_fields_are_named(change: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(ContractError, match=reason) as err:
        decode(Reading, json.dumps({**GOOD, **change}))
    assert err.value.field == field


def test_missing_field_is_named() -> None:
    payload = {k: v for k, v in GOOD.items() if k != "culture_h"}
    with pytest.raises(ContractError, match="field 'culture_h': is required"):
        decode(Reading, json.dumps(payload))


def test_process_variables_are_optional_and_null_means_not_measured() -> None:
    reading = decode(Reading, json.dumps({**GOOD, "vcd": None, "lactate": None}))
    assert reading.vcd is None and reading.lactate is None and reading.glucose == 5.1


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused(token: str) -> None:
    text = json.dumps(GOOD).replace('"do": 41.0', f'"do": {token}')
    with pytest.raises(ContractError, match="field 'do': must be a finite number"):
        decode(Reading, text)


# The inputs that used to stop the monitor for good (each is a regression case), as raw JSON
# text: some are numbers Python's json module would not even write.
@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("vcd", "9" * 400, "out of range"),
        ("vcd", "9" * 5001, "out of range"),
        ("vcd", "1e300", "<= 1000000000.0"),
        ("seq", str(10**20), "<= 9007199254740992"),
        ("seq", str(2**62), "<= 9007199254740992"),
        ("timestamp", '"0001-01-01T00:00:00+01:00"', "outside 1970-2099"),
        ("timestamp", '"9999-12-31T23:59:59.999Z"', "outside 1970-2099"),
    ],
)
def test_limits(field: str, raw: str, reason: str) -> None:
    text = json.dumps({**GOOD, field: "@"}).replace('"@"', raw)
    with pytest.raises(ContractError, match=reason) as err:
        decode(Reading, text)
    assert err.value.field == field


def test_payload_size_is_limited_before_parsing() -> None:
    with pytest.raises(ContractError, match="exceeds the limit") as err:
        decode(Reading, json.dumps({**GOOD, "batch_id": "b" * 1_100_000}))
    assert err.value.field == ""


@pytest.mark.parametrize("kind", [Reading, Acknowledgement, Status, ActiveAlarms])
def test_deep_nesting_is_refused_before_parsing(kind: type) -> None:
    deep = '{"x": ' + "[" * 300 + "]" * 300 + "}"  # a few hundred bytes
    with pytest.raises(ContractError, match=f"at most {LIMITS.max_depth}"):
        decode(kind, deep)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"{not json", "malformed JSON"), (b"\xff\xfe", "malformed JSON"), (b"[1, 2]", "expected `object`")],
)
def test_undecodable_payloads(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        decode(Reading, payload)


def test_nested_errors_name_the_path() -> None:
    bad = json.loads(encode(ActiveAlarms(reactor_id="R01", timestamp=NOW, alarms=(alarm(),))))
    bad["alarms"][0]["severity"] = "panic"
    with pytest.raises(ContractError, match="invalid enum value 'panic'") as err:
        decode(ActiveAlarms, json.dumps(bad))
    assert err.value.field == "alarms[0].severity"


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
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
        value_out = getattr(reading, field, None)
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
    assert topics.ack_topic("R01", "alice") == "bioreactor/R01/ack/alice"
    assert topics.user_from_ack_topic("bioreactor/R01/ack/alice") == "alice"
    assert topics.user_from_ack_topic("bioreactor/R01/ack") is None
    assert topics.reactor_from_topic("bioreactor/R01/ack/alice") == "R01"
    assert topics.reactor_from_topic(topics.DEAD_LETTER) is None
    with pytest.raises(ValueError, match="invalid reactor id"):
        topics.reading_topic("R/1")
    with pytest.raises(ValueError, match="invalid reactor id"):
        topics.reading_topic("_monitor")
    with pytest.raises(ValueError, match="invalid user name"):
        topics.ack_topic("R01", "al/ice")
