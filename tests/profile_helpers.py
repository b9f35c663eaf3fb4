"""Reference data of the profile tests: fault-free simulated batches of three plants, made once per session.

Seeds differ from the default profile's tuning seed, so no test checks a profile
on the batches the default one learnt from.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from bioreactor.csvio import ColumnMap, read_frame
from simulator.dataset import generate_frame, write_csv
from simulator.fungal import dataset as fungal
from simulator.plant import load_plant

BENCH_SEED = 31
PILOT = load_plant("pilot_200l")


@cache
def bench() -> pd.DataFrame:
    """12 fault-free 14-day bench batches, canonical columns with set points (5-minute sampling)."""
    return generate_frame(12, BENCH_SEED, fault_fraction=0.0)


def without_setpoints(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a plant that exports no set-point columns."""
    return frame.drop(columns=[c for c in frame.columns if c.endswith("_setpoint")])


def pilot_export(folder: Path) -> Path:
    """8 fault-free 14-day pilot batches in the pilot's own export (foreign names and units, no set points)."""
    path = folder / "pilot.csv"
    write_csv(PILOT.export.apply(generate_frame(8, 32, fault_fraction=0.0, plant=PILOT)), path)
    return path


def read_pilot(path: Path) -> pd.DataFrame:
    """The pilot export read back with its ``--map`` options."""
    frame, errors = read_frame(path, ColumnMap.parse(PILOT.export.map_options()))
    assert errors == []
    return frame


def fungal_export(folder: Path) -> Path:
    """8 fault-free fungal batches (230 h, 12-minute readings) in their historian export."""
    path = folder / "fungal.csv"
    fungal.write_csv(fungal.generate_frame(8, 33, fault_fraction=0.0), path)
    return path


def read_fungal(path: Path) -> pd.DataFrame:
    """The fungal export read back with its ``--map`` options."""
    frame, errors = read_frame(path, ColumnMap.parse(fungal.CONTRACT_MAP))
    assert errors == []
    return frame
