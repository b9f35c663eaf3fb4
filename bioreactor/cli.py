"""The ``bioreactor`` command: one entry point, a subcommand per job.

Each package registers its own subcommands, so this module stays a table of contents.
"""

from __future__ import annotations

import typer

from models.cli import register as register_models
from monitor.cli import register as register_monitor
from simulator.cli import register as register_simulator

app = typer.Typer(
    name="bioreactor",
    help="Simulate, monitor and advise CHO fed-batch bioreactors over MQTT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

register_simulator(app)
register_monitor(app)
register_models(app)
