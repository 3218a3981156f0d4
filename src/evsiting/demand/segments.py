"""Daily charging energy per vehicle segment: public (DC / AC) and bus depots (issue #4).

For ``n`` vehicles of a segment (parameters in ``data/parameters.csv``):

* charging energy, kWh/day = n x daily km x kWh/km x ``terrain_factor`` (energy drawn from the
  charger; charger losses are not added);
* public energy = charging energy x public share; DC = public x DC share; AC = the rest;
* urban buses charge at their depots: all their energy is depot energy, a facility class of its
  own (:func:`evsiting.sizing.ports.size_depots`), never public.

================  ==================  =================  ================================  =============================
segment           daily km            kWh/km             public share                      DC share of public
================  ==================  =================  ================================  =============================
private           ``nev_daily_km``    ``nev_kwh_per_km`` ``public_charging_share``         ``dc_energy_share``
taxi              ``taxi_daily_km``   ``taxi_kwh_per_km`` ``taxi_public_charging_share``   ``taxi_dc_energy_share``
logistics         ``logistics_...``   ``logistics_...``  ``logistics_public_charging_...`` ``logistics_dc_energy_share``
bus               ``bus_daily_km``    ``bus_kwh_per_km`` 0 (depot)                         n/a
================  ==================  =================  ================================  =============================
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from evsiting.core.errors import InputError
from evsiting.config.params import Parameters
from evsiting.config.schema import FleetConfig
from .fleet import SEGMENTS, project_fleet, scenario_parameters

#: Parameter names per segment: daily km, kWh/km, public share, DC share of public energy.
SEGMENT_PARAMETERS: dict[str, dict[str, str | None]] = {
    "private": {"daily_km": "nev_daily_km", "kwh_per_km": "nev_kwh_per_km",
                "public_share": "public_charging_share", "dc_share": "dc_energy_share"},
    "taxi": {"daily_km": "taxi_daily_km", "kwh_per_km": "taxi_kwh_per_km",
             "public_share": "taxi_public_charging_share", "dc_share": "taxi_dc_energy_share"},
    "logistics": {"daily_km": "logistics_daily_km", "kwh_per_km": "logistics_kwh_per_km",
                  "public_share": "logistics_public_charging_share", "dc_share": "logistics_dc_energy_share"},
    "bus": {"daily_km": "bus_daily_km", "kwh_per_km": "bus_kwh_per_km", "public_share": None, "dc_share": None},
}

ENERGY_COLUMNS = ("energy_kwh_day", "public_kwh_day", "dc_kwh_day", "ac_kwh_day", "depot_kwh_day")


def _fraction(params: Parameters, name: str) -> float:
    v = params.value(name)
    if not 0 <= v <= 1:
        raise InputError(f"must be in [0, 1], got {v:g}", **params.blame(name))
    return v


def segment_energy(vehicles, segment: str, params: Parameters) -> dict[str, np.ndarray]:
    """Daily charging energy of ``vehicles`` NEVs of one segment.

    Args:
        vehicles: array (n,) of vehicle counts (>= 0; floats allowed).
        segment: ``private``, ``taxi``, ``logistics`` or ``bus``.
        params: parameter table (see the module table).

    Returns:
        dict of float arrays (n,), kWh/day: ``energy_kwh_day`` (all charging),
        ``public_kwh_day`` = ``dc_kwh_day`` + ``ac_kwh_day``, ``depot_kwh_day`` (buses only).

    Raises:
        InputError: unknown segment; a share outside [0, 1]; negative km or kWh/km.
        ValueError: negative vehicle counts.
    """
    if segment not in SEGMENT_PARAMETERS:
        raise InputError(f"unknown segment '{segment}', expected one of {', '.join(SEGMENTS)}", field="segment")
    n = np.asarray(vehicles, dtype=float)
    if np.any(n < 0):
        raise ValueError("vehicle counts must be non-negative")
    names = SEGMENT_PARAMETERS[segment]
    km, kwh = params.value(names["daily_km"]), params.value(names["kwh_per_km"])
    terrain = params.value("terrain_factor")
    if km < 0 or kwh < 0 or terrain <= 0:
        raise InputError("daily km and kWh/km must be >= 0, terrain_factor > 0",
                         **params.blame(names["daily_km"], names["kwh_per_km"], "terrain_factor"))
    energy = n * km * kwh * terrain
    if names["public_share"] is None:  # buses: depot only
        return {"energy_kwh_day": energy, "public_kwh_day": np.zeros_like(energy), "dc_kwh_day": np.zeros_like(energy),
                "ac_kwh_day": np.zeros_like(energy), "depot_kwh_day": energy.copy()}
    public = energy * _fraction(params, names["public_share"])
    dc = public * _fraction(params, names["dc_share"])
    return {"energy_kwh_day": energy, "public_kwh_day": public, "dc_kwh_day": dc, "ac_kwh_day": public - dc,
            "depot_kwh_day": np.zeros_like(energy)}


def energy_of_counts(counts: Mapping[str, object], params: Parameters) -> dict[str, np.ndarray]:
    """Energy summed over segments for arrays of counts per segment (e.g. per cell).

    Args:
        counts: ``{segment: array (n,) of vehicles}``; missing segments count as 0.

    Returns:
        dict of arrays (n,), kWh/day, keys :data:`ENERGY_COLUMNS`.

    Raises:
        InputError: unknown segment names; as :func:`segment_energy`.
    """
    unknown = set(counts) - set(SEGMENT_PARAMETERS)
    if unknown:
        raise InputError(f"unknown segment(s) {sorted(unknown)}", field="segment")
    total: dict[str, np.ndarray] | None = None
    for seg, n in counts.items():
        e = segment_energy(n, seg, params)
        total = e if total is None else {k: total[k] + e[k] for k in ENERGY_COLUMNS}
    if total is None:
        raise InputError("no segments given", field="segment")
    return total


def blended_rates(segment_counts: Mapping[str, float], params: Parameters) -> dict[str, float]:
    """Energy per vehicle of a mixed fleet, for spreading a total NEV count over cells with
    the province segment mix (so cell energy = cell vehicles x rate conserves the province
    energy).

    Args:
        segment_counts: ``{segment: vehicles}`` of the area (e.g. the province in a year from
            :func:`evsiting.demand.fleet.project_fleet`).

    Returns:
        dict, kWh/day per vehicle of the mix: ``public_kwh_per_vehicle``,
        ``dc_kwh_per_vehicle``, ``ac_kwh_per_vehicle``, ``depot_kwh_per_vehicle``; and
        ``dc_share_of_public`` (fraction; 0 without public energy).

    Raises:
        InputError: no vehicles; as :func:`segment_energy`.
    """
    n = float(sum(segment_counts.values()))
    if n <= 0:
        raise InputError("the segment mix has no vehicles", field="segment")
    e = {k: float(np.sum(v)) for k, v in energy_of_counts({s: [c] for s, c in segment_counts.items()}, params).items()}
    return {
        "public_kwh_per_vehicle": e["public_kwh_day"] / n,
        "dc_kwh_per_vehicle": e["dc_kwh_day"] / n,
        "ac_kwh_per_vehicle": e["ac_kwh_day"] / n,
        "depot_kwh_per_vehicle": e["depot_kwh_day"] / n,
        "dc_share_of_public": e["dc_kwh_day"] / e["public_kwh_day"] if e["public_kwh_day"] > 0 else 0.0,
    }


def fleet_energy(fleet: pd.DataFrame, params: Parameters) -> pd.DataFrame:
    """Add daily energy columns to a fleet table.

    Args:
        fleet: :func:`evsiting.demand.fleet.project_fleet` output (columns ``year``,
            ``segment``, ``nev_stock``; ``total`` rows allowed).
        params: parameter table (with the scenario's values if any).

    Returns:
        A copy with :data:`ENERGY_COLUMNS` (kWh/day); ``total`` rows get the sum of their
        year's segment rows.

    Raises:
        InputError: missing columns, unknown segment.
    """
    need = {"year", "segment", "nev_stock"}
    if not need <= set(fleet.columns):
        raise InputError(f"missing column(s) {sorted(need - set(fleet.columns))}", field="fleet")
    out = fleet.copy()
    for c in ENERGY_COLUMNS:
        out[c] = 0.0
    seg_rows = out["segment"] != "total"
    for seg in out.loc[seg_rows, "segment"].unique():
        m = out["segment"] == seg
        e = segment_energy(out.loc[m, "nev_stock"].to_numpy(float), seg, params)
        for c in ENERGY_COLUMNS:
            out.loc[m, c] = e[c]
    sums = out[seg_rows].groupby("year")[list(ENERGY_COLUMNS)].sum()
    tot = ~seg_rows
    for c in ENERGY_COLUMNS:
        out.loc[tot, c] = out.loc[tot, "year"].map(sums[c]).fillna(0.0).to_numpy()
    return out


def province_demand(year: int, scenario: str = "base", params: Parameters | None = None,
                    fleet: FleetConfig | None = None) -> dict:
    """Everything the province run needs from the projection for one year and scenario.

    Args:
        year: calendar year (>= ``fleet.base_year``).
        scenario: ``low``, ``base`` or ``high``.
        params: parameter table with the run's overrides (default ``data/parameters.csv``);
            the scenario's values are applied here.
        fleet: the run's ``fleet`` config section.

    Returns:
        dict: ``nev_total`` (int, vehicles), ``segments`` ({segment: int vehicles}, summing
        to ``nev_total``), ``params`` (the scenario's :class:`Parameters`), and the
        :func:`blended_rates` of the whole mix (kWh/day per vehicle: ``public_kwh_per_vehicle``,
        ``dc_kwh_per_vehicle``, ``ac_kwh_per_vehicle``, ``depot_kwh_per_vehicle``;
        ``dc_share_of_public``). Spreading ``nev_total`` over cells and multiplying by the rates
        conserves the province's public and depot energy.

    Raises:
        InputError: as :func:`evsiting.demand.fleet.project_fleet`.
    """
    from evsiting.config.params import load_parameters

    params = params if params is not None else load_parameters()
    fleet = fleet or FleetConfig()
    df = project_fleet(scenario, [year], params, fleet)
    seg = {r.segment: int(r.nev_stock) for r in df.itertuples() if r.segment != "total"}
    total = int(df.loc[df["segment"] == "total", "nev_stock"].iloc[0])
    p = scenario_parameters(params, scenario, fleet)
    return {"nev_total": total, "segments": seg, "params": p, **blended_rates(seg, p)}
