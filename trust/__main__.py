"""`python -m trust ...`: the trust commands without the node's CLI."""

import typer

from trust.cli import register

app = typer.Typer(no_args_is_help=True)
register(app)

if __name__ == "__main__":
    app()
