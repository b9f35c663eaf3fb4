"""Command-line subcommands of the monitor package."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's subcommands to the ``bioreactor`` command."""
