"""Command-line interface: ``evsiting run|network|demand|...``.

Every :class:`evsiting.errors.EvsitingError` becomes a one-line message on stderr and exit
code 2; nothing else is caught.
"""

from __future__ import annotations

import importlib
import importlib.util

import typer

app = typer.Typer(
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
    "evsiting.cli.validate",
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
