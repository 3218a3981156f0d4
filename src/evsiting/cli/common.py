"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import functools
import sys

import typer

from ..errors import EvsitingError


def handle_errors(func):
    """Decorator: turn an :class:`EvsitingError` into ``error: ...`` on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EvsitingError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted: no output was written", err=True)
            raise typer.Exit(code=130) from None

    return wrapper


def echo_err(msg: str) -> None:
    """Print a progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)
