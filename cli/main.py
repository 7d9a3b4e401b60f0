"""Entry point: `vocaliq ...`. Each area registers its commands from a module of its own."""

from __future__ import annotations

import sys

import typer

from appliance import __version__
from appliance.errors import VocalIQError

app = typer.Typer(
    name="vocaliq",
    help="VocalIQ on-prem AI phone agent: set up, run and operate the appliance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the VocalIQ version."""
    typer.echo(f"vocaliq {__version__}")


def _register() -> None:
    # One line per area; each module adds its commands to `app`.
    from cli import (
        admin,  # noqa: F401
        bench_cmd,  # noqa: F401
        chat_cmd,  # noqa: F401
        gdpr_cmd,  # noqa: F401
        models_cmd,  # noqa: F401
        records_cmd,  # noqa: F401
        sip_cmd,  # noqa: F401
        users_cmd,  # noqa: F401
    )


def main() -> None:
    """Run the CLI; typed errors become a one-line reason and their exit code."""
    _register()
    try:
        app()
    except VocalIQError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    # `python -m cli.main` runs this file as __main__; the command modules register on `cli.main.app`.
    from cli.main import main as _main

    _main()
