"""Stage 7, outputs: the summary (totals per prefecture, depots, references, costs) and the
run folder's map layers (sites, demand, allocation, service areas; GeoJSON with QGIS styles
and run.gpkg)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from evsiting.study.areas import Prefecture
from evsiting.config.schema import FleetConfig
from ..demand.fleet import bus_fleet_by_prefecture
from ..demand.segments import segment_energy
from evsiting.report.layers import build_layers, write_layers
from evsiting.io.writers import write_json
from evsiting.config.params import Parameters
from evsiting.report.references import compare_to_references
from evsiting.report.reality import validate_summary
from evsiting.sizing.ports import size_depots

#: Columns of ``demand.geojson``.
DEMAND_COLUMNS = ["demand_id", "h3", "h3_resolution", "county_adcode", "county_name", "prefecture_adcode", "zone",
                  "standard", "standard_km", "standard_min", "area_km2", "population", "nev_count", "energy_kwh_day",
                  "energy_dc_kwh_day", "covered", "assigned_station_id", "assigned_min", "nearest_open_station_id",
                  "nearest_open_min", "nearest_open_crow_km", "geometry"]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def summarise(cells: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, prefectures: list[Prefecture]) -> dict:
    """Totals per prefecture and for the study area.

    Returns:
        dict with ``total`` and ``prefectures`` (list), each with ``nev_count``,
        ``energy_kwh_day``, ``stations``, ``ports_dc``, ``ports_ac``, ``power_kw``,
        ``nev_covered``, ``coverage_share`` (NEVs within the service standard of a station /
        NEVs), ``energy_served_kwh_day`` (of the cells assigned to a station),
        ``unserved_energy_kwh_day`` and ``nev_per_public_charger`` (NEVs / (DC + AC ports));
        ``energy_served_in_other_prefectures_kwh_day`` (of the block's cells, at stations
        across a prefecture border) and ``energy_served_for_other_prefectures_kwh_day`` (by the
        block's stations, for cells across a border; both 0 in a one-prefecture run);
        with installed ports from a candidate file also ``existing_stations``,
        ``ports_dc_existing``/``ports_ac_existing`` and ``ports_dc_added``/``ports_ac_added``.
    """
    def block(c: pd.DataFrame, s: pd.DataFrame) -> dict:
        nev = int(c["nev_count"].sum())
        covered = int(c.loc[c["covered"], "nev_count"].sum())
        energy = float(c["energy_kwh_day"].sum())
        # energy served: the model's flows when it splits cells (capacitated), else assigned cells
        served = float(c["served_kwh_day"].sum()) if "served_kwh_day" in c.columns else float(c.loc[c["station_id"].notna(), "energy_kwh_day"].sum())
        ports = int(s["ports_dc"].sum() + s["ports_ac"].sum())
        out = {
            "nev_count": nev,
            "energy_kwh_day": round(energy, 3),
            "stations": int(s["stations"].sum()) if "stations" in s.columns else int(len(s)),
            "sites": int(len(s)),
            "ports_dc": int(s["ports_dc"].sum()),
            "ports_ac": int(s["ports_ac"].sum()),
            "power_kw": float(s["power_kw"].sum()),
            "nev_covered": covered,
            "coverage_share": round(_ratio(covered, nev) or 0.0, 6),
            "energy_served_kwh_day": round(served, 3),
            "unserved_energy_kwh_day": round(energy - served, 3),
            "nev_per_public_charger": None if not ports else round(nev / ports, 3),
        }
        if "energy_served_across_border_kwh_day" in c.columns:  # service across prefecture borders
            out["energy_served_in_other_prefectures_kwh_day"] = round(float(c["energy_served_across_border_kwh_day"].sum()), 3)
            out["energy_served_for_other_prefectures_kwh_day"] = round(float(s["energy_from_other_prefectures_kwh_day"].sum()), 3)
        if "ports_dc_existing" in s.columns:  # a candidate file gave installed ports
            ex = (s["ports_dc_existing"] + s["ports_ac_existing"]) > 0
            out.update({"existing_stations": int(ex.sum()),
                        "ports_dc_existing": int(s["ports_dc_existing"].sum()),
                        "ports_ac_existing": int(s["ports_ac_existing"].sum()),
                        "ports_dc_added": int(s["ports_dc_added"].sum()),
                        "ports_ac_added": int(s["ports_ac_added"].sum())})
        return out

    per = []
    for p in prefectures:
        c = cells[cells["prefecture_adcode"] == p.adcode]
        s = sites[sites["prefecture_adcode"] == p.adcode]
        per.append({"adcode": p.adcode, "name_zh": p.name_zh, "name_en": p.name_en, **block(c, s)})
    return {"total": block(cells, sites), "prefectures": per}


def add_costs_and_references(summary: dict, sites: gpd.GeoDataFrame) -> dict:
    """Add ``reference_ratios``, ``validation`` (the run beside observed figures) and the stations' capital cost (CNY) to the total and to
    each prefecture of ``summary`` (in place; returned)."""
    tot = summary["total"]
    refs = compare_to_references(tot["nev_count"], tot["ports_dc"], tot["ports_ac"])
    summary["reference_ratios"] = refs.to_dict(orient="records")
    summary["validation"] = validate_summary(tot)  # beside observed figures (evsiting.report.reality)
    tot["cost_cny"] = round(float(sites["cost_cny"].sum()), 2)
    for blk in summary["prefectures"]:
        blk["cost_cny"] = round(float(sites.loc[sites["prefecture_adcode"] == blk["adcode"], "cost_cny"].sum()), 2)
    return summary


def depots(urbanisation: Path, params: Parameters, chosen: list[Prefecture], *, year: int, fleet_block: FleetConfig,
           nev_province: int, fleet: dict) -> list[dict]:
    """Bus depots, a facility class of their own: NEV buses in ``year`` (from the census table
    ``urbanisation`` and the config's ``fleet`` block), depot energy and ports per prefecture
    (buses charge at depots, not at public stations); ``fleet``: the province projection."""
    urb = pd.read_csv(urbanisation)
    buses = bus_fleet_by_prefecture(urb, params, year, fleet_block).set_index("adcode")
    scale = nev_province / fleet["nev_total"]  # when nev_total overrides the projection
    out = []
    for p in chosen:
        n = int(round(buses.loc[p.adcode, "nev_buses"] * scale))
        kwh = float(np.sum(segment_energy([n], "bus", params)["depot_kwh_day"]))
        sized = size_depots([kwh], params)
        out.append({"adcode": p.adcode, "name_en": p.name_en, "nev_buses": n, "depot_kwh_day": round(kwh, 3), "ports_depot": int(sized["ports_depot"][0]), "power_kw": float(sized["power_kw"][0])})
    return out


def with_assigned_travel(sites: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, weight: str = "nev_count") -> gpd.GeoDataFrame:
    """``sites`` layer plus ``max_travel_min`` and ``mean_travel_min`` (minutes, null where
    none) of the demand points assigned to each station, for the models that minimise travel.

    Only cells with a positive ``weight`` (NEVs by default) are demand points: p-median and
    p-center leave cells without NEVs out of their objectives, so the longest trip here equals
    p-center's objective; the mean is weighted by ``weight``, as p-median's objective is."""
    w = cells[weight].astype(float) if weight in cells.columns else pd.Series(1.0, index=cells.index)
    alloc = cells[cells["station_id"].notna() & (w > 0)]
    key = alloc["station_id"].astype(str)
    t = alloc["travel_min"].astype(float)
    wa = w.loc[alloc.index]
    longest = t.groupby(key).max()
    mean = (t * wa).groupby(key).sum() / wa.groupby(key).sum()
    ids = sites["site_id"].astype(str)
    out = sites.copy()
    out.insert(out.columns.get_loc("total_minutes"), "max_travel_min", ids.map(longest.round(3)).to_numpy())
    out.insert(out.columns.get_loc("total_minutes"), "mean_travel_min", ids.map(mean.round(3)).to_numpy())
    return out


def run_layers(block, cells, candidates, sites, travel, *, params: Parameters, prefecture_names, graph,
               snap_limit_m: float = 1000.0) -> dict:
    """The run's map layers: sites (every candidate with its facility type), demand,
    allocation lines and service areas (WGS84 GeoDataFrames) of the model block ``block``;
    ``snap_limit_m``: the network section's snap limit (metres)."""
    weight = getattr(block, "weight", "nev_count")
    snap = snap_limit_m
    standard = cells["standard_min"].to_numpy(dtype=float) if "standard_min" in cells.columns else block.service_standard_min
    if np.ndim(standard) and np.unique(standard).size == 1:  # one standard for all: the station's own buffer or isochrone
        standard = float(standard[0])
    lay = build_layers(cells, candidates, sites, travel.matrix, standard, params=params, impedance_method=travel.info["method"], weight=weight, prefecture_names=prefecture_names, network=graph, snap_limit_m=snap)
    if block.type in ("pmedian", "pcenter"):  # the trips these models minimise
        lay["sites"] = with_assigned_travel(lay["sites"], cells, weight)
    return {"sites": lay["sites"], "demand": cells[[c for c in DEMAND_COLUMNS if c in cells.columns]], "allocation": lay["allocation"], "service_areas": lay["service_areas"]}


def write_tables(folder: Path, layers: dict, summary: dict) -> list[Path]:
    """``stations.csv`` (one row per station, :data:`evsiting.report.tables.STATION_COLUMNS`;
    lon/lat WGS84) and ``counties.csv`` (``summary["counties"]``) into ``folder``, UTF-8 with a
    byte-order mark so that Excel shows the Chinese names; nothing when the run has neither."""
    from evsiting.report.tables import COUNTY_COLUMNS, STATION_COLUMNS

    out = []
    if "stations" in layers:
        layers["stations"][STATION_COLUMNS].to_csv(folder / "stations.csv", index=False, lineterminator="\n", encoding="utf-8-sig")
        out.append(folder / "stations.csv")
    if summary.get("counties") is not None:
        pd.DataFrame(summary["counties"], columns=COUNTY_COLUMNS).to_csv(folder / "counties.csv", index=False, lineterminator="\n",
                                                                         encoding="utf-8-sig")
        out.append(folder / "counties.csv")
    return out


def write_run_files(folder: Path, layers: dict, summary: dict, manifest: dict | None = None) -> None:
    """The layers (GeoJSON + styles + run.gpkg), ``summary.json``, ``map.png`` and
    ``report.html`` (:mod:`evsiting.report.html`) into ``folder``."""
    from evsiting.report.warnings import run_warnings
    from evsiting.report.html import write_run_report

    write_layers(folder, layers)
    write_json(summary, folder / "summary.json")
    write_tables(folder, layers, summary)
    write_run_report(folder, summary, manifest, layers["sites"], layers["demand"], warnings=run_warnings(summary),
                     stations=layers.get("stations"))
