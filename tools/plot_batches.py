"""Plot batches of a dataset CSV to PNG files, one figure per batch (needs the dev extra: matplotlib).

Usage: python tools/plot_batches.py DATA.csv OUT_DIR [BATCH_ID ...]
Shades the fault's active period and marks where it became effective.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

PANELS = (
    ("vcd", "VCD (1e6/mL)"),
    ("viability", "viability (%)"),
    ("glucose", "glucose (g/L)"),
    ("lactate", "lactate (g/L)"),
    ("do", "DO (%)"),
    ("ph", "pH"),
    ("temperature", "T (°C)"),
    ("agitation", "agitation (rpm)"),
    ("airflow", "airflow (L/min)"),
    ("feed_rate", "feed (mL/h)"),
    ("base_rate", "base (mL/h)"),
    ("titer", "titer (g/L)"),
)


def plot_batch(batch: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(4, 3, figsize=(15, 11), sharex=True)
    days = batch["culture_h"] / 24.0
    faulty = batch["fault"] != "none"
    effective = batch["fault_effective"] == 1
    for ax, (column, label) in zip(axes.ravel(), PANELS, strict=True):
        ax.plot(days, batch[column], lw=0.8)
        ax.set_ylabel(label)
        if faulty.any():
            ax.axvspan(days[faulty].min(), days[faulty].max(), color="orange", alpha=0.15)
        if effective.any():
            ax.axvline(days[effective].min(), color="red", lw=0.8, ls="--")
    for ax in axes[-1]:
        ax.set_xlabel("culture day")
    kinds = sorted(set(batch["fault"]) - {"none"}) or ["no fault"]
    fig.suptitle(f"{batch['batch_id'].iloc[0]} ({batch['reactor_id'].iloc[0]}): {', '.join(kinds)}")
    fig.tight_layout()
    fig.savefig(out, dpi=70)
    plt.close(fig)


def main(argv: list[str]) -> None:
    data, out_dir, *batches = argv
    frame = pd.read_csv(data)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for batch_id, batch in frame.groupby("batch_id"):
        if not batches or batch_id in batches:
            plot_batch(batch.reset_index(drop=True), Path(out_dir) / f"{batch_id}.png")


if __name__ == "__main__":
    main(sys.argv[1:])
