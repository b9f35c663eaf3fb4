"""The ``bioreactor generate-fungal`` command: a labelled fungal fed-batch dataset as a historian CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simulator.fungal.dataset import generate_frame, write_csv
from simulator.fungal.faults import FaultKind


def register(app: typer.Typer) -> None:
    """Add ``generate-fungal`` to the ``bioreactor`` command."""

    @app.command("generate-fungal")
    def generate_fungal(
        *,
        out: Annotated[Path, typer.Option(dir_okay=False, help="CSV file to write.")],
        batches: Annotated[int, typer.Option(min=1, help="Batches to simulate.")] = 20,
        seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
        fault_fraction: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="Share of batches with one random fault.")
        ] = 0.5,
        faults: Annotated[
            list[FaultKind] | None, typer.Option("--fault", help="Fault types to draw from (repeatable).")
        ] = None,
        sample_minutes: Annotated[int, typer.Option(min=1, help="Sampling period (whole minutes).")] = 12,
        hours: Annotated[float, typer.Option(min=1.0, help="Culture hours per batch.")] = 230.0,
    ) -> None:
        """Write a labelled industrial fungal (Penicillium-like) fed-batch dataset with plant-historian headers."""
        frame = generate_frame(
            batches, seed, hours=hours, sample_minutes=sample_minutes, fault_fraction=fault_fraction, faults=faults
        )
        write_csv(frame, out)
        typer.echo(f"wrote {len(frame)} rows of {batches} batches to {out}", err=True)
