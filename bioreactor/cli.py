"""The ``bioreactor`` command: one entry point, a subcommand per job.

Each package registers its own subcommands, so this module stays a table of contents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bioreactor.demo import DemoPlan, run_demo
from dashboards.cli import register as register_dashboards
from models.cli import register as register_models
from monitor.cli import register as register_monitor
from monitor.profile.cli import register as register_profile
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
register_profile(app)
register_models(app)
register_dashboards(app)



@app.command()
def demo(
    *,
    broker: Annotated[str, typer.Option(help="MQTT broker; started from mosquitto.conf if none answers.")] = (
        DemoPlan.broker
    ),
    reactors: Annotated[int, typer.Option(min=1, max=50, help="Reactors in the fleet.")] = DemoPlan.reactors,
    days: Annotated[float, typer.Option(min=0.01, help="Culture days.")] = DemoPlan.days,
    speed: Annotated[float, typer.Option(min=0.001, help="Culture time per wall time.")] = 3600.0,
    dashboard_port: Annotated[int, typer.Option(help="Dashboard HTTP port.")] = DemoPlan.dashboard_port,
    workdir: Annotated[Path, typer.Option(help="Logs, historian and broker data.")] = DemoPlan.workdir,
    model: Annotated[Path, typer.Option(help="Feed model; trained quickly when missing.")] = DemoPlan.model,
    exit_after_harvest: Annotated[bool, typer.Option(help="Stop everything when the fleet is done.")] = False,
) -> None:
    """Run the main job: simulated fleet -> monitor -> alerts and live dashboard (Ctrl-C stops)."""
    plan = DemoPlan(
        broker, reactors, days, speed, dashboard_port, workdir, keep_running=not exit_after_harvest, model=model
    )
    try:
        raise typer.Exit(run_demo(plan))
    except ConnectionError as err:
        raise typer.BadParameter(str(err)) from None
