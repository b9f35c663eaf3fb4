"""The ``bioreactor`` command: one entry point, a subcommand per job.

Each package registers its own subcommands, so this module stays a table of contents.
It also decides, for all of them, how a subcommand ends when it cannot do its job:
with one ``error:`` line on stderr (:func:`bioreactor.errors.error_line`) and an
exit status, never a traceback, for anything the user can act on. A traceback is
left only to what is none of these: a bug.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import psycopg
import typer
from typer.core import TyperGroup

from bioreactor.demo import DemoPlan, run_demo
from bioreactor.errors import error_line
from dashboards.cli import register as register_dashboards
from models.artifact import IncompatibleModelError
from models.cli import register as register_models
from monitor.cli import register as register_monitor
from monitor.historian import SchemaError
from monitor.profile.cli import register as register_profile
from monitor.shutdown import ServiceFailedError
from simulator.cli import register as register_simulator

#: Errors a user can act on, with the exit status each ends a command with, first match wins:
#: 2 when the command line or its input has to change (the project's parse and validation
#: errors are ValueErrors), 1 when something the command needs let it down.
EXIT_STATUS: tuple[tuple[tuple[type[Exception], ...], int], ...] = (
    ((ConnectionError, psycopg.OperationalError, ServiceFailedError, SchemaError), 1),
    ((FileNotFoundError, ValueError, IncompatibleModelError), 2),
    ((OSError,), 1),
)


class OneLineErrors(TyperGroup):
    """The ``bioreactor`` group: every subcommand fails with one line and an exit status.

    Wrong options and arguments (a missing input file among them) get one line too,
    instead of click's usage box.
    """

    def invoke(self, ctx: Any) -> Any:  # a click Context, which typer does not export
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise  # typer ends quietly when the reader of the output has gone (| head)
        except typer.TyperException as err:  # click's errors: a wrong option or argument, a missing file
            # A group called alone (``bioreactor profile``) has shown its help already; typer adds
            # nothing to it, and recognises it by name as here, since it does not export the class.
            if type(err).__name__ == "NoArgsIsHelpError":
                raise
            usage = getattr(err, "ctx", None)  # set on a usage error: the command to ask for --help
            hint = f" (see '{usage.command_path} --help')" if usage is not None else ""
            _fail(err.format_message() + hint, err.exit_code)
        except Exception as err:
            status = next((status for kinds, status in EXIT_STATUS if isinstance(err, kinds)), None)
            if status is None:
                raise
            _fail(err, status)


def _fail(problem: BaseException | str, status: int) -> NoReturn:
    """Print ``problem`` as one ``error:`` line on stderr and end the command with ``status``."""
    typer.echo(error_line(problem), err=True)
    raise typer.Exit(status) from None


app = typer.Typer(
    name="bioreactor",
    help="Simulate, monitor and advise CHO fed-batch bioreactors over MQTT.",
    cls=OneLineErrors,
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
    broker: Annotated[
        str | None,
        typer.Option(help="An MQTT broker of yours (login from BIOREACTOR_MQTT_*); by default the demo starts "
                     "a secured one of its own on free ports."),
    ] = DemoPlan.broker,
    reactors: Annotated[int, typer.Option(min=1, max=50, help="Reactors in the fleet.")] = DemoPlan.reactors,
    days: Annotated[float, typer.Option(min=0.01, help="Culture days.")] = DemoPlan.days,
    speed: Annotated[float, typer.Option(min=0.001, help="Culture time per wall time.")] = 3600.0,
    dashboard_port: Annotated[int, typer.Option(min=1, max=65535, help="Dashboard HTTP port.")] = (
        DemoPlan.dashboard_port
    ),
    workdir: Annotated[Path, typer.Option(help="Logs, historian and broker data.")] = DemoPlan.workdir,
    model: Annotated[Path, typer.Option(help="Feed model; trained quickly when missing.")] = DemoPlan.model,
    exit_after_harvest: Annotated[bool, typer.Option(help="Stop everything when the fleet is done.")] = False,
) -> None:
    """Run the main job: simulated fleet -> monitor -> alerts and live dashboard (Ctrl-C stops)."""
    plan = DemoPlan(
        broker, reactors, days, speed, dashboard_port, workdir, keep_running=not exit_after_harvest, model=model
    )
    raise typer.Exit(run_demo(plan))
