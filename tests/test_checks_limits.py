"""Fixed limits: raise beyond a limit, no flapping at a hovering value, clear with hysteresis."""

from datetime import UTC, datetime, timedelta

from monitor.checks.base import History, reading_at
from monitor.checks.limits import LimitCheck
from monitor.config import MonitorConfig

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def run(check, values, field="glucose", **fixed):
    state, history = check.new_state(), History(timedelta(hours=12))
    out = []
    for i, value in enumerate(values):
        reading = reading_at(T0 + timedelta(minutes=5 * i), **{field: value}, **fixed)
        history.append(reading)
        out.append(check.evaluate(reading, history, state))
    return out


def test_low_low_raises_critical_with_numbers():
    findings = run(LimitCheck(MonitorConfig.default()), [0.3])[0]
    by_check = {f.check: f for f in findings}
    assert set(by_check) == {"limit_low", "limit_low_low"}
    assert by_check["limit_low_low"].severity.value == "critical"
    assert by_check["limit_low_low"].limit == 0.5
    assert "0.30 g/L" in by_check["limit_low_low"].explanation.what


def test_hovering_value_does_not_flap():
    # Noise around the low limit 1.0, inside the 0.5 deadband, after one crossing.
    values = [1.5, 0.95, 1.05, 0.98, 1.1, 0.99, 1.15, 1.02]
    states = [bool(f) for f in run(LimitCheck(MonitorConfig.default()), values)]
    assert states == [False] + [True] * 7


def test_clears_once_back_by_the_deadband():
    deadband = MonitorConfig.default().limit("glucose").deadband
    values = [0.9, 1.0 + deadband - 0.05, 1.0 + deadband + 0.05]
    result = run(LimitCheck(MonitorConfig.default()), values)
    assert [bool(f) for f in result] == [True, True, False]
    latched = result[1][0].explanation.what
    assert latched == "glucose went below its low limit 1.00 g/L and is not yet back above 1.50 g/L " \
        "(the limit with its 0.50 g/L deadband; now 1.45 g/L)"


def test_temperature_limit_follows_the_setpoint_and_waits_for_the_shift_to_settle():
    check = LimitCheck(MonitorConfig.default())
    state, history = check.new_state(), History(timedelta(hours=12))
    flagged = []
    for i in range(40):
        setpoint = 37.0 if i < 10 else 33.0
        temp = 37.0 if i < 10 else max(33.0, 37.0 - 0.8 * (i - 9))  # loop follows in ~25 min
        r = reading_at(T0 + timedelta(minutes=5 * i), temperature=temp,
                       temperature_setpoint=setpoint)
        history.append(r)
        flagged.append(bool(check.evaluate(r, history, state)))
    assert not any(flagged)
    r = reading_at(T0 + timedelta(minutes=5 * 40), temperature=34.6, temperature_setpoint=33.0)
    history.append(r)
    assert [f.check for f in check.evaluate(r, history, state)] == ["limit_high", "limit_high_high"]
