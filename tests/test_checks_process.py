"""Process-aware diagnoses on synthetic sequences: raise with the numbers, stay quiet when healthy."""

from monitor.checks.agitator import AgitatorCheck
from monitor.checks.contamination import ContaminationCheck
from monitor.checks.feeding import MissedFeedCheck, OverfeedingCheck, StarvationCheck
from monitor.checks.oxygen import OxygenBalanceCheck, OxygenTransferCheck
from monitor.checks.ph import BasePumpCheck, PhProbeCheck
from monitor.checks.temperature import TemperatureControlCheck
from monitor.config import MonitorConfig
from tests.check_helpers import run

CONFIG = MonitorConfig.default()


def test_oxygen_transfer_names_the_saturated_cascade():
    series = [{"do": 40.0, "agitation": 250.0, "airflow": 0.2}] * 12
    series += [{"do": 40.0 - 2.5 * i, "agitation": 250.0, "airflow": 0.2} for i in range(1, 12)]
    result = run(OxygenTransferCheck, series)
    first = next(i for i, f in enumerate(result) if f)
    what = result[first][0].explanation.what
    assert series[first]["do"] < 32.0
    assert "250 rpm" in what and "0.200 L/min" in what and "below its set point 40" in what


def test_oxygen_transfer_quiet_when_cascade_has_room():
    assert not any(run(OxygenTransferCheck, [{"do": 20.0, "agitation": 200.0}] * 10))


def test_oxygen_balance_sees_lost_transfer_and_stays_quiet_as_cells_grow():
    # Healthy: demand grows with VCD, the cascade follows; ratio constant by construction.
    healthy = [{"vcd": 2.0 * 1.003**i, "agitation": 100.0 * 1.003 ** (i / 1.2)} for i in range(300)]
    assert not any(run(OxygenBalanceCheck, healthy))
    lost = healthy + [{"vcd": healthy[-1]["vcd"], "agitation": 250.0, "airflow": 0.2}] * 5
    assert run(OxygenBalanceCheck, lost)[-1]


def test_agitator_below_minimum_is_critical():
    result = run(AgitatorCheck, [{"agitation": 150.0}] * 5 + [{"agitation": 20.0}])
    assert not any(result[:5])
    assert result[5][0].severity.value == "critical"
    assert "20 rpm" in result[5][0].explanation.what


def test_base_pump_needs_both_low_ph_and_no_base():
    assert not any(run(BasePumpCheck, [{"ph": 6.88, "base_rate": 3.0}] * 5))
    assert all(run(BasePumpCheck, [{"ph": 6.88, "base_rate": 0.0}] * 5))


def test_temperature_control_failure_but_not_a_steady_small_offset():
    steady = [{"temperature": 37.6}] * 20
    assert not any(run(TemperatureControlCheck, steady))
    drifting = [{"temperature": 37.0 + 0.05 * i} for i in range(30)]
    result = run(TemperatureControlCheck, drifting)
    first = next(i for i, f in enumerate(result) if f)
    assert drifting[first]["temperature"] > 37.5
    assert "moving" in result[first][0].explanation.what


def test_missed_feed_and_not_before_feeding_starts():
    assert run(MissedFeedCheck, [{"feed_rate": 0.0, "glucose": 3.0}])[0]
    early = [{"feed_rate": 0.0, "glucose": 3.0, "culture_h": 20.0}]
    assert not run(MissedFeedCheck, early)[0]
    full = [{"feed_rate": 0.0, "glucose": 3.0, "volume": CONFIG.process.max_volume}]
    assert not run(MissedFeedCheck, full)[0]  # a full vessel stops the feed on purpose


def test_ph_probe_reading_high_sparges_co2_while_lactate_is_made():
    # 14 h of acid production; from hour 8 the loop sparges more and more CO2.
    rising = [
        {"culture_h": 60.0 + i / 12, "lactate": 1.0 + 0.004 * i, "base_rate": 0.0,
         "co2_flow": max(0.0, 0.01 * (i - 96))}
        for i in range(168)
    ]
    result = run(PhProbeCheck, rising)
    first = next(i for i, found in enumerate(result) if found)
    assert 96 < first < 168 and "reading high" in result[first][0].explanation.causes[0]
    consumed = [{**values, "lactate": 2.0 - 0.004 * i} for i, values in enumerate(rising)]
    assert not any(run(PhProbeCheck, consumed))  # CO2 while lactate falls is normal


def backing_off(hours: int, ph: float = 7.05, fall_from_h: float = 20.0, **values: float) -> list[dict[str, float]]:
    """Hours of 5-min readings in which the loop cuts CO2 by 0.02 mL/min an hour from ``fall_from_h``."""
    return [
        {"ph": ph, "base_rate": 0.0, "lactate": 0.5, "airflow": 0.04,
         "co2_flow": 3.3 - 0.02 * max(0.0, i / 12 - fall_from_h), **values}
        for i in range(12 * hours)
    ]


def test_ph_probe_reading_low_makes_the_loop_back_off_co2():
    series = backing_off(60)
    result = run(PhProbeCheck, series)
    first = next(i for i, found in enumerate(result) if found) / 12
    # The cut exceeds 0.3 mL/min after 15 h of falling; 16 h in, all four 8-hourly means fall.
    assert 36 <= first <= 40
    explanation = result[12 * 50][0].explanation  # hourly means of hours 25 and 49
    assert "reading low" in explanation.causes[0] and "from 3.19 to 2.71 mL/min in 24 h" in explanation.what
    assert "no lactate was made" in explanation.what


def test_ph_probe_back_off_quiet_when_the_culture_explains_it():
    check = PhProbeCheck
    assert not any(run(check, backing_off(60, fall_from_h=1000)))  # steady CO2
    assert not any(run(check, backing_off(60, ph=7.12)))  # loop saturated: the reading sits above its band
    assert not any(run(check, backing_off(60, base_rate=0.8)))  # base flowing: the culture makes acid
    assert not any(run(check, backing_off(60, culture_h=40.0)))  # the window reaches into the degassing day
    made = [{**v, "lactate": 0.5 + 0.002 * i} for i, v in enumerate(backing_off(60))]
    assert not any(run(check, made))  # lactate made: less CO2 is needed


def test_ph_probe_reading_low_lets_co2_lag_behind_lactate_consumption():
    # Lactate falls 0.05 g/L an hour (1.2 g/L a day): CO2 should rise >= 0.6 mL/min a day.
    def consuming(co2_per_h: float) -> list[dict[str, float]]:
        return [{**v, "lactate": 3.0 - 0.05 * i / 12, "co2_flow": 1.0 + co2_per_h * i / 12}
                for i, v in enumerate(backing_off(60))]

    result = run(PhProbeCheck, consuming(0.01))  # 0.24 mL/min a day
    first = next(i for i, found in enumerate(result) if found) / 12
    assert first == 36  # as soon as the gas flow of the day before is half known
    assert "1.20 g/L of lactate was consumed" in result[-1][0].explanation.what
    assert not any(run(PhProbeCheck, consuming(0.05)))  # 1.2 mL/min a day: the loop keeps up


def test_overfeeding_after_a_jump_in_feed_rate():
    series = [{"feed_rate": 5.0}] * 30 + [{"feed_rate": 15.0}] * 3
    result = run(OverfeedingCheck, series)
    assert not any(result[:30]) and result[30]
    assert "x3.0" in result[30][0].explanation.what


def test_starvation_needs_lactate_consumption():
    falling = [{"glucose": 0.4, "lactate": 2.0 - 0.01 * i} for i in range(60)]
    assert run(StarvationCheck, falling)[-1]
    flat = [{"glucose": 0.4, "lactate": 2.0}] * 60
    assert not any(run(StarvationCheck, flat))


def test_contamination_needs_corroboration():
    crash = [{"glucose": 4.0 - 0.08 * max(0, i - 120)} for i in range(150)]
    assert not any(run(ContaminationCheck, crash))  # uptake jump alone: sensor?
    acid = [dict(c, ph=7.0 - 0.01 * max(0, i - 120)) for i, c in enumerate(crash)]
    result = run(ContaminationCheck, acid)
    assert result[-1] and "pH" in result[-1][0].explanation.corroborating[0]
