"""``python -m evsiting.cli``."""

from . import app

app()
