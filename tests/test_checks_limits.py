"""Fixed limits: raise beyond a limit, no flapping at a hovering value, clear with hysteresis."""

from monitor.checks.limits import LimitCheck
from monitor.config import MonitorConfig
from tests.check_helpers import run


def test_low_low_raises_critical_with_numbers():
    (found,) = run(LimitCheck, [{"glucose": 0.3}])
    by_check = {f.check: f for f in found}
    assert set(by_check) == {"limit_low", "limit_low_low"}
    assert by_check["limit_low_low"].severity.value == "critical"
    assert by_check["limit_low_low"].limit == 0.5
    assert "0.30 g/L" in by_check["limit_low_low"].explanation.what


def test_hovering_value_does_not_flap():
    # Noise around the low limit 1.0, inside the 0.5 deadband, after one crossing.
    values = [1.5, 0.95, 1.05, 0.98, 1.1, 0.99, 1.15, 1.02]
    assert [bool(f) for f in run(LimitCheck, [{"glucose": v} for v in values])] == [False] + [True] * 7


def test_clears_once_back_by_the_deadband():
    deadband = MonitorConfig.default().limit("glucose").deadband
    values = [0.9, 1.0 + deadband - 0.05, 1.0 + deadband + 0.05]
    result = run(LimitCheck, [{"glucose": v} for v in values])
    assert [bool(f) for f in result] == [True, True, False]
    assert result[1][0].explanation.what == (
        "glucose went below its low limit 1.00 g/L and is not yet back above 1.50 g/L "
        "(the limit with its 0.50 g/L deadband; now 1.45 g/L)"
    )


def test_temperature_limit_follows_the_setpoint_and_waits_for_the_shift_to_settle():
    series = []
    for i in range(40):
        setpoint = 37.0 if i < 10 else 33.0
        temp = 37.0 if i < 10 else max(33.0, 37.0 - 0.8 * (i - 9))  # the loop follows in ~25 min
        series.append({"temperature": temp, "temperature_setpoint": setpoint})
    series.append({"temperature": 34.6, "temperature_setpoint": 33.0})
    result = run(LimitCheck, series)
    assert not any(result[:40])
    assert [f.check for f in result[40]] == ["limit_high", "limit_high_high"]
