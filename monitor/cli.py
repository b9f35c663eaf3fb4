"""Command-line subcommands of the monitor package."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from bioreactor.contract import Severity
from bioreactor.mqtt import DEFAULT_BROKER
from monitor.alerts import AlertFilter, Follow, run_alerts
from monitor.historian import DEFAULT_PATH as DEFAULT_HISTORIAN
from monitor.historian import ExportFormat, SqliteHistorian, Table, export

MapOption = Annotated[
    list[str] | None, typer.Option("--map", help="Column mapping SOURCE=FIELD[:UNIT] (repeatable).")
]
ProfileOption = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="Process profile (bioreactor profile fit); default: simulator."),
]
ConfigOption = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="TOML over the defaults and the profile.")
]


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the ``bioreactor`` command."""

    @app.command("monitor")
    def monitor_service(
        *,
        broker: Annotated[str, typer.Option(help="MQTT broker mqtt://host:port.")] = DEFAULT_BROKER,
        historian: Annotated[
            str, typer.Option(help="SQLite file (created when missing) or postgresql://... for several instances.")
        ] = str(DEFAULT_HISTORIAN),
        profile: ProfileOption = None,
        config: ConfigOption = None,
        client_id: Annotated[
            str,
            typer.Option(help="Stable MQTT client id: the broker keeps its backlog while down."),
        ] = "bioreactor-monitor",
        partitions: Annotated[
            int, typer.Option(min=1, max=256, help="Partitions of the fleet shared out among instances (PostgreSQL).")
        ] = 1,
        instance: Annotated[
            str | None, typer.Option(help="This instance's name among those sharing the store (default: client id).")
        ] = None,
        model: Annotated[
            Path | None,
            typer.Option(exists=True, dir_okay=False, help="Feed model (bioreactor train) for recommendations."),
        ] = None,
        recommend_every_h: Annotated[
            float, typer.Option(min=0.01, help="Culture hours between feed recommendations.")
        ] = 1.0,
    ) -> None:
        """Watch every reactor on the broker: alarms with explanations, incidents, history, metrics."""
        # Imported here: the service loads the engine, its checks and the model, which other commands skip.
        from models.recommender import FeedRecommender  # noqa: PLC0415
        from monitor.run import run_monitor  # noqa: PLC0415
        from monitor.service import ServiceSettings  # noqa: PLC0415

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        settings = ServiceSettings(
            client_id=client_id, instance=instance, partitions=partitions, recommendation_interval_h=recommend_every_h
        )
        recommender = FeedRecommender(model) if model is not None else None
        run_monitor(broker, historian, profile_path=profile, config_path=config, settings=settings,
                    recommender=recommender)

    @app.command()
    def alerts(
        *,
        broker: Annotated[str, typer.Option(help="MQTT broker mqtt://host:port.")] = DEFAULT_BROKER,
        severity: Annotated[Severity | None, typer.Option(help="Show this severity and above (default: all).")] = None,
        reactor: Annotated[list[str] | None, typer.Option(help="Only this reactor (repeatable; default: all).")] = None,
        webhook: Annotated[str | None, typer.Option(help="Also POST each alarm as JSON to this URL (retried).")] = None,
        client_id: Annotated[
            str | None, typer.Option(help="Persistent session: receive what was missed while down.")
        ] = None,
        follow: Annotated[
            Follow, typer.Option(help="Incidents (an alarm and its consequences, one line per change) or every "
                                      "alarm event.")
        ] = Follow.INCIDENTS,
    ) -> None:
        """Follow incidents (or alarm events) as readable lines: time, reactor, severity, state, message."""
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        alert_filter = AlertFilter(severity, frozenset(reactor or ()), follow)
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
            except LookupError as err:  # --batch and --table select nothing
                raise typer.BadParameter(str(err)) from None
        typer.echo(f"wrote {rows} {table.value} to {out}")

    @app.command()
    def analyze(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of readings.")],
        out: Annotated[Path, typer.Option(dir_okay=False, help="Events CSV to write.")],
        column_map: MapOption = None,
        profile: ProfileOption = None,
        config: ConfigOption = None,
    ) -> None:
        """Run the monitor over a CSV file: alarm events to --out, a summary per batch."""
        from bioreactor.columns import ColumnMap  # noqa: PLC0415
        from monitor.analyze import analyze_csv, events_frame, summary_text  # noqa: PLC0415
        from monitor.run import monitor_config  # noqa: PLC0415

        analysis = analyze_csv(file, ColumnMap.parse(column_map or []), monitor_config(profile, config))
        events_frame(analysis.events).to_csv(out, index=False)
        typer.echo(summary_text(analysis))
        typer.echo(f"wrote {len(analysis.events)} events to {out}")

    @app.command("evaluate-detection")
    def evaluate_detection(
        *,
        batches: Annotated[int, typer.Option(min=1, help="Batches to simulate.")] = 160,
        seed: Annotated[int, typer.Option(help="Simulation seed, and the seed of the reference split.")] = 7,
        data: Annotated[
            Path | None,
            typer.Option(exists=True, dir_okay=False, help="Labelled CSV (with fault labels) instead of simulating."),
        ] = None,
        column_map: MapOption = None,
        profile: Annotated[
            Path | None,
            typer.Option(exists=True, dir_okay=False,
                         help="Score with this profile; by default one is fitted on half of the clean batches."),
        ] = None,
        config: ConfigOption = None,
        out: Annotated[Path | None, typer.Option(dir_okay=False, help="Write the tables.")] = None,
    ) -> None:
        """Recall, detection delay and false alarms per fault type, beside the textbook baseline.

        Unless --profile is given, a profile is fitted on half of the clean batches (drawn with
        --seed) and the monitor is scored on the other half and every faulty batch: never on
        the data it learnt from.
        """
        from monitor.config import MonitorConfig  # noqa: PLC0415
        from monitor.detection import evaluate, labelled_frame, report, split_reference  # noqa: PLC0415
        from monitor.profile import fit_profile, load_profile  # noqa: PLC0415

        frame = labelled_frame(data, column_map or [], batches=batches, seed=seed)
        fitted_on: list[str] = []
        if profile is not None:
            learnt = load_profile(profile)
        else:
            fitted_on, frame_scored = split_reference(frame, seed)
            reference = frame[frame["batch_id"].isin(fitted_on)]
            learnt = fit_profile(reference, name=f"reference half of seed {seed}", source=str(data or "simulated"))
            frame = frame_scored
        settings = MonitorConfig.from_toml(config, learnt) if config else MonitorConfig.from_mapping({}, learnt)
        evaluation = evaluate(frame, settings, fitted_on=fitted_on)
        typer.echo(report(evaluation))
        if out is not None:
            evaluation.combined().to_csv(out, index=False)
            typer.echo(f"wrote {out}")
