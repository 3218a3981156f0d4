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



@app.callback()
def _root() -> None:
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


def main() -> None:  # pragma: no cover - console entry point
    app()
