"""Assumptions with units and sources: ``data/parameters.csv``.

Every figure that is an assumption rather than data (kWh/100 km, daily km, public-charging
share, charger power, utilisation hours, costs, speeds, kernel widths) lives in that table with
columns ``name, value, unit, low, high, source``. Code asks for parameters by name; a config
may override values with ``parameters: {name: value}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from evsiting.core.errors import InputError
from evsiting.core.settings import data_dir

REQUIRED_COLUMNS = ("name", "value", "unit", "low", "high", "source")


@dataclass(frozen=True)
class Parameter:
    """One assumption: its value, unit, plausible range and source."""

    name: str
    value: float
    unit: str
    low: float | None
    high: float | None
    source: str


class Parameters(Mapping[str, Parameter]):
    """Read-only table of :class:`Parameter` by name, with config overrides applied."""

    def __init__(self, table: dict[str, Parameter], path: Path | None = None, overridden: Mapping[str, str] | None = None):
        self._table = dict(table)
        self.path = path
        #: parameter name -> the config that overrode it
        self.overridden: dict[str, str] = dict(overridden or {})

    def blame(self, *names: str) -> dict[str, str | None]:
        """``source`` and ``field`` of an error about the value of ``names``: the config and
        ``parameters.<name>`` when the config overrode one of them, else the parameter table
        and the name(s)."""
        for name in names:
            if name in self.overridden:
                return {"source": self.overridden[name], "field": f"parameters.{name}"}
        return {"source": None if self.path is None else str(self.path), "field": "/".join(names)}

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._table[name]
        except KeyError:
            where = self.path or "parameters"
            raise InputError(f"no parameter named '{name}'", source=where, field="name") from None

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __iter__(self):
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def value(self, name: str) -> float:
        """The value of parameter ``name`` in its stated unit.

        Raises:
            InputError: no such parameter.
        """
        return self[name].value

    def with_overrides(self, overrides: Mapping[str, float] | None, source: str = "config",
                       config: str | None = None) -> "Parameters":
        """A copy with ``overrides`` applied; the source column records where each came from
        (``source``), and errors about an overridden value name ``config`` (the config file;
        default ``source``) and ``parameters.<name>`` (:meth:`blame`).

        Raises:
            InputError: an override names an unknown parameter or is not a finite number.
        """
        if not overrides:
            return self
        table = dict(self._table)
        for name, value in overrides.items():
            old = self[name]
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise InputError(f"override must be a number, got {value!r}", source, f"parameters.{name}") from None
            if not math.isfinite(v):
                raise InputError("override must be finite", source, f"parameters.{name}")
            table[name] = Parameter(name, v, old.unit, old.low, old.high, f"override in {source} (default {old.value}: {old.source})")
        return Parameters(table, self.path, {**self.overridden, **{name: str(config or source) for name in overrides}})

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame with the columns of ``parameters.csv``."""
        return pd.DataFrame([p.__dict__ for p in self._table.values()], columns=list(REQUIRED_COLUMNS))


#: Physical bounds of a parameter value by its unit: (lowest, highest). Values beyond them are
#: impossible or a typo (a utilisation of 30 hours a day, a share of 2), whatever the documented
#: low/high range, which only states the plausible values of the assumption.
UNIT_BOUNDS: dict[str, tuple[float, float]] = {
    "fraction": (0.0, 1.0),
    "h/day": (0.0, 24.0),
    "km/day": (0.0, 3000.0),        # 24 h at 125 km/h
    "kWh/km": (0.0, 5.0),           # a loaded bus uses about 1.5
    "kW": (0.0, 5000.0),            # megawatt truck charging is 1,000-3,750 kW
    "km/h": (0.0, 250.0),
    "km": (0.0, 5000.0),
    "vehicles": (0.0, 1e9),
    "vehicles/year": (0.0, 1e9),
    "1/year": (-1.0, 1.0),
    "years": (0.0, 100.0),
    "kWh": (0.0, 1000.0),
    "min": (0.0, 1440.0),
    "m": (0.0, 100_000.0),
    "CNY": (0.0, 1e12),
    "CNY/port": (0.0, 1e10),
    "ports": (0.0, 10_000.0),
    "exponent": (0.0, 10.0),
    "ratio": (0.0, 100.0),
}
#: Parameters whose physical range is narrower than their unit's: (lowest, highest, lowest
#: excluded). A circuity below 1 would make roads shorter than the straight line; a peak hour
#: with no share of the day's sessions has no queue to check.
NAME_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "circuity_factor": (1.0, 10.0, False),
    "terrain_factor": (0.1, 10.0, False),
    "cell_stations_factor": (1.0, 100.0, False),
    "dc_peak_hour_share": (0.0, 1.0, True),
}
#: Units whose values are whole numbers.
INTEGER_UNITS = frozenset({"ports"})


def physical_bounds(p: Parameter) -> tuple[float, float, bool] | None:
    """(lowest, highest, lowest excluded) of parameter ``p`` from :data:`NAME_BOUNDS` or its
    unit (:data:`UNIT_BOUNDS`); None when neither gives one."""
    if p.name in NAME_BOUNDS:
        return NAME_BOUNDS[p.name]
    if p.unit in UNIT_BOUNDS:
        lo, hi = UNIT_BOUNDS[p.unit]
        return lo, hi, False
    return None


def _optional_float(x) -> float | None:
    if x is None or (isinstance(x, float) and math.isnan(x)) or str(x).strip() == "":
        return None
    return float(x)


def load_parameters(path: str | Path | None = None) -> Parameters:
    """Read a parameters table.

    Args:
        path: CSV with columns ``name, value, unit, low, high, source``; default
            ``data/parameters.csv``.

    Returns:
        :class:`Parameters`.

    Raises:
        InputError: missing file or column, duplicate names, non-numeric values, empty source.
    """
    path = Path(path) if path is not None else data_dir() / "parameters.csv"
    if not path.exists():
        raise InputError("file not found", source=path)
    try:
        df = pd.read_csv(path, dtype={"name": str, "unit": str, "source": str}, comment="#")
    except Exception as exc:  # pandas raises several parser errors
        raise InputError(f"cannot read CSV: {exc}", source=path) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", source=path)
    dup = df["name"][df["name"].duplicated()].tolist()
    if dup:
        raise InputError(f"duplicate parameter names {dup}", source=path, field="name")
    table: dict[str, Parameter] = {}
    for row_no, row in enumerate(df.itertuples(index=False), start=2):
        try:
            value = float(row.value)
            low, high = _optional_float(row.low), _optional_float(row.high)
        except (TypeError, ValueError):
            raise InputError(f"row {row_no} ({row.name}): value/low/high must be numbers", path, "value") from None
        if not isinstance(row.source, str) or not row.source.strip():
            raise InputError(f"row {row_no} ({row.name}): every parameter needs a source", path, "source")
        table[row.name] = Parameter(row.name, value, str(row.unit), low, high, row.source.strip())
    return Parameters(table, path)
