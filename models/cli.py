"""Command-line subcommands of the models package: train, predict, evaluate-feeding."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from models.outputs import DEFAULT_METRICS_PATH, DEFAULT_MODEL_PATH

MapOption = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Map a CSV column onto a field: SOURCE=FIELD or SOURCE=FIELD:UNIT (repeatable).",
    ),
]


def _stage_printer() -> Callable[[str], None]:
    return lambda stage: typer.echo(f"  {stage}...", err=True)


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the ``bioreactor`` command."""

    @app.command()
    def train(
        *,
        data: Annotated[
            Path | None,
            typer.Option(
                exists=True, dir_okay=False, help="Labelled CSV (default: simulate --batches)."
            ),
        ] = None,
        out: Annotated[Path, typer.Option(dir_okay=False, help="Model file.")] = DEFAULT_MODEL_PATH,
        metrics: Annotated[
            Path, typer.Option(dir_okay=False, help="Metrics JSON; importances.csv goes beside it.")
        ] = DEFAULT_METRICS_PATH,
        batches: Annotated[int, typer.Option(min=6, help="Batches to simulate without --data.")] = 48,
        seed: Annotated[int, typer.Option(help="Simulation seed without --data.")] = 0,
        candidates: Annotated[int, typer.Option(min=1, help="Hyper-parameter candidates.")] = 8,
        column_map: MapOption = None,
    ) -> None:
        """Train the feed-rate model; print and save metrics and variable importances.

        Rows where a fault alters feeding (missed_feed, overfeeding) are left out.
        """
        from models.outputs import Outputs  # noqa: PLC0415
        from models.training import TrainingConfig  # noqa: PLC0415
        from models.training import train as train_model  # noqa: PLC0415

        if data is None:
            from models.training_data import simulated_training_frame  # noqa: PLC0415

            typer.echo(f"simulating {batches} batches (seed {seed})...", err=True)
            frame = simulated_training_frame(batches, seed, progress=True)
        else:
            from models.predict import read_readings  # noqa: PLC0415

            frame, skipped = read_readings(data, column_map or ())
            if skipped.total:
                typer.echo(skipped.text(), err=True)
        report = train_model(frame, TrainingConfig(candidates=candidates), _stage_printer())
        outputs = Outputs(out, metrics)
        outputs.write(report)
        shown = {k: v for k, v in report.metrics.items() if isinstance(v, float | int)}
        typer.echo(json.dumps(shown, indent=2))
        typer.echo("\nPermutation importance on held-out batches (drop in R²):")
        typer.echo(report.importances.round(4).to_string())
        typer.echo(f"\nmodel: {outputs.model}\nmetrics: {outputs.metrics}")
        typer.echo(f"importances: {outputs.importances}")

    @app.command()
    def predict(
        source: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of readings.")],
        out: Annotated[Path, typer.Option(dir_okay=False, help="CSV to write.")] = Path(
            "predictions.csv"
        ),
        model: Annotated[
            Path | None,
            typer.Option(dir_okay=False, help=f"Model file (default {DEFAULT_MODEL_PATH}, trained if missing)."),
        ] = None,
        column_map: MapOption = None,
    ) -> None:
        """Add feed_rate_recommended, feed_rate_low and feed_rate_high (mL/h) to every row."""
        from models.artifact import load_model  # noqa: PLC0415
        from models.ensure import ensure_model  # noqa: PLC0415
        from models.predict import predict_csv  # noqa: PLC0415

        path = model if model is not None else ensure_model(DEFAULT_MODEL_PATH)
        result, skipped = predict_csv(load_model(path), source, out, column_map or ())
        if skipped.total:
            typer.echo(skipped.text(), err=True)
        typer.echo(f"{len(result)} rows with recommendations written to {out}")

    @app.command("evaluate-feeding")
    def evaluate_feeding(
        batches: Annotated[int, typer.Option(min=1, help="Fault-free batches per policy.")] = 8,
        seed: Annotated[int, typer.Option(help="Seed of the batches (same for every policy).")] = 0,
        days: Annotated[float, typer.Option(min=1.0, help="Culture days.")] = 14.0,
        model: Annotated[
            Path | None,
            typer.Option(dir_okay=False, help=f"Model file (default {DEFAULT_MODEL_PATH}, trained if missing)."),
        ] = None,
        out: Annotated[
            Path | None, typer.Option(dir_okay=False, help="Also write per-batch KPIs as CSV.")
        ] = None,
    ) -> None:
        """Run fixed schedule, expert, model and an optimising set-point policy in closed loop."""
        from models.artifact import load_model  # noqa: PLC0415
        from models.closed_loop import evaluate_feeding as evaluate  # noqa: PLC0415
        from models.ensure import ensure_model  # noqa: PLC0415

        path = model if model is not None else ensure_model(DEFAULT_MODEL_PATH)
        comparison, setpoint = evaluate(
            load_model(path), batches, seed, days=days, progress=_stage_printer()
        )
        typer.echo(f"\n{batches} fault-free batches, seed {seed}, mean ± std over batches")
        typer.echo(f"(set point {setpoint:g} g/L chosen on separate tuning batches)\n")
        typer.echo(comparison.render())
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            comparison.per_batch.to_csv(out)
            typer.echo(f"\nper-batch KPIs: {out}")
