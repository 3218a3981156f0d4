"""Errors a planner can act on. The CLI turns each into a one-line message and exit code 2."""

from __future__ import annotations


class EvsitingError(Exception):
    """Base class of the errors evsiting raises on purpose."""

    exit_code = 2


class InputError(EvsitingError, ValueError):
    """Bad input: a file, a field or a value that cannot be used.

    Args:
        message: what is wrong and what was expected.
        source: the file (or config) concerned, if any.
        field: the field, column or row concerned, if any.
    """

    def __init__(self, message: str, source: object | None = None, field: str | None = None):
        self.message = message
        self.source = None if source is None else str(source)
        self.field = field
        parts = []
        if self.source:
            parts.append(self.source)
        if field:
            parts.append(f"field '{field}'")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class InfeasibleError(EvsitingError):
    """A model has no feasible solution; the message says why in planner's terms.

    Args:
        message: why, and what to change.
        source, field: the config and the dotted key to change, when one is to blame.
    """

    def __init__(self, message: str, source: object | None = None, field: str | None = None):
        self.message = message
        self.source = None if source is None else str(source)
        self.field = field
        prefix = ": ".join(([self.source] if self.source else []) + ([f"field '{field}'"] if field else []))
        super().__init__(f"{prefix}: {message}" if prefix else message)


class SolverError(EvsitingError):
    """The solver is missing, crashed, or stopped without any solution."""


def blames_config(func):
    """Decorator of a function whose first argument is a run config: an :class:`InputError` or
    :class:`InfeasibleError` raised inside it with the placeholder source ``"config"`` names the
    config file instead
    (``cfg.source``), so every error names the user's file."""
    import functools

    @functools.wraps(func)
    def wrapper(cfg, *args, **kwargs):
        try:
            return func(cfg, *args, **kwargs)
        except (InputError, InfeasibleError) as exc:
            src = getattr(cfg, "source", None)
            if exc.source == "config" and src and src != "config":
                raise type(exc)(exc.message, source=src, field=exc.field) from None
            raise

    return wrapper
