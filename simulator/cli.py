"""Command-line subcommands of the simulator package."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from bioreactor.mqtt import DEFAULT_BROKER, BrokerAddress
from simulator.dataset import generate_frame, write_csv
from simulator.faults import FAULT_TYPES, Fault, FaultType
from simulator.fleet import FleetPlan, publish_fleet
from simulator.fungal.cli import register as register_fungal
from simulator.plant import DEFAULT_PLANT, load_plant, preset_names
from simulator.replay import DEFAULT_SPEED, replay_file

_PLANT_HELP = f"Plant: a preset ({', '.join(preset_names())}) or a plant .toml file."
_SAMPLE_HELP = "Sampling period in minutes (default: the plant's)."


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the ``bioreactor`` command."""

    @app.command()
    def simulate(
        *,
        reactors: Annotated[int, typer.Option(min=1, max=200, help="Reactors in the fleet.")] = 3,
        days: Annotated[float, typer.Option(min=0.01, help="Culture days to run.")] = 14.0,
        speed: Annotated[
            float, typer.Option(min=0.001, help="Culture time per wall time (1: real time; 3600: 1 h/s).")
        ] = 1.0,
        as_fast_as_possible: Annotated[
            bool, typer.Option("--as-fast-as-possible", help="No pacing; wait only for acks.")
        ] = False,
        sample_minutes: Annotated[float | None, typer.Option(min=0.1, help=_SAMPLE_HELP)] = None,
        seed: Annotated[int, typer.Option(help="Random seed (noise, operator).")] = 0,
        fault: Annotated[
            list[str] | None,
            typer.Option(help="REACTOR=KIND@ONSET_H[:MAGNITUDE[:DURATION_H]], e.g. R02=aeration_loss@96:0.8"),
        ] = None,
        broker: Annotated[str, typer.Option(help="MQTT broker mqtt://host:port.")] = DEFAULT_BROKER,
        plant: Annotated[str, typer.Option(help=_PLANT_HELP)] = DEFAULT_PLANT,
    ) -> None:
        """Run a simulated fleet and publish its readings over MQTT (QoS 1, retained status).

        Readings carry the contract's canonical names and units whatever the plant.
        """
        plan = FleetPlan(
            reactors,
            days,
            sample_minutes,
            seed,
            tuple(_reactor_fault(f) for f in fault or []),
            plant=load_plant(plant),
        )
        address = BrokerAddress.parse(broker)
        count = publish_fleet(plan, address, speed=None if as_fast_as_possible else speed)
        # The parsed address: a password given in the URL is not echoed.
        typer.echo(f"published {count} readings from {reactors} reactors to {address}", err=True)

    @app.command()
    def generate(
        *,
        out: Annotated[Path, typer.Option(dir_okay=False, help="CSV file to write.")],
        batches: Annotated[int, typer.Option(min=1, help="Batches to simulate.")] = 20,
        seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
        days: Annotated[float, typer.Option(min=0.01, help="Culture days per batch.")] = 14.0,
        samples: Annotated[int | None, typer.Option(min=2, help="Readings per batch (overrides --days).")] = None,
        sample_minutes: Annotated[float | None, typer.Option(min=0.1, help=_SAMPLE_HELP)] = None,
        fault_fraction: Annotated[
            float, typer.Option(min=0.0, max=1.0, help="Share of batches with one random fault.")
        ] = 0.5,
        faults: Annotated[
            list[FaultType] | None, typer.Option("--fault", help="Fault types to draw from (repeatable).")
        ] = None,
        plant: Annotated[str, typer.Option(help=_PLANT_HELP)] = DEFAULT_PLANT,
    ) -> None:
        """Write a labelled dataset: one row per reading, with fault and fault_effective labels.

        Columns, units and time format are the plant's export format; the command
        prints the --map options that read a foreign format back.
        """
        chosen = load_plant(plant)
        frame = generate_frame(
            batches,
            seed,
            days=days,
            samples=samples,
            sample_minutes=sample_minutes,
            fault_fraction=fault_fraction,
            faults=faults,
            progress=True,
            plant=chosen,
        )
        write_csv(chosen.export.apply(frame), out)
        typer.echo(f"wrote {len(frame)} rows of {batches} batches of plant {chosen.name} to {out}", err=True)
        options = chosen.export.map_options()
        if options:
            typer.echo("read it back with: " + " ".join(f"--map {shlex.quote(o)}" for o in options), err=True)

    @app.command()
    def replay(
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of readings.")],
        *,
        speed: Annotated[
            float, typer.Option(min=0.001, help="Culture time per wall time (60: 1 culture min/s).")
        ] = DEFAULT_SPEED,
        as_fast_as_possible: Annotated[
            bool, typer.Option("--as-fast-as-possible", help="Ignore timing; wait only for acks.")
        ] = False,
        column_map: Annotated[
            list[str] | None,
            typer.Option("--map", help="Column SOURCE=FIELD or SOURCE=FIELD:UNIT (repeatable)."),
        ] = None,
        broker: Annotated[str, typer.Option(help="MQTT broker mqtt://host:port.")] = DEFAULT_BROKER,
        reactor_id: Annotated[
            str | None, typer.Option(help="Reactor of every row (default: column or file name).")
        ] = None,
    ) -> None:
        """Replay a CSV of readings over MQTT, keeping their relative timing."""
        speed_or_none = None if as_fast_as_possible else speed
        status = replay_file(file, maps=column_map or [], speed=speed_or_none, broker=broker, reactor_id=reactor_id)
        raise typer.Exit(status)

    register_fungal(app)


def _reactor_fault(text: str) -> tuple[str, Fault]:
    reactor, sep, spec = text.partition("=")
    if not sep:
        kinds = ", ".join(k.value for k in FAULT_TYPES)
        raise ValueError(f"--fault {text!r}: expected REACTOR=KIND@ONSET_H[:MAGNITUDE[:DURATION_H]] ({kinds})")
    return reactor.strip(), Fault.parse(spec)
