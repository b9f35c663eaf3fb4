"""Command-line subcommand of the dashboards package: ``bioreactor dashboard``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from bioreactor.mqtt import DEFAULT_BROKER
from models.outputs import DEFAULT_MODEL_PATH
from monitor.cli import ConfigOption, ProfileOption


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the ``bioreactor`` command."""

    @app.command()
    def dashboard(
        *,
        broker: Annotated[str, typer.Option(help="MQTT broker mqtt://host:port.")] = DEFAULT_BROKER,
        port: Annotated[int, typer.Option(min=0, max=65535, help="HTTP port (0: any free port).")] = 5006,
        address: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every one).")] = "127.0.0.1",
        historian: Annotated[
            str | None,
            typer.Option(help="The monitor's historian (SQLite file or postgresql:// URL): whole batches on the "
                              "plots, batches to compare."),
        ] = None,
        profile: ProfileOption = None,
        config: ConfigOption = None,
        model: Annotated[
            Path, typer.Option(dir_okay=False, help="Feed-rate model for the analysis page, used if it exists.")
        ] = DEFAULT_MODEL_PATH,
        user_header: Annotated[
            str | None,
            typer.Option(help="HTTP header in which an authenticating reverse proxy passes the signed-in operator "
                              "(e.g. X-Forwarded-User): acknowledgements carry that name, none can be typed."),
        ] = None,
        allow_origin: Annotated[
            list[str] | None,
            typer.Option(help="Extra host:port browsers may use to reach the server (repeatable)."),
        ] = None,
    ) -> None:
        """Serve the live fleet page (/live), the CSV analysis page (/analyze) and batch comparison (/compare).

        The plots draw the limits and golden-batch envelope of the monitor's --profile and --config.
        """
        # Imported here: Panel and Bokeh take a while to load, which other commands skip.
        from dashboards.server import DashboardSettings, serve  # noqa: PLC0415

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        settings = DashboardSettings(
            broker, port, address, historian, model, profile, config, user_header,
            allow_origins=tuple(allow_origin or ()),
        )
        serve(settings, announce=typer.echo)
