"""Stage 6, sizing: the one place where a model's solution becomes energy, ports, pruning and
cost.

Each demand cell goes to its station (the model's assignment, or the nearest open station
within the travel-time matrix, ties to the lower candidate index); a station's public energy
(kWh/day) is the sum over its cells. An open station that serves no cell is not built
(required ones stay). Ports: the model's when it sizes stations (capacitated), else
:func:`evsiting.sizing.ports.size_stations` (energy, then the Erlang-C peak-hour check of DC ports).
Cost: :func:`evsiting.sizing.costs.station_cost` (CNY).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import geopandas as gpd
import numpy as np
import scipy.sparse as sp

from evsiting.sizing.costs import station_cost
from ..models._core import assigned_costs, nearest_assignment
from evsiting.config.params import Parameters
from evsiting.sizing.ports import dc_peak_performance, dc_peak_ports, size_stations
from .s5_model import Solution


@dataclass(frozen=True)
class Sized:
    """Cells with their station and the built stations.

    Attributes:
        cells: demand cells plus ``covered`` (bool: a station within the service standard),
            ``travel_min`` (minutes to the station, NaN when none) and ``station_id`` (or None),
            the same two as ``assigned_min``/``assigned_station_id`` (the model's assignment;
            a cell split between stations by the capacitated model: its largest share), and
            the nearest built station whatever the model assigned: ``nearest_open_station_id``,
            ``nearest_open_min`` (minutes) and ``nearest_open_crow_km`` (straight line from the
            demand point, km), all empty when no built station is within the travel-time
            matrix's cutoff (:func:`nearest_open`).
        sites: the built stations (candidate rows) with ``prefecture``, ``county``, ``adcode``,
            ``ports_dc``, ``ports_ac``, ``power_kw`` (kW), ``ports_dc_peak``,
            ``dc_peak_wait_min``, ``demand_served_kwh_day``, ``over_site_max``, ``nev_served``,
            ``cost_cny`` (CNY).
        idle_dropped: open stations not built because they serve no cell.
    """

    cells: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    idle_dropped: int


def assign_cells(matrix: sp.csr_matrix, selected: np.ndarray, assignment: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(assignment, minutes) of every cell: ``assignment`` when given, else the nearest
    ``selected`` candidate within the matrix (ties: lower index); -1 / NaN when none."""
    if assignment is None:
        assignment = nearest_assignment(matrix, np.asarray(selected, dtype=np.int64))
    return assignment, assigned_costs(matrix, assignment)


def station_energy(cells: gpd.GeoDataFrame, assignment: np.ndarray, n_candidates: int) -> dict[str, np.ndarray]:
    """Per candidate (m,): ``energy`` and ``energy_dc`` (kWh/day) and ``nev`` of its cells."""
    ok = assignment >= 0

    def per(col: str) -> np.ndarray:
        return np.bincount(assignment[ok], weights=cells[col].to_numpy()[ok], minlength=n_candidates)

    return {"energy": per("energy_kwh_day"), "energy_dc": per("energy_dc_kwh_day"), "nev": per("nev_count")}


def flow_energy(cells: gpd.GeoDataFrame, flows: sp.csr_matrix) -> dict[str, np.ndarray]:
    """Per candidate (m,): ``energy``, ``energy_dc`` (kWh/day) and ``nev`` served there when
    cells are split between stations (``flows``: csr (n, m) kWh/day); a cell's DC share and
    NEVs go with its energy in proportion."""
    e = cells["energy_kwh_day"].to_numpy(dtype=float)
    frac = sp.diags(np.divide(1.0, e, out=np.zeros_like(e), where=e > 0)) @ flows
    return {"energy": np.asarray(flows.sum(axis=0)).ravel(),
            "energy_dc": np.asarray((sp.diags(cells["energy_dc_kwh_day"].to_numpy(dtype=float)) @ frac).sum(axis=0)).ravel(),
            "nev": np.asarray((sp.diags(cells["nev_count"].to_numpy(dtype=float)) @ frac).sum(axis=0)).ravel()}


def size_solution(solution: Solution, cells: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, matrix: sp.csr_matrix,
                  params: Parameters, *, standard_min: float | np.ndarray, county_names: Mapping[int, str],
                  prefecture_names: Mapping[int, str]) -> Sized:
    """Turn ``solution`` into built, sized and costed stations (see module doc).

    Args:
        cells: demand cells (n,) with ``nev_count``, ``energy_kwh_day``, ``energy_dc_kwh_day``.
        candidates: (m,) candidate sites with ``site_id``, ``required``, adcodes.
        matrix: csr (n, m) travel minutes.
        standard_min: service standard, minutes (``covered``): one value or each cell's own (n,).
        county_names, prefecture_names: adcode -> name for the ``county``/``prefecture`` columns.
    """
    selected = np.asarray(solution.selected, dtype=np.int64)
    required = np.flatnonzero(candidates["required"].to_numpy())
    assign, minutes = assign_cells(matrix, selected, solution.assignment)
    cells = cells.copy()
    cells["covered"] = (assign >= 0) & (minutes <= standard_min)
    cells["travel_min"] = minutes
    cells["station_id"] = np.where(assign >= 0, candidates["site_id"].to_numpy()[np.maximum(assign, 0)], None)
    per = station_energy(cells, assign, len(candidates)) if solution.flows is None else flow_energy(cells, solution.flows)
    if solution.flows is not None:
        cells["served_kwh_day"] = np.asarray(solution.flows.sum(axis=1)).ravel()
    # An open station that is nobody's station serves no energy, so it is not built either
    # (assignments are unchanged).
    keep = (per["nev"][selected] > 1e-9) | np.isin(selected, required)
    idle_dropped = int((~keep).sum())
    selected = selected[keep]
    energy = per["energy"][selected]
    energy_dc = np.minimum(per["energy_dc"][selected], energy)
    sized = _ports(solution, selected, energy, energy_dc, params)
    sites = candidates.iloc[selected].copy().reset_index(drop=True)
    sites.insert(1, "prefecture", sites["prefecture_adcode"].map(prefecture_names))
    sites.insert(2, "county", sites["county_adcode"].map(county_names))
    sites["adcode"] = sites["county_adcode"]
    sites["ports_dc"] = sized["ports_dc"]
    sites["ports_ac"] = sized["ports_ac"]
    sites["power_kw"] = sized["power_kw"].astype(float)
    sites["ports_dc_peak"] = sized["ports_dc_peak"]
    sites["dc_peak_wait_min"] = np.round(sized["dc_peak_wait_min"], 3)
    sites["demand_served_kwh_day"] = np.round(energy, 3)
    # A site may hold several stations (capacitated: a demand cell of a few km²); each holds at
    # most the port maxima. Only the capacitated model bounds ports: flag the others' excess.
    stations = np.ones(len(selected), dtype=np.int64) if solution.stations is None else np.asarray(solution.stations, dtype=np.int64)[selected]
    sites["stations"] = stations
    if solution.existing is not None:
        sites["ports_dc_existing"] = np.asarray(solution.existing[0], dtype=np.int64)[selected]
        sites["ports_ac_existing"] = np.asarray(solution.existing[1], dtype=np.int64)[selected]
        sites["ports_dc_added"] = sites["ports_dc"] - sites["ports_dc_existing"]
        sites["ports_ac_added"] = sites["ports_ac"] - sites["ports_ac_existing"]
    max_dc, max_ac = params.value("site_max_dc_ports"), params.value("site_max_ac_ports")
    sites["over_site_max"] = (sites["ports_dc"] > max_dc * stations) | (sites["ports_ac"] > max_ac * stations)
    sites["nev_served"] = np.round(per["nev"][selected]).astype(np.int64)
    if solution.existing is None:
        cost = station_cost(sites["ports_dc"], sites["ports_ac"], params) + (stations - 1) * params.value("site_cost")
    else:  # existing stations cost nothing but their added ports
        is_new = (sites["ports_dc_existing"] + sites["ports_ac_existing"]).to_numpy() == 0
        cost = (np.where(is_new, stations, 0) * params.value("site_cost") + sites["ports_dc_added"] * params.value("dc_port_cost")
                + sites["ports_ac_added"] * params.value("ac_port_cost"))
    sites["cost_cny"] = np.round(np.asarray(cost, dtype=float), 2)
    cells["energy_served_across_border_kwh_day"], sites["energy_from_other_prefectures_kwh_day"] = cross_border(
        cells, candidates, assign, solution.flows, selected)
    cells["assigned_station_id"] = cells["station_id"]
    cells["assigned_min"] = cells["travel_min"]
    near = nearest_open(matrix, selected, candidates, cells)
    for col, values in near.items():
        cells[col] = values
    return Sized(cells, sites, idle_dropped)


def cross_border(cells: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, assignment: np.ndarray, flows: sp.csr_matrix | None,
                 built: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Service across prefecture borders: energy of each cell served at a station in another
    prefecture, and energy each built station serves for cells of other prefectures (kWh/day).
    A run over one prefecture has none by construction (its cells and candidates lie inside it);
    over several, a station may serve a neighbour's cells, which is why a prefecture's part of a
    province run differs from its own run.

    Args:
        cells: (n,) with ``prefecture_adcode`` and ``energy_kwh_day``.
        candidates: (m,) with ``prefecture_adcode``.
        assignment: (n,) candidate of each cell or -1 (used when ``flows`` is None).
        flows: csr (n, m) kWh/day per cell and candidate (a model that splits cells), or None.
        built: (k,) indices of the built stations.

    Returns:
        (array (n,) kWh/day per cell, array (k,) kWh/day per built station).
    """
    pc = cells["prefecture_adcode"].to_numpy()
    ps = candidates["prefecture_adcode"].to_numpy()
    if flows is not None:
        f = flows.tocoo()
        i, j, e = f.row, f.col, f.data.astype(float)
    else:
        i = np.flatnonzero(assignment >= 0)
        j = assignment[i]
        e = cells["energy_kwh_day"].to_numpy(dtype=float)[i]
    across = pc[i] != ps[j]
    per_cell = np.bincount(i[across], weights=e[across], minlength=len(pc))
    per_site = np.bincount(j[across], weights=e[across], minlength=len(ps))
    return np.round(per_cell, 3), np.round(per_site[np.asarray(built, dtype=np.int64)], 3)


def nearest_open(matrix: sp.csr_matrix, built: np.ndarray, candidates: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> dict[str, np.ndarray]:
    """For each cell, the nearest built station by travel time, whatever the model assigned
    (a capacitated model may send a cell past a full station; p-median may not open the
    nearest site): what a driver sees from the cell.

    Args:
        matrix: csr (n, m) travel minutes (only pairs within its cutoff are present).
        built: int indices (k,) of the built stations among the m candidates.
        candidates: (m,) with ``site_id`` and point geometry (any CRS).
        cells: (n,) with ``lon``/``lat`` (WGS84 degrees) of the demand points.

    Returns:
        dict of arrays (n,): ``nearest_open_station_id`` (None when no built station is within the
        matrix), ``nearest_open_min`` (minutes, NaN then) and ``nearest_open_crow_km``
        (great-circle km on the WGS84 ellipsoid from the demand point to that station, NaN then).
        Ties: the lower candidate index.
    """
    import pyproj

    j = nearest_assignment(matrix, np.asarray(built, dtype=np.int64))
    minutes = assigned_costs(matrix, j)
    ok = j >= 0
    ids = np.where(ok, candidates["site_id"].to_numpy()[np.maximum(j, 0)], None)
    km = np.full(len(j), np.nan)
    if ok.any():
        pts = candidates.geometry.to_crs("EPSG:4326")
        lon_s, lat_s = pts.x.to_numpy()[j[ok]], pts.y.to_numpy()[j[ok]]
        _, _, dist = pyproj.Geod(ellps="WGS84").inv(cells["lon"].to_numpy(float)[ok], cells["lat"].to_numpy(float)[ok], lon_s, lat_s)
        km[ok] = np.round(np.asarray(dist) / 1000.0, 3)
    return {"nearest_open_station_id": ids, "nearest_open_min": minutes, "nearest_open_crow_km": km}


def _ports(solution: Solution, selected: np.ndarray, energy: np.ndarray, energy_dc: np.ndarray, params: Parameters) -> dict:
    """Ports of the built stations: :func:`size_stations` with the peak check, or the model's
    ports with the peak-hour count and wait reported for them."""
    if solution.ports is None:
        return size_stations(energy, params, dc_energy_kwh_day=energy_dc, peak_check=True)
    dc = np.asarray(solution.ports[0], dtype=np.int64)[selected]
    ac = np.asarray(solution.ports[1], dtype=np.int64)[selected]
    peak = dc_peak_ports(energy_dc, params)
    wait = dc_peak_performance(dc, peak["arrivals_per_h"], peak["service_min"])["wait_min"]
    power = dc * params.value("dc_charger_power_kw") + ac * params.value("ac_charger_power_kw")
    return {"ports_dc": dc, "ports_ac": ac, "power_kw": power, "ports_dc_peak": peak["ports"], "dc_peak_wait_min": wait}
