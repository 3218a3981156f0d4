"""The port rule of every command (``run``, ``sweep``, ``plan``, ``compare``): what one DC /
AC port delivers a day, how many stations a candidate site may hold, and the ports already
installed at a site."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from evsiting.config.params import Parameters


def port_capacities(params: Parameters) -> tuple[float, float]:
    """kWh/day one DC / AC port delivers: charger power (kW) x full-power hours a day
    (parameters ``dc_charger_power_kw`` x ``dc_utilisation_hours``, ``ac_charger_power_kw`` x
    ``ac_utilisation_hours``). The one port rule of ``run``, ``sweep``, ``plan`` and ``compare``."""
    return (params.value("dc_charger_power_kw") * params.value("dc_utilisation_hours"),
            params.value("ac_charger_power_kw") * params.value("ac_utilisation_hours"))


def stations_per_site(candidates: gpd.GeoDataFrame | None, cells: gpd.GeoDataFrame, params: Parameters) -> np.ndarray:
    """(m,) stations each candidate site may hold.

    A demand-cell candidate (``site_id`` ``c-<demand_id>``) stands for its H3 cell, an area of
    a few km² with many car parks: it may hold ``cell_stations_factor`` x its own cell's energy
    / one station's capacity at the port maxima, rounded up, at least 1. A point from a file or
    OSM is one station. Source of the factor: parameter ``cell_stations_factor``.
    """
    if candidates is None or "demand_id" not in cells.columns:
        return np.ones(0 if candidates is None else len(candidates))
    cap_dc, cap_ac = port_capacities(params)
    station_kwh = params.value("site_max_dc_ports") * cap_dc + params.value("site_max_ac_ports") * cap_ac
    own = cells.set_index("demand_id")["energy_kwh_day"]
    ids = candidates["site_id"].astype(str)
    cell_e = ids.str.slice(2).map(own).where(ids.str.startswith("c-")).fillna(0.0).to_numpy(dtype=float)
    k = np.ceil(params.value("cell_stations_factor") * cell_e / max(station_kwh, 1e-9))
    return np.where(ids.str.startswith("c-").to_numpy(), np.maximum(k, 1.0), 1.0)


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
