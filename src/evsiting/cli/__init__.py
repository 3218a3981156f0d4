"""Command-line interface: ``evsiting run|network|demand|...``.

Every :class:`evsiting.core.errors.EvsitingError` becomes a one-line message on stderr and exit
code 2; nothing else is caught.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer
from typer.core import TyperGroup

# click's exceptions as the installed typer raises them (typer >= 0.2x vendors its own click)
_click_exc = importlib.import_module(typer.BadParameter.__module__)
_ABORT = getattr(_click_exc, "Abort", None) or getattr(typer, "Abort", KeyboardInterrupt)


def _empty_value(args: list[str]) -> str | None:
    """The option (or ``argument``) given an empty value in ``args``, if any (``--out ""``
    would otherwise mean the working directory)."""
    for i, a in enumerate(args):
        if a.strip() == "":
            prev = args[i - 1] if i else ""
            return prev if prev.startswith("-") and "=" not in prev else "argument"
        if a.startswith("--") and a.endswith("="):
            return a[:-1]
    return None


def usage_error_line(exc: Exception, args: list[str] = ()) -> str:
    """The one ``error: ...`` line of a command-line usage error, in the format of the other
    errors: ``error: field '--time-limit': 'abc' is not a valid float`` (+ where to get help)."""
    from evsiting.core.errors import InputError

    ctx = getattr(exc, "ctx", None)
    param = getattr(exc, "param", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    if isinstance(exc, _click_exc.BadParameter) and param is not None and not isinstance(exc, _click_exc.MissingParameter):
        opts = getattr(param, "opts", None) or []
        name = opts[0] if opts and getattr(param, "param_type_name", "") == "option" else getattr(param, "human_readable_name", None)
        msg = str(exc.message).rstrip(".")
        given = [args[i + 1] for i, a in enumerate(args[:-1]) if a in opts] + [a.split("=", 1)[1] for a in args if "=" in a and a.split("=", 1)[0] in opts]
        if given and repr(given[-1]) not in msg:
            msg += f" (got {given[-1]!r})"
        return f"error: {InputError(msg, field=name)}{hint}"
    return f"error: {exc.format_message().rstrip('.')}{hint}"


class _Group(TyperGroup):
    """The root command: click's usage errors (a bad option value, a missing argument, an
    unknown option) and an empty value become one ``error: ...`` line and exit code 2, like
    every other error; the commands' own errors are handled by
    :func:`evsiting.cli.common.handle_errors`."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        empty = _empty_value(argv)
        if empty is not None:
            from evsiting.core.errors import InputError

            typer.echo(f"error: {InputError('an empty value; give a file or folder name, or leave the option out', field=empty)}", err=True)
            sys.exit(2)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except _click_exc.UsageError as exc:
            if type(exc).__name__ != "NoArgsIsHelpError":  # `evsiting` alone: the help was printed
                typer.echo(usage_error_line(exc, argv), err=True)
            sys.exit(2)
        except _click_exc.ClickException as exc:
            typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except _ABORT:
            typer.echo("interrupted: no output was written", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_Group,
    help="Where Guizhou should build EV chargers, and how many.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"evsiting {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the evsiting version and exit."),
) -> None:
    """Where Guizhou should build EV chargers, and how many."""


# Command modules: each defines ``register(app)``. One module per concern.
_COMMAND_MODULES = (
    "evsiting.cli.run",
    "evsiting.cli.network",
    "evsiting.cli.demand",
    "evsiting.cli.analysis",
    "evsiting.cli.corridors",
    "evsiting.cli.plan",
    "evsiting.cli.backcast",
    "evsiting.cli.sensitivity",
)

for _name in _COMMAND_MODULES:
    if importlib.util.find_spec(_name) is not None:
        importlib.import_module(_name).register(app)


def tidy_help(text: str | None) -> str | None:
    """Help text as paragraphs that the terminal wraps at words: the lines of each paragraph
    of a docstring joined (typer's rich help keeps a docstring's line breaks, so a narrow
    terminal broke sentences mid-line), blank lines kept between paragraphs, and reST
    ````code```` shown as 'code'.

    Args:
        text: a docstring or help string, or None.

    Returns:
        the tidied text, or None for None.
    """
    import inspect
    import re

    if text is None:
        return None
    paras = re.split(r"\n\s*\n", inspect.cleandoc(text))
    joined = [" ".join(line.strip() for line in p.splitlines() if line.strip()) for p in paras]
    return "\n\n".join(re.sub(r"``([^`]+)``", r"'\1'", p) for p in joined if p)


def _tidy_all(typer_app: typer.Typer) -> None:
    """:func:`tidy_help` on every command (its docstring), option and argument of ``typer_app``
    and its sub-apps."""
    import inspect

    for cmd in typer_app.registered_commands:
        cmd.help = tidy_help(cmd.help or inspect.getdoc(cmd.callback))
        for param in inspect.signature(cmd.callback).parameters.values():
            info = param.default
            if hasattr(info, "help") and isinstance(info.help, str):
                info.help = tidy_help(info.help)
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        sub.info.help = tidy_help(sub.info.help if isinstance(sub.info.help, str) else None)
        _tidy_all(sub)


_tidy_all(app)


def main() -> None:  # pragma: no cover - console entry point
    app()
