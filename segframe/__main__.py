"""``python -m segframe`` runs the CLI."""

from segframe.cli import app

app(prog_name="segframe")
