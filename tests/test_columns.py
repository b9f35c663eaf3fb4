"""Column options, unit conversions and automatic column matching."""

from __future__ import annotations

import pytest

from bioreactor.columns import (
    FIELDS,
    ColumnMap,
    ColumnMapError,
    _key,
    units_of,
)
from bioreactor.contract import Reading, field_units

GLUCOSE_G_PER_MOL = 180.16
LACTATE_G_PER_MOL = 90.08


def convert(option: str, value: float) -> float:
    return ColumnMap.parse([option]).columns[0].convert(value)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("g=glucose:mM", 10.0, 10.0 * GLUCOSE_G_PER_MOL / 1000),
        ("g=glucose:mmol/L", 5.55, 5.55 * GLUCOSE_G_PER_MOL / 1000),
        ("g=glucose:mg/dL", 450.0, 4.5),  # 1 dL = 0.1 L
        ("g=glucose:mg/L", 4500.0, 4.5),
        ("l=lactate:mM", 11.1, 11.1 * LACTATE_G_PER_MOL / 1000),
        ("l=lactate:mg/dL", 90.08, 0.9008),
        ("t=temperature:degF", 98.6, 37.0),
        ("t=temperature:°F", 32.0, 0.0),
        ("t=temperature:K", 310.15, 37.0),
        ("t=temperature_setpoint:F", 212.0, 100.0),
        ("t=temperature:degC", 36.5, 36.5),
        ("v=vcd:cells/mL", 2.5e6, 2.5),
        ("v=vcd:1e5 cells/mL", 25.0, 2.5),
        ("v=vcd:10^6 cells/mL", 2.5, 2.5),
        ("a=airflow:mL/min", 500.0, 0.5),
        ("a=airflow:L/h", 30.0, 0.5),
        ("f=feed_rate:L/h", 0.06, 60.0),
        ("f=feed_rate:mL/min", 1.0, 60.0),
        ("f=feed_rate:L/day", 2.4, 100.0),
        ("f=base_rate:mL/day", 24.0, 1.0),
        ("w=volume:mL", 2000.0, 2.0),
        ("p=viability:fraction", 0.95, 95.0),
        ("d=do:fraction", 0.4, 40.0),
        ("c=culture_h:d", 2.0, 48.0),
        ("c=culture_h:min", 90.0, 1.5),
        ("s=agitation:rps", 2.0, 120.0),
    ],
)
def test_each_unit_converts_to_the_contract_unit(
    option: str, value: float, expected: float
) -> None:
    assert convert(option, value) == pytest.approx(expected)


def test_canonical_units_come_from_the_contract() -> None:
    for name in field_units(Reading):
        if units_of(name):
            first_conversion, _ = next(iter(units_of(name).values()))
            assert first_conversion(7.0) == 7.0, name  # the canonical unit is listed first


def test_unit_spellings_never_collide_within_a_field() -> None:
    for field in FIELDS:
        seen: dict[str, object] = {}
        for conversion, spellings in units_of(field).values():
            for spelling in spellings:
                assert seen.setdefault(_key(spelling), conversion) == conversion, (field, spelling)


def test_option_syntax() -> None:
    columns = ColumnMap.parse(["  Glc (mM) = glucose : mM ", "a=b=batch_id", "VCD=vcd"]).columns
    assert [(c.source, c.field) for c in columns] == [
        ("Glc (mM)", "glucose"),
        ("a=b", "batch_id"),
        ("VCD", "vcd"),
    ]
    assert columns[2].convert(3.0) == 3.0


@pytest.mark.parametrize("option", ["glucose", "=glucose", "Glc=", "Glc=:mM"])
def test_malformed_option(option: str) -> None:
    with pytest.raises(ColumnMapError, match="SOURCE=FIELD"):
        ColumnMap.parse([option])


def test_unknown_field_lists_the_valid_fields() -> None:
    with pytest.raises(ColumnMapError) as err:
        ColumnMap.parse(["Glc=glucos"])
    assert "unknown field 'glucos'" in str(err.value)
    assert all(field in str(err.value) for field in FIELDS)
    assert "schema" not in str(err.value)


def test_unknown_unit_lists_the_valid_units() -> None:
    with pytest.raises(ColumnMapError) as err:
        ColumnMap.parse(["T=temperature:Rankine"])
    message = str(err.value)
    assert "unknown unit 'Rankine' for temperature" in message
    assert all(unit in message for unit in units_of("temperature"))


def test_identifiers_take_no_unit_and_fields_map_once() -> None:
    with pytest.raises(ColumnMapError, match="takes no unit"):
        ColumnMap.parse(["Run=batch_id:h"])
    with pytest.raises(ColumnMapError, match="mapped twice"):
        ColumnMap.parse(["A=vcd", "B=vcd"])


@pytest.mark.parametrize(
    ("header", "field", "value", "expected"),
    [
        ("VCD", "vcd", 3.0, 3.0),
        ("Glucose", "glucose", 3.0, 3.0),
        ("DO", "do", 40.0, 40.0),
        ("pH", "ph", 7.0, 7.0),
        ("Feed Rate", "feed_rate", 5.0, 5.0),
        ("feed_rate_ml_h", "feed_rate", 5.0, 5.0),
        ("Feed rate [L/h]", "feed_rate", 0.005, 5.0),
        ("Glc (mM)", "glucose", 10.0, 10.0 * GLUCOSE_G_PER_MOL / 1000),
        ("Temp_F", "temperature", 98.6, 37.0),
        ("Viability [fraction]", "viability", 0.9, 90.0),
        ("Viable Cell Density (cells/mL)", "vcd", 4e6, 4.0),
        ("Batch", "batch_id", None, None),
        ("Reactor", "reactor_id", None, None),
    ],
)
def test_automatic_matches(
    header: str, field: str, value: float | None, expected: float | None
) -> None:
    resolved = ColumnMap().resolve([header, "unrelated"])
    column = resolved.fields[field]
    assert column.source == header
    assert resolved.unused == ("unrelated",)
    if value is not None:
        assert column.convert(value) == pytest.approx(expected)


def test_time_alone_is_not_matched() -> None:
    resolved = ColumnMap().resolve(["time", "Time [h]"])
    assert resolved.fields == {}


def test_two_automatic_candidates_leave_the_field_unmatched() -> None:
    resolved = ColumnMap().resolve(["Temp", "Temp_F", "VCD"])
    assert "temperature" not in resolved.fields
    assert resolved.ambiguous == {"temperature": ("Temp", "Temp_F")}
    assert resolved.fields["vcd"].source == "VCD"


def test_an_option_overrides_automatic_matches() -> None:
    resolved = ColumnMap.parse(["Temp_F=temperature:degF"]).resolve(["Temp", "Temp_F"])
    assert resolved.fields["temperature"].source == "Temp_F"
    assert resolved.ambiguous == {}
    assert resolved.unused == ("Temp",)
    # A mapped column is not matched a second time to the field its name suggests.
    resolved = ColumnMap.parse(["glucose=lactate"]).resolve(["glucose"])
    assert list(resolved.fields) == ["lactate"]


def test_an_option_naming_a_missing_column_is_refused() -> None:
    with pytest.raises(ColumnMapError, match="'Glc' not in the file; columns found: 'glucose'"):
        ColumnMap.parse(["Glc=glucose"]).resolve(["glucose"])
