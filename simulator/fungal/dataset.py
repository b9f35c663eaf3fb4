"""Labelled validation datasets of the fungal fed-batch, exported like a plant historian would.

A campaign of batches runs on a few fermenters; a share of them carries one
random fault. The CSV uses the historian's own headers and units (IndPenSim
style), not the project's contract: map it with :data:`CONTRACT_MAP`.

>>> frame = generate_frame(batches=2, seed=3, hours=1.0, fault_fraction=0.0)
>>> list(frame.columns) == list(HEADERS)
True
>>> frame.groupby("Batch ref").size().tolist()
[6, 6]
>>> frame["Date time (UTC)"].iloc[0]
'2026-03-02T06:00:00Z'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from simulator.fungal.faults import FAULT_TYPES, Fault, FaultKind
from simulator.fungal.feeding import OperatorPlan
from simulator.fungal.parameters import Recipe
from simulator.fungal.simulation import FungalBatch, Record, simulate

__all__ = [
    "CONTRACT_MAP",
    "HEADERS",
    "MEASUREMENTS",
    "Measurement",
    "export_frame",
    "generate_frame",
    "random_batches",
    "write_csv",
]

#: Inoculation of the campaign's first batch.
CAMPAIGN_START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
#: Fermenters sharing the campaign; batches go to them in turn.
FERMENTERS = 6
#: Harvest, clean-in-place, sterilisation and filling between two batches of a fermenter. Assumed.
TURNAROUND = timedelta(hours=26)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One exported measurement: its header, the simulated signal, the unit factor and the decimals kept."""

    header: str
    signal: str
    decimals: int
    scale: float = 1.0


#: Measured columns, in export order. Decimals sit below each signal's noise, so
#: rounding hides nothing and makes the bytes stable across platforms.
MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("Biomass X (g/L)", "biomass", 2),
    Measurement("Substrate S (g/L)", "sugar", 3),
    Measurement("Penicillin P (g/L)", "penicillin", 3),
    Measurement("Dissolved oxygen DO2 (%)", "do", 2),
    Measurement("pH", "ph", 3),
    Measurement("Temperature T (K)", "temperature", 2),
    Measurement("Agitator RPM (rpm)", "agitation", 1),
    Measurement("Aeration rate Fg (L/h)", "aeration", 0, scale=1000.0),  # normal m³/h -> normal L/h
    Measurement("Sugar feed rate Fs (L/h)", "feed", 2),
    Measurement("Vessel volume V (L)", "volume", 0),
    Measurement("Acid flow Fa (L/h)", "acid", 2),
    Measurement("Base flow Fb (L/h)", "base", 2),
    Measurement("Offgas CO2 (%)", "offgas_co2", 3),
)

#: Every exported column, in order.
HEADERS: tuple[str, ...] = (
    "Batch ref",
    "Vessel",
    "Date time (UTC)",
    "Time (h)",
    *(m.header for m in MEASUREMENTS),
    "fault",
    "fault_effective",
)

#: ``--map`` options for ``bioreactor analyze`` / ``replay``: the export's columns onto
#: :class:`~bioreactor.contract.Reading` fields, with the units the column mapper converts.
#: Acid flow and off-gas CO2 have no Reading field; ``fault`` and ``fault_effective``
#: match by name.
CONTRACT_MAP: tuple[str, ...] = (
    "Batch ref=batch_id",
    "Vessel=reactor_id",
    "Date time (UTC)=timestamp",
    "Time (h)=culture_h:h",
    "Biomass X (g/L)=biomass:g/L",
    "Substrate S (g/L)=glucose:g/L",
    "Penicillin P (g/L)=titer:g/L",
    "Dissolved oxygen DO2 (%)=do:%",
    "pH=ph",
    "Temperature T (K)=temperature:K",
    "Agitator RPM (rpm)=agitation:rpm",
    "Aeration rate Fg (L/h)=airflow:L/h",
    "Sugar feed rate Fs (L/h)=feed_rate:L/h",
    "Vessel volume V (L)=volume:L",
    "Base flow Fb (L/h)=base_rate:L/h",
)


def random_batches(
    batches: int,
    seed: int,
    *,
    hours: float,
    fault_fraction: float = 0.5,
    faults: Sequence[FaultKind] | None = None,
    recipe: Recipe | None = None,
) -> list[FungalBatch]:
    """A campaign with biological and operator variability; a ``fault_fraction`` share carry one random fault.

    Batch-to-batch variability, one sigma (assumed; IndPenSim likewise draws
    each batch's initial conditions and perturbs its growth and production
    rates): inoculum 10 %, batch sugar 5 %, initial volume 1 %, maximum growth
    rate 5 %, maximum production rate 7 %.

    Parameters
    ----------
    batches
        Number of batches; they go to :data:`FERMENTERS` fermenters in turn, one
        after another on each.
    seed
        Everything random about the campaign follows from it.
    hours
        Culture time of every batch: it spaces the batches and bounds fault onsets.
    fault_fraction
        Share of batches with one fault.
    faults
        Fault types to draw from (default: all); faulty batches cycle through
        them, so each type occurs equally often.
    recipe
        Nominal initial culture (default: :class:`~simulator.fungal.parameters.Recipe`).

    Returns
    -------
    list of FungalBatch
        The campaign, in start order per fermenter.
    """
    if batches < 1:
        raise ValueError("batches must be at least 1")
    if not 0.0 <= fault_fraction <= 1.0:
        raise ValueError("fault_fraction must be between 0 and 1")
    recipe = recipe or Recipe()
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    kinds = list(faults) if faults else list(FAULT_TYPES)
    faulty = set(rng.permutation(batches)[: round(batches * fault_fraction)].tolist())
    cycle = timedelta(hours=hours) + TURNAROUND
    campaign: list[FungalBatch] = []
    for i in range(batches):
        fault = None
        if i in faulty:
            fault = Fault.draw(kinds[sum(1 for b in campaign if b.fault) % len(kinds)], rng, hours)
        campaign.append(
            FungalBatch(
                batch_ref=f"PEN{seed}-{i + 1:03d}",
                vessel=f"F{i % FERMENTERS + 1:02d}",
                start=CAMPAIGN_START + (i // FERMENTERS) * cycle + (i % FERMENTERS) * cycle / FERMENTERS,
                operator=OperatorPlan.draw(rng, hours),
                fault=fault,
                biomass=recipe.initial_biomass * float(rng.normal(1.0, 0.10)),
                sugar=recipe.initial_sugar * float(rng.normal(1.0, 0.05)),
                volume_l=recipe.initial_volume_l * float(rng.normal(1.0, 0.01)),
                growth_scale=float(rng.normal(1.0, 0.05)),
                product_scale=float(rng.normal(1.0, 0.07)),
            )
        )
    return campaign


def export_frame(record: Record) -> pd.DataFrame:
    """The record's batches (not their twins) as historian rows.

    Parameters
    ----------
    record
        A simulation's samples.

    Returns
    -------
    pandas.DataFrame
        One row per batch and sample, batch by batch in time order, columns :data:`HEADERS`;
        a biomass not measured (between lab samples) is NaN.
    """
    n, samples = len(record.batches), len(record.minutes)
    starts = np.array([b.start.astimezone(UTC).replace(tzinfo=None) for b in record.batches], dtype="datetime64[s]")
    stamps = starts[:, None] + (record.minutes * 60).astype("timedelta64[s]")[None, :]
    columns: dict[str, object] = {
        "Batch ref": np.repeat([b.batch_ref for b in record.batches], samples),
        "Vessel": np.repeat([b.vessel for b in record.batches], samples),
        "Date time (UTC)": np.char.add(np.datetime_as_string(stamps.ravel(), unit="s"), "Z"),
        "Time (h)": np.tile(np.round(record.minutes / 60.0, 4), n),
    }
    for m in MEASUREMENTS:
        columns[m.header] = np.round(record.readings[m.signal][:, :n].T.ravel() * m.scale, m.decimals)
    columns["fault"] = record.labels.T.ravel()
    columns["fault_effective"] = record.effective.T.ravel()
    return pd.DataFrame(columns)


def generate_frame(
    batches: int,
    seed: int,
    *,
    hours: float = 230.0,
    sample_minutes: int = 12,
    fault_fraction: float = 0.5,
    faults: Sequence[FaultKind] | None = None,
) -> pd.DataFrame:
    """A labelled dataset of ``batches`` random batches, deterministic by ``seed``.

    Parameters
    ----------
    batches, seed, hours, fault_fraction, faults
        As for :func:`random_batches`.
    sample_minutes
        Sampling period (whole minutes).

    Returns
    -------
    pandas.DataFrame
        The export (:func:`export_frame`).
    """
    campaign = random_batches(batches, seed, hours=hours, fault_fraction=fault_fraction, faults=faults)
    noise = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    return export_frame(simulate(campaign, hours=hours, sample_minutes=sample_minutes, rng=noise))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a dataset; values are already rounded, so the same data give the same bytes.

    A lab value not taken (biomass between samples) is an empty cell.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))
