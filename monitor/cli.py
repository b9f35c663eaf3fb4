"""Command-line subcommands of the monitor package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from bioreactor.contract import Severity
from bioreactor.mqtt import DEFAULT_BROKER
from monitor.alerts import AlertFilter, run_alerts
from monitor.historian import DEFAULT_PATH as DEFAULT_HISTORIAN
from monitor.historian import ExportFormat, SqliteHistorian, Table, export


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the ``bioreactor`` command."""

    @app.command("monitor")
    def monitor_service(
        *,
        broker: Annotated[str, typer.Option(help="MQTT broker mqtt://host:port.")] = DEFAULT_BROKER,
        historian: Annotated[
            Path, typer.Option(dir_okay=False, help="SQLite historian (created when missing).")
        ] = DEFAULT_HISTORIAN,
        config: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="TOML over the defaults.")
        ] = None,
        client_id: Annotated[
            str,
            typer.Option(help="Stable MQTT client id: the broker keeps its backlog while down."),
        ] = "bioreactor-monitor",
        model: Annotated[
            Path | None,
            typer.Option(exists=True, dir_okay=False, help="Feed model (bioreactor train) for recommendations."),
        ] = None,
        recommend_every_h: Annotated[
            float, typer.Option(min=0.01, help="Culture hours between feed recommendations.")
        ] = 1.0,
    ) -> None:
        """Watch every reactor on the broker: alarms with explanations, history, metrics."""
        # Imported here: the service loads the engine, its checks and the model, which other commands skip.
        from models.recommender import FeedRecommender  # noqa: PLC0415
        from monitor.service import ServiceSettings, run_monitor  # noqa: PLC0415

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        settings = ServiceSettings(client_id=client_id, recommendation_interval_h=recommend_every_h)
        recommender = FeedRecommender(model) if model is not None else None
        run_monitor(broker, historian, config_path=config, settings=settings, recommender=recommender)

    @app.command()
    def alerts(
        broker: Annotated[str, typer.Option(help="MQTT broker mqtt://host:port.")] = DEFAULT_BROKER,
        severity: Annotated[Severity | None, typer.Option(help="Show this severity and above (default: all).")] = None,
        reactor: Annotated[list[str] | None, typer.Option(help="Only this reactor (repeatable; default: all).")] = None,
        webhook: Annotated[str | None, typer.Option(help="Also POST each alarm as JSON to this URL (retried).")] = None,
        client_id: Annotated[
            str | None, typer.Option(help="Persistent session: receive what was missed while down.")
        ] = None,
    ) -> None:
        """Follow alarm events as readable lines: time, reactor, severity, state, message."""
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        alert_filter = AlertFilter(severity, frozenset(reactor or ()))
        run_alerts(broker, alert_filter, webhook=webhook, client_id=client_id)

    @app.command("export")
    def export_history(
        out: Annotated[Path, typer.Option(dir_okay=False, help="File to write.")],
        batch: Annotated[str | None, typer.Option(help="Batch id (default: every batch).")] = None,
        fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = ExportFormat.CSV,
        table: Annotated[Table, typer.Option(help="What to export.")] = Table.READINGS,
        historian: Annotated[
            Path, typer.Option(exists=True, dir_okay=False, help="SQLite historian.")
        ] = DEFAULT_HISTORIAN,
    ) -> None:
        """Export one batch from the monitor's historian to CSV or Parquet."""
        with SqliteHistorian(historian, readonly=True) as source:
            try:
                rows = export(source, out, batch_id=batch, fmt=fmt, table=table)
            except (LookupError, ValueError) as err:
                raise typer.BadParameter(str(err)) from None
        typer.echo(f"wrote {rows} {table.value} to {out}")

    @app.command()
    def analyze(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of readings.")],
        out: Annotated[Path, typer.Option(dir_okay=False, help="Events CSV to write.")],
        column_map: Annotated[
            list[str] | None,
            typer.Option("--map", help="Column mapping SOURCE=FIELD[:UNIT] (repeatable)."),
        ] = None,
        config: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="TOML over the defaults.")
        ] = None,
    ) -> None:
        """Run the monitor over a CSV file: alarm events to --out, a summary per batch."""
        from bioreactor.columns import ColumnMap  # noqa: PLC0415
        from monitor.analyze import analyze_csv, events_frame, summary_text  # noqa: PLC0415
        from monitor.config import MonitorConfig  # noqa: PLC0415

        settings = MonitorConfig.from_toml(config) if config else None
        try:
            analysis = analyze_csv(file, ColumnMap.parse(column_map or []), settings)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None
        events_frame(analysis.events).to_csv(out, index=False)
        typer.echo(summary_text(analysis))
        typer.echo(f"wrote {len(analysis.events)} events to {out}")

    @app.command("evaluate-detection")
    def evaluate_detection(
        batches: Annotated[int, typer.Option(min=1, help="Batches to simulate.")] = 160,
        seed: Annotated[int, typer.Option(help="Simulation seed.")] = 7,
        data: Annotated[
            Path | None,
            typer.Option(exists=True, dir_okay=False, help="Labelled CSV instead of simulating."),
        ] = None,
        out: Annotated[Path | None, typer.Option(dir_okay=False, help="Write the tables.")] = None,
        config: Annotated[
            Path | None, typer.Option(exists=True, dir_okay=False, help="TOML over the defaults.")
        ] = None,
    ) -> None:
        """Recall, detection delay and false alarms per fault type, against fixed limits."""
        from monitor.config import MonitorConfig  # noqa: PLC0415
        from monitor.detection import evaluate, labelled_frame, report  # noqa: PLC0415

        frame = labelled_frame(data, batches=batches, seed=seed)
        evaluation = evaluate(frame, MonitorConfig.from_toml(config) if config else None)
        typer.echo(report(evaluation))
        if out is not None:
            evaluation.combined().to_csv(out, index=False)
            typer.echo(f"wrote {out}")
