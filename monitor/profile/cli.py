"""``bioreactor profile fit`` and ``bioreactor profile show``: learn a plant's profile, and read it.

A bad file, option or profile ends the command with one ``error:`` line and
exit status 1, never a traceback; rows that cannot be read are skipped and
summarised by reason.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Annotated, NoReturn

import pandas as pd
import typer

from bioreactor.rejections import RejectionSummary


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {'; '.join(line.strip() for line in message.splitlines() if line.strip())}", err=True)
    raise typer.Exit(1)


def _read(reference: Path, maps: list[str]) -> pd.DataFrame:
    """The reference CSV as a canonical frame; skipped rows summarised on stderr."""
    from bioreactor.csvio import ColumnMap, read_frame  # noqa: PLC0415 - CLI start-up stays fast

    try:
        frame, errors = read_frame(reference, ColumnMap.parse(maps))
    except (ValueError, OSError, csv.Error) as err:  # column options, missing columns, unreadable file
        _fail(f"{reference}: {err}")
    summary = RejectionSummary()
    for error in errors:
        summary.add(error.line, error.field, error.reason, error.value)
    if summary.total:
        typer.echo(summary.text(), err=True)
    return frame


def _select(frame: pd.DataFrame, batches: str | None) -> pd.DataFrame:
    """Only the ``--batches`` (comma-separated ids), without those labelled faulty."""
    from monitor.profile.reference import good_batches  # noqa: PLC0415

    if batches:
        wanted = [b.strip() for b in batches.split(",") if b.strip()]
        present = set(frame["batch_id"].astype(str))
        unknown = [b for b in wanted if b not in present]
        if unknown:
            _fail(f"--batches: not in the file: {', '.join(unknown[:10])} ({len(present)} batches in the file)")
        frame = frame[frame["batch_id"].astype(str).isin(wanted)]
    good, dropped = good_batches(frame)
    if dropped:
        shown = ", ".join(dropped[:10]) + (f" and {len(dropped) - 10} more" if len(dropped) > 10 else "")
        typer.echo(f"left out {len(dropped)} batches labelled faulty (a profile learns good ones): {shown}", err=True)
    return good


def register(app: typer.Typer) -> None:
    """Add ``bioreactor profile fit`` and ``bioreactor profile show``."""
    profile_app = typer.Typer(
        help="Learn a plant's normal operation from its good batches (a process profile), and explain it.",
        no_args_is_help=True,
    )
    app.add_typer(profile_app, name="profile")

    @profile_app.command("fit")
    def fit(  # noqa: PLR0917 - typer passes every option by keyword
        reference: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of good reference batches.")],
        out: Annotated[Path, typer.Option(dir_okay=False, help="Profile to write, e.g. plant.profile.toml.")],
        column_map: Annotated[
            list[str] | None, typer.Option("--map", help="Column mapping SOURCE=FIELD[:UNIT] (repeatable).")
        ] = None,
        name: Annotated[str | None, typer.Option(help="Profile name (default: the file's name).")] = None,
        batches: Annotated[
            str | None, typer.Option(help="Fit on these batches only: B1,B2,... (default: every good batch).")
        ] = None,
        bin_h: Annotated[
            float | None, typer.Option(min=0.01, help="Maturity bin width in hours (default: from batch length).")
        ] = None,
    ) -> None:
        """Learn a profile from good reference batches: writes OUT (TOML) and its model file (.npz)."""
        from monitor.profile.fit import fit_profile  # noqa: PLC0415
        from monitor.profile.reference import ProfileError  # noqa: PLC0415
        from monitor.profile.store import save_profile  # noqa: PLC0415

        started = time.perf_counter()
        frame = _select(_read(reference, column_map or []), batches)
        read = time.perf_counter()
        try:
            profile = fit_profile(frame, name=name or reference.stem, source=reference.name, bin_h=bin_h)
        except ProfileError as err:
            _fail(f"{reference}: {err}")
        model = save_profile(profile, out)
        typer.echo(
            f"wrote {out} and {model.name}: {len(profile.card.batches)} batches, {profile.card.rows:,} readings "
            f"(read in {read - started:.1f} s, fitted in {time.perf_counter() - read:.1f} s); "
            f"`bioreactor profile show {out}` explains it"
        )

    @profile_app.command("show")
    def show(
        profile: Annotated[Path, typer.Argument(dir_okay=False, help="Profile (TOML) written by `profile fit`.")],
    ) -> None:
        """Explain a profile in plain words: sampling, set points, ranges, noise, feed, models."""
        from monitor.profile.describe import describe  # noqa: PLC0415
        from monitor.profile.reference import ProfileError  # noqa: PLC0415
        from monitor.profile.store import load_profile  # noqa: PLC0415

        try:
            typer.echo(describe(load_profile(profile)))
        except ProfileError as err:
            _fail(str(err))
