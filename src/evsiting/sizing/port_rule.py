"""The port rule of every command (``run``, ``sweep``, ``plan``, ``compare``): what one DC /
AC port delivers a day, how many stations a candidate site may hold, the ports already
installed at a site, and the installed kW a station's grid connection allows."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from evsiting.config.params import Parameters
from evsiting.core.errors import InputError


def port_capacities(params: Parameters) -> tuple[float, float]:
    """kWh/day one DC / AC port delivers: charger power (kW) x full-power hours a day
    (parameters ``dc_charger_power_kw`` x ``dc_utilisation_hours``, ``ac_charger_power_kw`` x
    ``ac_utilisation_hours``). The one port rule of ``run``, ``sweep``, ``plan`` and ``compare``."""
    return (params.value("dc_charger_power_kw") * params.value("dc_utilisation_hours"),
            params.value("ac_charger_power_kw") * params.value("ac_utilisation_hours"))


def station_power_limit_kw(params: Parameters) -> float:
    """Installed kW one public station may hold on its grid connection: the rating of its
    distribution transformer x power factor / simultaneity (parameters
    ``station_transformer_kva``, ``station_power_factor``, ``station_simultaneity``; 920 kW
    with 800 kVA, 0.92 and 0.8).

    Raises:
        InputError: a non-positive value (the parameter is named).
    """
    names = ("station_transformer_kva", "station_power_factor", "station_simultaneity")
    kva, pf, sim = (float(params.value(n)) for n in names)
    if min(kva, pf, sim) <= 0:
        raise InputError("the station power limit needs positive station_transformer_kva, station_power_factor and "
                         "station_simultaneity", **params.blame(*names))
    return kva * pf / sim


def station_limits_kw(candidates: gpd.GeoDataFrame | None, m: int, params: Parameters) -> np.ndarray:
    """(m,) installed kW a station may hold at each candidate site: :func:`station_power_limit_kw`,
    or where a candidate file gives it (``max_kw_column`` -> column ``max_station_kw``, a hub
    with its own grid connection) that value; never below an existing station's installed kW
    (its ports stay)."""
    lim = np.full(m, station_power_limit_kw(params))
    if candidates is not None and "max_station_kw" in candidates.columns:
        own = candidates["max_station_kw"].to_numpy(dtype=float)
        lim = np.where(np.isfinite(own) & (own > 0), own, lim)
    ex_dc, ex_ac = existing_ports(candidates, m)
    installed = ex_dc * params.value("dc_charger_power_kw") + ex_ac * params.value("ac_charger_power_kw")
    return np.maximum(lim, installed)


def power_limit_kwargs(params: Parameters, candidates: gpd.GeoDataFrame | None, m: int) -> dict:
    """The per-station power limit as keyword arguments of
    :meth:`~evsiting.models.capacitated.CapacitatedSiting.from_cost_matrix`: ``dc_port_kw``,
    ``ac_port_kw`` (parameters ``dc_charger_power_kw``, ``ac_charger_power_kw``) and
    ``max_station_kw`` ((m,) kW, :func:`station_limits_kw`)."""
    return {"dc_port_kw": params.value("dc_charger_power_kw"), "ac_port_kw": params.value("ac_charger_power_kw"),
            "max_station_kw": station_limits_kw(candidates, m, params)}


def stations_per_site(candidates: gpd.GeoDataFrame | None, cells: gpd.GeoDataFrame, params: Parameters, *,
                      power_limit: bool = False) -> np.ndarray:
    """(m,) stations each candidate site may hold.

    A demand-cell candidate (``site_id`` ``c-<demand_id>``) stands for its H3 cell, an area of
    a few km² with many car parks: it may hold ``cell_stations_factor`` x its own cell's energy
    / one station's capacity at the port maxima, rounded up, at least 1. With ``power_limit``
    the cell may hold the same energy, split into stations within the grid connection of
    :func:`station_power_limit_kw`: those stations x one station's capacity at the port maxima
    / the energy of the limit at the ports' full-power hours, rounded up (4 for 1 with the
    defaults: 4,176 kWh/day / 1,224). The limit bounds each station, not what a cell's car
    parks hold, so it adds no candidate sites. A point from a file or OSM is one station.
    Source of the factor: parameter ``cell_stations_factor``.
    """
    if candidates is None or "demand_id" not in cells.columns:
        return np.ones(0 if candidates is None else len(candidates))
    cap_dc, cap_ac = port_capacities(params)
    station_kwh = params.value("site_max_dc_ports") * cap_dc + params.value("site_max_ac_ports") * cap_ac
    own = cells.set_index("demand_id")["energy_kwh_day"]
    ids = candidates["site_id"].astype(str)
    cell_e = ids.str.slice(2).map(own).where(ids.str.startswith("c-")).fillna(0.0).to_numpy(dtype=float)
    k = np.maximum(np.ceil(params.value("cell_stations_factor") * cell_e / max(station_kwh, 1e-9)), 1.0)
    if power_limit:  # the same energy in stations of at most the limit (every kW at the ports' full-power hours)
        hours = min(params.value("dc_utilisation_hours"), params.value("ac_utilisation_hours"))
        limited_kwh = min(station_kwh, station_power_limit_kw(params) * hours)
        k = np.ceil(k * station_kwh / max(limited_kwh, 1e-9) - 1e-9)
    return np.where(ids.str.startswith("c-").to_numpy(), k, 1.0)


def existing_ports(candidates: gpd.GeoDataFrame | None, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(m,) DC and AC ports already installed (columns ``existing_dc``/``existing_ac`` of the
    candidates, from a candidate file's ``dc_ports_column``/``ac_ports_column``; 0 when absent)."""
    out = []
    for col in ("existing_dc", "existing_ac"):
        if candidates is not None and col in candidates.columns:
            out.append(candidates[col].fillna(0).to_numpy(dtype=float))
        else:
            out.append(np.zeros(m))
    return out[0], out[1]
