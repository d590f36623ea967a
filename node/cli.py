"""The `fmar` command line."""

from __future__ import annotations

import typer

from trust.cli import register as register_trust_commands

app = typer.Typer(help="FMAR: Flexibility Market Asset Register.", no_args_is_help=True)
register_trust_commands(app)
