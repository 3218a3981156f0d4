"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import errno
import functools
import sys

import typer

from ..errors import EvsitingError


_ENVIRONMENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT})


def handle_errors(func):
    """Decorator: turn an :class:`EvsitingError` into ``error: ...`` on stderr and exit code 2
    (also a permission, read-only or full-disk ``OSError``, naming the path); Ctrl-C into
    ``interrupted: ...`` and exit code 130."""

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
        except OSError as exc:
            # the machine, not the program: no permission, read-only or full disk (the run
            # folder is written atomically, so nothing half-written is left)
            if exc.errno not in _ENVIRONMENT_ERRNOS:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def echo_err(msg: str) -> None:
    """Print a progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)
