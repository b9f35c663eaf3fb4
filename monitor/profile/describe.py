"""A process profile in plain words, for the process engineer who has to trust it.

>>> import numpy as np, pandas as pd
>>> from monitor.profile.fit import fit_profile
>>> rng = np.random.default_rng(0)
>>> hours = np.arange(0.0, 96.0, 0.25)
>>> frame = pd.concat([pd.DataFrame({"batch_id": f"B{i}", "culture_h": hours,
...     "temperature": np.where(hours < 40 + 4 * i, 37.0, 33.0) + rng.normal(0, 0.05, hours.size)})
...     for i in range(4)])
>>> text = describe(fit_profile(frame, name="bench", source="bench.csv"))
>>> for line in text.splitlines()[3:5]:
...     print(line)
Set points:
  temperature 37.0 °C, shifted to 33.0 °C between hour 40 and 52 in 4 of 4 batches (learnt from the signal).
"""

from __future__ import annotations

import math

from bioreactor.contract import PROCESS_VARIABLES, SETPOINT_FIELDS, Reading, field_units
from monitor.oxygen_balance import REFERENCE_H
from monitor.profile.evolution import MIN_EVOLUTION_BATCHES
from monitor.profile.fit import OFFLINE_COVERAGE
from monitor.profile.model import ProcessProfile, SetpointSchedule

_UNITS = field_units(Reading) | {"ph": ""}
_LABELS = {"vcd": "VCD", "do": "DO", "ph": "pH", "feed_rate": "feed rate", "base_rate": "base", "co2_flow": "CO2 flow"}


def label(variable: str) -> str:
    """How a variable is named in the text: ``"DO"``, ``"feed rate"``."""
    return _LABELS.get(variable, variable.replace("_", " "))


def number(value: float, *, decimals: int = 0) -> str:
    """``value`` to three significant digits, at least ``decimals`` decimals, thousands separated.

    >>> number(29.99), number(6.95), number(0.0530), number(10000.0), number(0.0), number(37.0, decimals=1)
    ('30', '6.95', '0.053', '10,000', '0', '37.0')
    """
    if value == 0 or not math.isfinite(value):
        return f"{value:.{decimals}f}" if math.isfinite(value) else str(value)
    significant = min(6, max(0, 2 - math.floor(math.log10(abs(value)))))
    text = f"{value:,.{significant}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    shown = len(text.partition(".")[2])
    return text + ("." if shown == 0 and decimals else "") + "0" * max(0, decimals - shown)


def quantity(variable: str, value: float, *, decimals: int = 0) -> str:
    """``value`` of ``variable`` with its unit: ``"30 % air sat."``."""
    unit = _UNITS.get(variable, "")
    return f"{number(value, decimals=decimals)} {unit}".rstrip()


def span(variable: str, low: float, high: float) -> str:
    """A range of ``variable`` with its unit once: ``"40.0-140 rpm"``."""
    return f"{label(variable)} {number(low)}–{quantity(variable, high)}"


def hours(window: tuple[float, float], *, between: bool = True) -> str:
    """A culture-hour window: ``"hour 96"``, ``"between hour 96 and 144"`` or ``"hour 96–144"``."""
    low, high = (f"{h:.0f}" for h in window)
    if low == high:
        return f"hour {low}"
    return f"between hour {low} and {high}" if between else f"hour {low}–{high}"


def _schedule(schedule: SetpointSchedule, batches: int) -> str:
    variable = schedule.variable
    decimals = 2 if variable == "ph" else 1
    words = f"{label(variable)} {quantity(variable, schedule.levels[0], decimals=decimals)}"
    if schedule.deadband > 0:
        words += f" ± {number(schedule.deadband)} (a deadband: the loop acts at its edges)"
    for level in schedule.levels[1:]:
        words += f", shifted to {quantity(variable, level, decimals=decimals)}"
    if schedule.change_h is not None:
        changed = round(schedule.change_share * batches)
        words += f" {hours(schedule.change_h)} in {changed} of {batches} batches"
    if schedule.held_from_h[1] >= 1.0:  # a loop holding its variable from the first hour needs no mention
        words += f", held from {hours(schedule.held_from_h, between=False)}"
        if variable == "do":
            words += " (before, the culture uses too little oxygen and DO stays above it)"
    origin = "from set-point columns" if schedule.from_columns else "learnt from the signal"
    return f"{words} ({origin})"


def describe(profile: ProcessProfile) -> str:
    """What ``profile`` learnt, in sentences (one topic per line)."""
    card = profile.card
    batches = len(card.batches)
    missing = [label(v) for v in PROCESS_VARIABLES if v not in profile.variables]
    dense = [label(v) for v in profile.variables if profile.coverage[v] >= OFFLINE_COVERAGE]
    sparse = [
        f"{label(v)} ({profile.coverage[v]:.0%} of readings)"
        for v in profile.variables
        if profile.coverage[v] < OFFLINE_COVERAGE
    ]
    lines = [
        f'Process profile "{card.name}": {batches} good batches, {card.rows:,} readings of {card.source}, '
        f"fitted {card.fitted_at:%Y-%m-%d %H:%M} UTC.",
        f"Sampled every {number(profile.sampling_minutes)} min.",
        f"Measures {', '.join(dense)}"
        + (f"; offline, now and then: {', '.join(sparse)}" if sparse else "")
        + (f"; does not measure {', '.join(missing)}." if missing else "."),
    ]
    controlled = [_schedule(s, batches) for s in profile.setpoints.values()]
    unscheduled = [label(v) for v in SETPOINT_FIELDS if v in profile.variables and v not in profile.setpoints]
    if unscheduled:
        controlled.append(f"no set point for {', '.join(unscheduled)} (no column, and it dwells at no level)")
    lines.append("Set points:" + "".join(f"\n  {item}." for item in controlled) if controlled else "Set points: none.")
    if profile.deviations:
        lines.append(
            "Deviation from the set point while held (0.1–99.9 %): "
            + "; ".join(f"{label(v)} {number(q.q001)} to {quantity(v, q.q999)}" for v, q in profile.deviations.items())
            + "."
        )
    if profile.actuators:
        lines.append("Operated: " + "; ".join(span(v, *r) for v, r in profile.actuators.items()) + ".")
    lines.append(_feed(profile))
    lines.append(
        "Normal readings (1–99 %): " + "; ".join(span(v, q.q01, q.q99) for v, q in profile.values.items()) + "."
    )
    lines.append(
        "Sensor noise (1 sigma): " + "; ".join(f"{label(v)} {quantity(v, s)}" for v, s in profile.noise.items()) + "."
    )
    lines.append(
        "Instrument ranges (a reading outside is a bad value, not a process state): "
        + "; ".join(span(v, *profile.instruments[v]) for v in profile.variables)
        + "."
    )
    envelope = profile.envelope
    lines.append(
        f"Envelope of {batches} batches in {number(envelope.bin_h)}-h bins, culture hours 0–"
        f"{number(len(envelope.median) * envelope.bin_h)}, for {len(envelope.variables)} variables: "
        "1–99 % of the batches' bin means, at least ±3 noise sigmas wide."
    )
    lines.append(_evolution(profile))
    lines.append(_oxygen_balance(profile))
    return "\n".join(lines)


def _oxygen_balance(profile: ProcessProfile) -> str:
    spread = profile.oxygen_balance_spread
    if spread is None:
        return "Oxygen balance: not learnt (needs DO, agitation, airflow, volume and VCD or biomass)."
    return (
        f"Oxygen balance: in good batches the oxygen transferred per unit of culture wandered up to "
        f"x{math.exp(spread):.2f} of its {REFERENCE_H:g}-h reference (99.9 %); its alarm limit is set from this."
    )


def _feed(profile: ProcessProfile) -> str:
    feed = profile.feed
    if feed.start_h is None:
        return "Feed: not fed." if "feed_rate" in profile.variables else "Feed: no feed rate measured."
    words = f"Feed: {'continuous' if feed.continuous else 'boluses'} from hour {feed.start_h:.0f} (median start"
    words += f", every batch by hour {feed.latest_start_h:.0f})" if feed.latest_start_h is not None else ")"
    if feed.due_glucose is not None:
        words += f"; the operator feeds when glucose is below {quantity('glucose', feed.due_glucose)}"
    return words + "."


def _evolution(profile: ProcessProfile) -> str:
    model = profile.evolution
    batches = len(profile.card.batches)
    if model is None:
        if batches < MIN_EVOLUTION_BATCHES:
            return (
                f"No multivariate model: {batches} reference batches; at least {MIN_EVOLUTION_BATCHES} are needed "
                "for limits set on batches the model has not seen."
            )
        return "No multivariate model: fewer than two variables are measured on most readings."
    words = (
        f"Multivariate model (batch-evolution PCA): {model.axes.shape[1]} components, "
        f"{model.explained:.0%} of the variance of {len(model.variables)} variables standardised in "
        f"{number(model.bin_h)}-h bins; limits (leave-one-batch-out over {batches} batches): "
        f"T² 99 % {number(model.t2.q99)}, 99.9 % {number(model.t2.q999)}; "
        f"SPE 99 % {number(model.spe.q99)}, 99.9 % {number(model.spe.q999)}."
    )
    if model.unusual_batches:
        words += (
            f"\nUnlike the other reference batches (most readings beyond their 99 % limits, which they widen): "
            f"{', '.join(model.unusual_batches)}. Check that they are good batches."
        )
    return words
