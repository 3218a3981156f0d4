"""Helpers shared by the CLI command modules."""

from __future__ import annotations

import errno
import functools
import signal
import sys
import threading

import typer

from evsiting.core.errors import EvsitingError, InputError
from evsiting.core.solvers import SOLVERS

#: Help of every ``--solver`` option.
SOLVER_HELP = " or ".join(SOLVERS) + " (default: the config's)"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every cleanup path runs; exit code 143 (128 + 15)."""


def _terminate(signum, frame):
    raise Terminated(f"signal {signum}")


_ENVIRONMENT_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT})


def handle_errors(func):
    """Decorator: turn an :class:`EvsitingError` into ``error: ...`` on stderr and exit code 2
    (also a permission, read-only or full-disk ``OSError``, naming the path); Ctrl-C or
    SIGTERM into ``interrupted: ...`` and exit code 130 (Ctrl-C) or 143 (SIGTERM), after
    stopping any solver process still running."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        # SIGTERM (a scheduler, `timeout`, `kill`) ends the command like Ctrl-C, so the run
        # folder's temporary copy is removed instead of being left behind
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return func(*args, **kwargs)
        except EvsitingError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=exc.exit_code) from None
        except KeyboardInterrupt as exc:
            from ..models._core import stop_solver_processes

            stop_solver_processes()
            written = getattr(exc, "written", None)  # held back until the outputs were in place
            if written:
                typer.echo(f"interrupted after the outputs were written: {', '.join(str(w) for w in written)}", err=True)
            else:
                typer.echo("interrupted: no output was written", err=True)
            term = isinstance(exc, Terminated) or getattr(exc, "terminated", False)
            raise typer.Exit(code=143 if term else 130) from None
        except OSError as exc:
            # the machine, not the program: no permission, read-only or full disk (the run
            # folder is written atomically, so nothing half-written is left)
            if exc.errno not in _ENVIRONMENT_ERRNOS:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(code=2) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper


def echo_err(msg: str) -> None:
    """Print a progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)


def options_text(**options) -> str:
    """The options a command was given, as typed (`` --prefecture Anshun --time-limit 120``):
    keyword names with ``_`` as ``-``; None values left out; numbers as ``%g``."""
    parts = []
    for k, v in options.items():
        if v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        parts.append(flag if v is True else f"{flag} {v:g}" if isinstance(v, float) else f"{flag} {v}")
    return "".join(" " + p for p in parts)


def check_solver_option(solver: str | None) -> None:
    """Reject a ``--solver`` value that is not one of :data:`evsiting.core.solvers.SOLVERS`."""
    if solver is not None and solver not in SOLVERS:
        raise InputError(f"unknown solver '{solver}'; expected {' or '.join(SOLVERS)}", field="--solver")
