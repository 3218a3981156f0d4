"""The province/prefecture run: data in -> demand -> candidates -> travel times -> model ->
sizing -> outputs. Each stage lives in its own module; this one only wires them together.

Everything is computed in memory first; the run folder is written at the end through
:func:`evsiting.outputs.atomic_dir`, so a failed or interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import __version__
from . import candidates as cand
from .areas import Prefecture, Prefectures, read_polygons, study_counties
from .config import RunConfig
from .demand import cells as dcells
from .demand.fleet import bus_fleet_by_prefecture
from .demand.segments import province_demand, segment_energy
from .errors import InputError
from .impedance import travel_time_matrix
from .inputs import check_output_folder, check_parameter_overrides, dropped_warning, read_points
from .layers import build_layers, write_layers
from .outputs import atomic_dir, check_replaceable, write_json
from .params import Parameters, load_parameters
from .settings import WGS84
from .references import compare_to_references
from .sizing import size_depots
from .stages.s5_model import ModelInputs, SolveOptions, _within, solve_model, travel_cutoff_min
from .stages.s6_sizing import size_solution


@dataclass
class RunResult:
    """What a run produced (also written to ``out_dir``)."""

    config: RunConfig
    cells: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    matrix: sp.csr_matrix
    summary: dict
    manifest: dict
    out_dir: Path | None = None
    timings: dict = field(default_factory=dict)


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def with_assigned_travel(sites: gpd.GeoDataFrame, cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``sites`` layer plus ``max_travel_min`` and ``mean_travel_min`` (minutes) of the cells
    assigned to each station (null where none), for the models that minimise travel."""
    alloc = cells[cells["station_id"].notna()]
    t = alloc.groupby(alloc["station_id"].astype(str))["travel_min"]
    ids = sites["site_id"].astype(str)
    out = sites.copy()
    out.insert(out.columns.get_loc("total_minutes"), "max_travel_min", ids.map(t.max().round(3)).to_numpy())
    out.insert(out.columns.get_loc("total_minutes"), "mean_travel_min", ids.map(t.mean().round(3)).to_numpy())
    return out


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "evsiting": __version__}
    for pkg in ("numpy", "pandas", "scipy", "geopandas", "shapely", "pyproj", "h3", "pulp", "highspy", "osmnx", "networkx", "pydantic"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def summarise(cells: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, prefectures: list[Prefecture]) -> dict:
    """Totals per prefecture and for the study area.

    Returns:
        dict with ``total`` and ``prefectures`` (list), each with ``nev_count``,
        ``energy_kwh_day``, ``stations``, ``ports_dc``, ``ports_ac``, ``power_kw``,
        ``nev_covered``, ``coverage_share`` (NEVs within the service standard of a station /
        NEVs), ``energy_served_kwh_day`` (of the cells assigned to a station),
        ``unserved_energy_kwh_day`` and
        ``nev_per_public_charger`` (NEVs / (DC + AC ports)).
    """
    def block(c: pd.DataFrame, s: pd.DataFrame) -> dict:
        nev = int(c["nev_count"].sum())
        covered = int(c.loc[c["covered"], "nev_count"].sum())
        energy = float(c["energy_kwh_day"].sum())
        served = float(c.loc[c["station_id"].notna(), "energy_kwh_day"].sum())
        ports = int(s["ports_dc"].sum() + s["ports_ac"].sum())
        return {
            "nev_count": nev,
            "energy_kwh_day": round(energy, 3),
            "stations": int(len(s)),
            "ports_dc": int(s["ports_dc"].sum()),
            "ports_ac": int(s["ports_ac"].sum()),
            "power_kw": float(s["power_kw"].sum()),
            "nev_covered": covered,
            "coverage_share": round(_ratio(covered, nev) or 0.0, 6),
            "energy_served_kwh_day": round(served, 3),
            "unserved_energy_kwh_day": round(energy - served, 3),
            "nev_per_public_charger": None if not ports else round(nev / ports, 3),
        }

    per = []
    for p in prefectures:
        c = cells[cells["prefecture_adcode"] == p.adcode]
        s = sites[sites["prefecture_adcode"] == p.adcode]
        per.append({"adcode": p.adcode, "name_zh": p.name_zh, "name_en": p.name_en, **block(c, s)})
    return {"total": block(cells, sites), "prefectures": per}


@dataclass
class Study:
    """The study area's inputs, read and checked: parameters (config overrides applied), the
    prefecture table and the chosen prefectures, counties (all 88 and the study's, WGS84), the
    county census and the county seats (converted to WGS84)."""

    params: Parameters
    prefectures: Prefectures
    chosen: list[Prefecture]
    counties_all: gpd.GeoDataFrame
    counties: gpd.GeoDataFrame
    census: dcells.CensusTables
    seats: gpd.GeoDataFrame


def load_study(cfg: RunConfig, prefecture: str | None = None) -> Study:
    """Read the data-in stage shared by the siting run and the build-out plan.

    Raises:
        InputError: bad parameter overrides, unknown prefecture, missing or malformed files.
    """
    params = load_parameters(cfg.path(cfg.data.parameters))
    check_parameter_overrides(params, cfg.parameters, "config")
    params = params.with_overrides(cfg.parameters, "config parameters")
    prefs = Prefectures.from_csv(cfg.path(cfg.data.prefecture_population))
    chosen = prefs.select(cfg.prefectures, prefecture)
    counties_all = study_counties(read_polygons(cfg.path(cfg.data.counties), ("district_adcode", "district_name", "city_adcode")), None)
    counties = counties_all[counties_all["prefecture_adcode"].isin([p.adcode for p in chosen])].reset_index(drop=True)
    census = dcells.read_census(cfg.path(cfg.data.county_population), cfg.path(cfg.data.urbanisation), cfg.path(cfg.data.household_cars))
    sf = cfg.data.county_seats
    seats = read_points(cfg.path(sf.path), crs=sf.crs, lon_column=sf.lon_column, lat_column=sf.lat_column, id_column=sf.id_column)
    return Study(params, prefs, chosen, counties_all, counties, census, seats)


def run(
    cfg: RunConfig,
    prefecture: str | None = None,
    out_base: Path | None = None,
    solver: str | None = None,
    time_limit: float | None = None,
    progress: Callable[[str], None] = lambda msg: None,
    write: bool = True,
) -> RunResult:
    """Run the whole pipeline for ``cfg`` (optionally one prefecture only) and write outputs.

    Args:
        cfg: validated run config.
        prefecture: restrict to this prefecture (English, pinyin, Chinese, adcode); its NEVs
            are its share of the province total.
        out_base: folder holding run folders (default ``cfg.output_dir``); the run writes
            ``<out_base>/<run-name>/``.
        solver, time_limit: override ``cfg.solver``.
        progress: called with a line of text at each stage.
        write: write the run folder (False for in-memory use in notebooks and tests).

    Returns:
        :class:`RunResult`.

    Raises:
        InputError: bad data or config (nothing is written).
        InfeasibleError, SolverError: from the model stage (nothing is written).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def stage(name: str, t_start: float, detail: str = "") -> float:
        now = time.perf_counter()
        timings[name] = round(now - t_start, 3)  # stable keys: the stage name only
        progress(f"  {name}{f' ({detail})' if detail else ''}: {now - t_start:.1f} s")
        return now

    # --- data in ---------------------------------------------------------------------
    if write:  # fail now, not after the long stages, when the outputs cannot be written
        check_output_folder(Path(out_base or cfg.path(cfg.output_dir)), "--out" if out_base else "output_dir")
    study = load_study(cfg, prefecture)
    params, prefs, chosen = study.params, study.prefectures, study.chosen
    counties_all, counties, census, seats = study.counties_all, study.counties, study.census, study.seats
    run_name = cfg.name if prefecture is None else f"{cfg.name}-{chosen[0].slug}"
    if write:  # never delete a folder that is not an earlier output of this run
        check_replaceable(Path(out_base or cfg.path(cfg.output_dir)) / run_name, "--out" if out_base else "output_dir")
    # User candidate files are read and checked here, before the long stages, so a bad file
    # fails in seconds; rows with empty coordinates are dropped with a warning.
    user_sites, input_notes = read_candidate_files(cfg, counties, counties_all, progress)
    # Building footprints for the cell weights (demand.building_weights), read here too.
    buildings, bw_info = read_building_weights(cfg, params, counties)
    t = stage("data", t0)

    # --- demand ----------------------------------------------------------------------
    fleet = province_demand(cfg.year, cfg.demand.scenario, params, cfg.fleet)
    params = fleet["params"]  # with the scenario's values applied
    nev_province = cfg.demand.nev_total or fleet["nev_total"]
    weights = dcells.county_weights(census, cfg.demand.weights)
    county_nevs = dcells.allocate_to_counties(nev_province, weights)
    cells = demand_cells(counties, county_nevs, census, seats, params, cfg.demand.h3_resolution, fleet, buildings, bw_info)
    if int(cells["nev_count"].sum()) == 0:
        raise InputError("the demand total of the study area is zero", source="config", field="demand.nev_total")
    t = stage("demand", t, f"{len(cells):,} cells, {int(cells['nev_count'].sum()):,} NEVs")

    # --- candidates ------------------------------------------------------------------
    parts = [cand.from_demand_cells(cells, cfg.candidates.per_county)] if cfg.candidates.from_demand_cells else []
    if cfg.network is not None and cfg.network.osm_candidates:
        parts.append(cand.from_osm(_osm_candidates(cfg, counties), counties))
    candidates = cand.combine(parts + user_sites)
    required = np.flatnonzero(candidates["required"].to_numpy())
    t = stage("candidates", t, f"{len(candidates):,}")

    # --- travel times ----------------------------------------------------------------
    standard = cfg.model.service_standard_min
    cutoff = travel_cutoff_min(cfg.model)
    demand_pts = dcells.demand_points(cells)
    # Road travel times whenever the config names a network (issue #3).
    method = "network" if cfg.network is not None else cfg.impedance.method
    road_net = _road_network(cfg, demand_pts, candidates) if write and method == "network" else None
    imp_options = {"config": cfg} if road_net is None else {"config": cfg, "graph": road_net}
    matrix, imp_info = travel_time_matrix(demand_pts, candidates, method, params, cutoff, **imp_options)
    t = stage("travel times", t, f"{matrix.nnz:,} pairs within {cutoff:g} min, {imp_info['method']}")

    # --- model -----------------------------------------------------------------------
    n_nev = int(cells["nev_count"].sum())
    solve_opts = SolveOptions(solver or cfg.solver.name, time_limit if time_limit is not None else cfg.solver.time_limit_s, cfg.solver.mip_gap)
    solution = solve_model(cfg.model, ModelInputs(cells, matrix, required, params), solve_opts)
    result = solution.result
    t = stage("model", t, solution.detail)

    # --- sizing ----------------------------------------------------------------------
    pref_names = {p.adcode: p.name_en for p in prefs.items}
    sized = size_solution(solution, cells, candidates, matrix, params, standard_min=standard,
                          county_names=counties.set_index("adcode")["name_zh"], prefecture_names=pref_names)
    cells, sites, idle_dropped = sized.cells, sized.sites, sized.idle_dropped
    max_dc, max_ac = params.value("site_max_dc_ports"), params.value("site_max_ac_ports")
    t = stage("sizing", t)

    summary = {
        "run": run_name,
        "year": cfg.year,
        "scenario": cfg.demand.scenario,
        "nev_province": int(nev_province),
        "nev_source": "config demand.nev_total" if cfg.demand.nev_total else f"fleet projection ({cfg.demand.scenario}, {cfg.year})",
        "model": result.model,
        "service_standard_min": standard,
        **solution.summary,
        "stations_without_demand_not_built": idle_dropped,
        # Share of NEVs within the standard of ANY candidate site: no p can cover more.
        "coverage_ceiling_share": round(float(cells["nev_count"].to_numpy()[_within(matrix, standard)].sum()) / max(n_nev, 1), 6),
        "stations_over_site_max": int(sites["over_site_max"].sum()),
        "site_max_ports": {"dc": max_dc, "ac": max_ac},
        **summarise(cells, sites, chosen),
    }
    summary["depots"] = _depots(cfg, params, chosen, nev_province, fleet)
    summary["building_weights"] = building_summary(bw_info)
    tot = summary["total"]
    refs = compare_to_references(tot["nev_count"], tot["ports_dc"], tot["ports_ac"])
    summary["reference_ratios"] = refs.to_dict(orient="records")
    # Capital cost of the stations (evsiting.costs; parameters site_cost, dc_port_cost, ac_port_cost)
    tot["cost_cny"] = round(float(sites["cost_cny"].sum()), 2)
    for blk in summary["prefectures"]:
        blk["cost_cny"] = round(float(sites.loc[sites["prefecture_adcode"] == blk["adcode"], "cost_cny"].sum()), 2)
    manifest = {
        "run": run_name,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": cfg.model_dump(mode="json"),
        "prefecture_option": prefecture,
        "study_prefectures": [p.adcode for p in chosen],
        "data_files": data_files(cfg, input_notes),
        "parameters": params.to_frame().to_dict(orient="records"),
        "impedance": imp_info,
        "building_weights": bw_info,
        "solver": {
            "name": result.solver,
            "status": result.status,
            "objective": result.objective,
            "bound": result.bound,
            "gap": result.gap,
            "runtime_s": result.runtime_s,
            "time_limit_s": time_limit if time_limit is not None else cfg.solver.time_limit_s,
        },
        "sizes": {"demand_cells": len(cells), "candidates": len(candidates), "matrix_pairs": int(matrix.nnz)},
        "timings_s": timings,
        "versions": _versions(),
    }
    out_dir = None
    if write:
        out_dir = Path(out_base or cfg.path(cfg.output_dir)) / run_name
        demand_out = cells[["demand_id", "h3", "county_adcode", "county_name", "prefecture_adcode", "area_km2", "nev_count", "energy_kwh_day", "energy_dc_kwh_day", "covered", "travel_min", "station_id", "geometry"]]
        # Map layers (evsiting.layers): sites = every candidate with its facility type,
        # allocation lines, service areas; each GeoJSON with its QGIS style, all in run.gpkg.
        snap = cfg.network.snap_limit_m if cfg.network is not None else 1000.0
        weight = getattr(cfg.model, "weight", "nev_count")
        layers = build_layers(cells, candidates, sites, matrix, standard, params, imp_info["method"], weight, pref_names, road_net, snap)
        if cfg.model.type in ("pmedian", "pcenter"):  # the trips these models minimise
            layers["sites"] = with_assigned_travel(layers["sites"], cells)
        layers = {"sites": layers["sites"], "demand": demand_out, "allocation": layers["allocation"], "service_areas": layers["service_areas"]}
        with atomic_dir(out_dir) as tmp:
            write_layers(tmp, layers)
            write_json(summary, tmp / "summary.json")
            manifest["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
            write_json(manifest, tmp / "manifest.json")
        stage("outputs", t)
    return RunResult(cfg, cells, candidates, sites, matrix, summary, manifest, out_dir, timings)


def _road_network(cfg: RunConfig, demand_pts: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame):
    """The prepared drive network of ``impedance.method: network``, loaded once here so that the
    travel times and the service-area isochrones (:mod:`evsiting.layers`) use the same graph;
    the area is the one :func:`evsiting.network.road.network_matrix` would load (convex hull
    of demand points and candidates, buffered by ``network.buffer_m``)."""
    import shapely

    from .network.road import prepare_graph
    from .network.sources import load_graph
    from .settings import PROJECTED_CRS

    ncfg = cfg.network
    if ncfg is None:
        return None  # network_matrix raises the config error
    both = list(demand_pts.geometry.to_crs(WGS84)) + list(candidates.geometry.to_crs(WGS84))
    area = shapely.MultiPoint(both).convex_hull
    G, info = load_graph(ncfg.source, area, ncfg.buffer_m, cfg.path(ncfg.path) if ncfg.path else None, cfg.path(ncfg.cache_dir), ncfg.geofabrik_url)
    return prepare_graph(G, PROJECTED_CRS, info=info)


def _osm_candidates(cfg: RunConfig, counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """OSM candidate features (fuel, parking, charging stations, malls, services, bus
    stations) of the study area from the configured network source."""
    from .network.candidates_osm import candidates_from_overpass, candidates_from_pbf
    from .network.sources import download_extract

    ncfg = cfg.network
    area = counties.geometry.union_all()
    if ncfg.source == "overpass":
        return candidates_from_overpass(area, cfg.path(ncfg.cache_dir))
    path = download_extract(ncfg.geofabrik_url, cfg.path(ncfg.cache_dir)) if ncfg.source == "geofabrik" else cfg.path(ncfg.path)
    if path.suffix.lower() != ".pbf":
        raise InputError("OSM candidate sites need an .osm.pbf file or the overpass source", source=path, field="network.osm_candidates")
    return candidates_from_pbf(path, area)



def read_candidate_files(cfg: RunConfig, counties: gpd.GeoDataFrame, counties_all: gpd.GeoDataFrame,
                         progress: Callable[[str], None] = lambda msg: None) -> tuple[list[gpd.GeoDataFrame], dict]:
    """Candidate sites from the config's ``candidates.files`` (planner CSV/GeoJSON lists).

    Each file is read with its declared CRS (GCJ-02/BD-09 converted to WGS84); rows with empty
    coordinates are dropped with a warning; sites in other prefectures of the province are
    skipped with a warning (a province-wide list serves every prefecture run), sites outside
    the province are an error. ``existing: true`` marks the file's sites ``required``; their
    ``source`` is the file's path as written in the config.

    Returns:
        (one GeoDataFrame of sites per file (EPSG:4326), notes per file path for the manifest).

    Raises:
        InputError: unreadable file, missing column, bad coordinates (file and field named).
    """
    user_sites, notes = [], {}
    for pf in cfg.candidates.files:
        path = cfg.path(pf.path)
        pts = read_points(path, crs=pf.crs, lon_column=pf.lon_column, lat_column=pf.lat_column, id_column=pf.id_column)
        if (msg := dropped_warning(pts, path)) is not None:
            progress(msg)
        notes[pf.path] = {"declared_crs": pts.attrs["declared_crs"], "dropped_empty_rows": pts.attrs["dropped_empty"]}
        sites_f = cand.from_points(pts, counties, str(path), pf.id_column, pf.name_column, region=counties_all)
        sites_f["required"] = pf.existing
        sites_f["source"] = pf.path  # as written in the config: the same output on every machine
        if sites_f.attrs["skipped_outside"]:
            progress(f"warning: {path}: {sites_f.attrs['skipped_outside']} site(s) in other prefectures skipped, {len(sites_f)} in the study area")
        notes[pf.path]["skipped_outside_study_area"] = sites_f.attrs["skipped_outside"]
        user_sites.append(sites_f)
    return user_sites, notes


def demand_cells(counties, county_nevs, census, seats, params: Parameters, h3_resolution: int, fleet: dict,
                 buildings: gpd.GeoDataFrame | None, bw_info: dict) -> gpd.GeoDataFrame:
    """:func:`evsiting.demand.cells.build_demand_cells`, weighted by ``buildings`` when given
    (from :func:`read_building_weights`); records the footprint area (m²) and the cells with
    buildings in ``bw_info``."""
    extra = {} if buildings is None else {"buildings": buildings, "building_share": bw_info["share"]}
    cells = dcells.build_demand_cells(counties, county_nevs, census, seats, params, h3_resolution, fleet, **extra)
    if buildings is not None:
        bw_info["footprint_area_m2"] = round(float(cells["building_area_m2"].sum()), 1)
        bw_info["cells_with_buildings"] = int((cells["building_area_m2"] > 0).sum())
    return cells


def building_summary(bw_info: dict) -> dict:
    """The summary's short ``building_weights`` entry (the manifest keeps all of ``bw_info``)."""
    keys = ("used", "share", "footprints", "footprint_area_m2", "cells_with_buildings")
    return {k: bw_info[k] for k in keys if k in bw_info}

def read_building_weights(cfg: RunConfig, params: Parameters, counties: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame | None, dict]:
    """Building footprints of ``demand.building_weights`` inside the study counties, and the
    manifest record (``used``; when used: ``source``, ``path``, ``resolved``, ``sha256``,
    ``crs``, ``share`` and its ``share_source``, ``footprints`` meeting the study area).

    Raises:
        InputError: no network PBF for ``source: network``, missing/unreadable file, no
            building polygon in the study area, share outside 0..1.
    """
    from .demand.buildings import building_share, read_buildings

    bw = cfg.demand.building_weights
    if bw is None:
        return None, {"used": False}
    share, share_source = building_share(params, bw.share)
    if bw.source == "network":
        ncfg = cfg.network
        if ncfg is None or ncfg.source == "overpass":
            raise InputError("source 'network' needs a network section with source 'file' (an .osm.pbf) or 'geofabrik'",
                             source="config", field="demand.building_weights.source")
        if ncfg.source == "geofabrik":
            from .network.sources import download_extract

            path, shown = download_extract(ncfg.geofabrik_url, cfg.path(ncfg.cache_dir)), ncfg.geofabrik_url
        else:
            path, shown = cfg.path(ncfg.path), ncfg.path
        if not path.name.lower().endswith(".pbf"):
            raise InputError("building weights from the network need an .osm.pbf network file", source=path, field="network.path")
    else:
        path, shown = cfg.path(bw.path), bw.path
    buildings = read_buildings(path, bw.crs, counties.geometry.union_all())
    info = {"used": True, "source": bw.source, "path": shown, "resolved": str(path), "sha256": sha256(path), "crs": bw.crs,
            "share": share, "share_source": share_source, "footprints": len(buildings)}
    return buildings, info


def _depots(cfg: RunConfig, params: Parameters, chosen: list[Prefecture], nev_province: int, fleet: dict) -> list[dict]:
    """Bus depots, a facility class of their own: NEV buses, depot energy and ports per
    prefecture (buses charge at depots, not at public stations)."""
    urb = pd.read_csv(cfg.path(cfg.data.urbanisation))
    buses = bus_fleet_by_prefecture(urb, params, cfg.year, cfg.fleet).set_index("adcode")
    scale = nev_province / fleet["nev_total"]  # when nev_total overrides the projection
    out = []
    for p in chosen:
        n = int(round(buses.loc[p.adcode, "nev_buses"] * scale))
        kwh = float(np.sum(segment_energy([n], "bus", params)["depot_kwh_day"]))
        sized = size_depots([kwh], params)
        out.append({"adcode": p.adcode, "name_en": p.name_en, "nev_buses": n, "depot_kwh_day": round(kwh, 3), "ports_depot": int(sized["ports_depot"][0]), "power_kw": float(sized["power_kw"][0])})
    return out


def data_files(cfg: RunConfig, notes: dict | None = None) -> list[dict]:
    """The manifest's list of input files: config path, resolved path and SHA-256 of every
    data file and candidate file, with each user file's declared CRS and reading notes."""
    d = cfg.data
    paths = [d.province, d.prefectures, d.counties, d.prefecture_population, d.county_population, d.urbanisation, d.household_cars, d.county_seats.path, d.parameters]
    paths += [f.path for f in cfg.candidates.files]
    out = []
    for p in paths:
        path = cfg.path(p)
        out.append({"path": p, "resolved": str(path), "sha256": sha256(path) if path.exists() else None})
    out[7]["declared_crs"] = d.county_seats.crs
    for entry, f in zip(out[len(out) - len(cfg.candidates.files):], cfg.candidates.files):
        entry.update((notes or {}).get(f.path, {"declared_crs": f.crs}))  # every user file's declared system
    return out
