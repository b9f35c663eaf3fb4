"""``python -m bioreactor``: the same as the ``bioreactor`` command."""

from bioreactor.cli import app

app()
