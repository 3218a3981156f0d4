"""``evsiting corridors``: can an EV drive between the seats of Guizhou? Gravity flows between
prefecture (or county) seats, shortest paths on the OSM expressways, and the FRLM with p
corridor stations and a vehicle range, exact (pulp) and greedy.

Outputs in ``<out>/<config name>-corridors/`` (written atomically, no timestamps):

- ``corridor_sites.geojson``: the p stations of the exact solution (Points): ``candidate``,
  ``kind`` (``expressway_access``, ``services`` or ``seat``), ``node``, ``seat_id``, ``name`` (the seat,
  the service area, else expressway route and km along the OSM line, e.g. ``G60 km 123``),
  ``flow_through`` (flow of refuelable trips passing it), ``in_greedy``;
- ``corridor_flows.geojson``: one LineString per seat pair: ``origin_id``, ``origin``,
  ``destination_id``, ``destination``, ``population_o``/``_d``, ``distance_km``, ``flow``,
  ``flow_share``, ``max_leg_km`` (longest gap between consecutive candidate stops),
  ``refuelable`` (exact solution), ``refuelable_greedy``, ``refuelable_all_open``;
- ``corridor_summary.json``: p, range, beta, level, covered flow share of the exact and
  greedy solutions and with every candidate open, solver status/bound/gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from evsiting.core.errors import blames_config
from evsiting.config.inputs import ResolvedInputs
from evsiting.config.schema import PointFile, RunConfig
from evsiting.core.errors import InputError
from evsiting.network.expressway import expressway_network_for
from evsiting.io.writers import write_geojson, write_json
from evsiting.core.settings import PROJECTED_CRS, WGS84
from evsiting.stages.context import RunContext
from evsiting.stages.s1_study import file_record
from evsiting.corridors.flows import county_seats, gravity_flows, prefecture_seats
from evsiting.models.frlm import FRLM, FRLMResult
from evsiting.corridors.paths import build_paths, corridor_graph, od_paths, path_lines


def _service_areas(pf: PointFile | None, path: Path | None) -> gpd.GeoDataFrame | None:
    """Service areas from ``corridors.services_file`` (``pf``, read at its resolved ``path``;
    any point file; e.g. OSM ``highway=services`` exported by ``evsiting network``), or None.

    Raises:
        InputError: as :func:`evsiting.io.points.read_points`.
    """
    from evsiting.io.points import read_points

    if pf is None:
        return None
    pts = read_points(path, crs=pf.crs, lon_column=pf.lon_column, lat_column=pf.lat_column, id_column=pf.id_column)
    if pf.name_column and pf.name_column not in pts.columns:
        raise InputError("missing column", source=path, field=pf.name_column)
    pts.attrs["name_column"] = pf.name_column
    return pts.reset_index(drop=True)


def _svc_name(services: gpd.GeoDataFrame | None, k: int) -> str | None:
    if services is None or k < 0:
        return None
    col = services.attrs.get("name_column")
    val = services[col].iloc[k] if col else None
    return None if val is None or (isinstance(val, float) and np.isnan(val)) else str(val)


def expressway_labels(xy_m: np.ndarray, motorways: str | Path) -> list[str]:
    """A label for points on the expressways: the route of the nearest motorway line (its
    OSM ``ref``, e.g. ``G60``, else its name) and the kilometre along that line from its first
    vertex, e.g. ``G60 km 123``. The file's lines are merged OSM ways, so the kilometre is a
    position along the file's line, not the official stake number.

    Args:
        xy_m: (n, 2) points in EPSG:32648 (metres).
        motorways: the motorway line file (as :func:`evsiting.network.expressway.load_motorway_lines`).

    Returns:
        n labels.

    Raises:
        InputError: the file cannot be read (as ``load_motorway_lines``).
    """
    from evsiting.network.expressway import load_motorway_lines

    if len(xy_m) == 0:
        return []
    lines = load_motorway_lines(motorways)
    pts = shapely.points(np.asarray(xy_m, dtype=float).reshape(-1, 2))
    nearest = shapely.STRtree(lines.geometry.values).nearest(pts)
    geoms = lines.geometry.values[nearest]
    km = shapely.line_locate_point(geoms, pts) / 1000.0
    return [f"{route} km {k:.0f}" for route, k in zip(lines["route"].to_numpy()[nearest], km)]


def _site_names(sel, xy, seat_names, cand_seat, cand_service, *, services, motorways) -> list[str]:
    """Names of the chosen corridor stations: the seat's name, the service area's name, else
    the expressway route and kilometre (:func:`expressway_labels`)."""
    names = [str(seat_names[cand_seat[c]]) if cand_seat[c] >= 0 else _svc_name(services, cand_service[c]) for c in sel]
    todo = [k for k, n in enumerate(names) if not n]
    for k, label in zip(todo, expressway_labels(xy[todo], motorways) if todo else []):
        names[k] = label
    return names


@dataclass
class CorridorResult:
    """What :func:`run_corridors` produced (also written to ``out_dir``)."""

    seats: gpd.GeoDataFrame
    flows: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    exact: FRLMResult
    greedy: FRLMResult
    summary: dict
    out_dir: Path | None = None
    model: FRLM | None = None
    flow_index: np.ndarray | None = None  # pair index (row of ``flows``) of each model path


@dataclass
class _Solved:
    """The FRLM of a corridor run and its solutions: the paths of every seat pair (None:
    unreachable), the candidates (their graph node, seat and service area; -1: none), the
    reachable pairs ``qs``, the exact and greedy solutions, where the exact one came from and
    the pairs refuelable with every candidate open."""

    paths: list
    cand_node: np.ndarray
    cand_seat: np.ndarray
    cand_service: np.ndarray
    reachable: np.ndarray
    qs: np.ndarray
    model: FRLM
    greedy: FRLMResult
    exact: FRLMResult
    source: str
    all_open: np.ndarray


def _solve_frlm(cg, od, flow: np.ndarray, *, p: int, range_km: float, seat_candidates: bool, solver: str,
                time_limit: float | None, mip_gap: float | None, progress: Callable[[str], None]) -> _Solved:
    """Paths, candidates and the FRLM with ``p`` stations and a range of ``range_km`` km,
    greedy then exact (greedy as MIP start); the greedy stations when the solver stopped with
    a worse incumbent (feasible, not proven).

    Raises:
        InputError: ``p`` above the number of candidate sites. SolverError: as :meth:`FRLM.solve`.
    """
    paths, cand_node, cand_seat, cand_service = build_paths(cg, od, seat_candidates)
    reachable = np.array([q is not None for q in paths])
    qs = np.flatnonzero(reachable)
    t_paths = time.perf_counter()
    model = FRLM([paths[q] for q in qs], flow[qs], len(cand_node), range_km)
    t_model = time.perf_counter()
    if p > len(cand_node):
        raise InputError(f"p = {p} stations but only {len(cand_node)} candidate sites", field="corridors.p")
    greedy = model.greedy(p)
    t_greedy = time.perf_counter()
    exact = model.solve(p, solver=solver, time_limit=time_limit, mip_gap=mip_gap, start=greedy.selected)
    source = "solver"
    if greedy.covered_flow > exact.covered_flow + 1e-9:
        # the solver stopped (time limit) with a worse incumbent: report the greedy stations,
        # still with the solver's bound, as a feasible (not proven) solution
        exact = FRLMResult("exact", "feasible", greedy.selected, greedy.refuelable, greedy.covered_flow, greedy.total_flow,
                           bound=exact.bound, gap=(exact.bound - greedy.covered_flow) / max(greedy.covered_flow, 1e-10),
                           runtime_s=exact.runtime_s, solver=exact.solver)
        source = "greedy (the solver's incumbent at its time limit covered less)"
    progress(f"  model {t_model - t_paths:.1f} s, greedy {t_greedy - t_model:.1f} s, exact (greedy as MIP start) {time.perf_counter() - t_greedy:.1f} s")
    all_open = model.refuelable(np.ones(len(cand_node), dtype=bool))
    progress(f"  FRLM p={p}, range {range_km:g} km: exact {exact.covered_share:.1%} ({exact.status}), greedy {greedy.covered_share:.1%}, all open {flow[qs][all_open].sum() / max(flow.sum(), 1e-300):.1%}")
    return _Solved(paths, cand_node, cand_seat, cand_service, reachable, qs, model, greedy, exact, source, all_open)


def _flow_lines(seats: gpd.GeoDataFrame, cg, od, flow: np.ndarray, sv: _Solved) -> gpd.GeoDataFrame:
    """``corridor_flows.geojson``: one line per seat pair (WGS84), see the module doc."""

    def full(values, fill):
        out = np.full(len(flow), fill, dtype=object if fill is None else type(fill))
        out[sv.qs] = values
        return out

    total = float(flow.sum())
    names = seats["name"].to_numpy()
    ids = seats["seat_id"].to_numpy()
    pops = seats["population"].to_numpy()
    max_leg = [float(np.diff(pth.pos_km).max()) if pth is not None else None for pth in sv.paths]
    return gpd.GeoDataFrame({
        "origin_id": ids[od.i], "origin": names[od.i], "destination_id": ids[od.j], "destination": names[od.j],
        "population_o": pops[od.i], "population_d": pops[od.j],
        "distance_km": [round(float(d), 3) if np.isfinite(d) else None for d in od.dist_km[od.i, od.j]],
        "flow": np.round(flow, 3), "flow_share": np.round(flow / total if total > 0 else flow * 0, 8),
        "max_leg_km": [None if m is None else round(m, 3) for m in max_leg],
        "reachable": sv.reachable,
        "refuelable": full(sv.exact.refuelable, False), "refuelable_greedy": full(sv.greedy.refuelable, False),
        "refuelable_all_open": full(sv.all_open, False),
    }, geometry=path_lines(cg, od).values, crs=WGS84)


def _station_points(seats: gpd.GeoDataFrame, cg, flow: np.ndarray, sv: _Solved, *, services: gpd.GeoDataFrame | None,
                    motorways: Path) -> gpd.GeoDataFrame:
    """``corridor_sites.geojson``: the stations of the exact solution (WGS84 points), see the
    module doc."""
    cand_node, cand_seat, cand_service = sv.cand_node, sv.cand_seat, sv.cand_service
    total = float(flow.sum())
    names = seats["name"].to_numpy()
    ids = seats["seat_id"].to_numpy()
    sel = sv.exact.selected
    through = np.zeros(len(cand_node))
    for k, q in enumerate(sv.qs):
        if sv.exact.refuelable[k]:
            through[np.unique(sv.model.paths[k].cand[sv.model.paths[k].cand >= 0])] += flow[q]
    xy = np.array([cg.xy[cand_node[c]] if cand_node[c] >= 0 else cg.xy[cg.source(int(cand_seat[c]))] for c in sel]).reshape(-1, 2)
    return gpd.GeoDataFrame({
        "candidate": sel,
        "kind": ["services" if cand_service[c] >= 0 else "expressway_access" if cand_node[c] >= 0 else "seat" for c in sel],
        "node": pd.array([int(cand_node[c]) if cand_node[c] >= 0 else None for c in sel], dtype="Int64"),
        "seat_id": pd.array([int(ids[cand_seat[c]]) if cand_seat[c] >= 0 else None for c in sel], dtype="Int64"),
        "name": _site_names(sel, xy, names, cand_seat, cand_service, services=services, motorways=motorways),
        "flow_through": np.round(through[sel], 3),
        "flow_through_share": np.round(through[sel] / total if total > 0 else through[sel] * 0, 8),
        "in_greedy": np.isin(sel, sv.greedy.selected),
    }, geometry=shapely.points(xy) if len(sel) else [], crs=PROJECTED_CRS).to_crs(WGS84)


def _corridor_summary(cfg: RunConfig, *, level: str, seats: gpd.GeoDataFrame, flow: np.ndarray, sv: _Solved, p: int,
                      range_km: float, beta: float, services: gpd.GeoDataFrame | None, snapped: np.ndarray, net,
                      digest: str) -> dict:
    """``corridor_summary.json`` (see the module doc)."""
    exact, greedy, cand_node, cand_seat, cand_service = sv.exact, sv.greedy, sv.cand_node, sv.cand_seat, sv.cand_service
    total = float(flow.sum())
    return {
        "run": f"{cfg.name}-corridors",
        "level": level,
        "seats": len(seats),
        "seat_location": "county seats (Amap, GCJ-02 converted to WGS84)" if level == "county" else
                         "seat of each prefecture's most populous county-level division (proxy for the prefecture seat)",
        "pairs": int(len(flow)),
        "pairs_reachable": int(sv.reachable.sum()),
        "p": int(p),
        "range_km": range_km,
        "beta": float(beta),
        "round_trip_convention": "Kuby & Lim (2005): round trip O-D-O as a cycle; end legs without a station are driven out and back",
        "candidates": int(len(cand_node)),
        "candidates_expressway_access": int(((cand_node >= 0) & (cand_service < 0)).sum()),
        "candidates_seats": int((cand_seat >= 0).sum()),
        "candidates_services": int((cand_service >= 0).sum()),
        "service_areas": None if services is None else {"file": cfg.corridors.services_file.path, "points": int(len(services)),
                                                         "snapped": int(snapped.sum()), "on_paths": int((cand_service >= 0).sum())},
        "total_flow": round(total, 3),
        "covered_flow_share": round(exact.covered_flow / total, 6) if total > 0 else 0.0,
        "covered_flow_share_greedy": round(greedy.covered_flow / total, 6) if total > 0 else 0.0,
        "covered_flow_share_all_open": round(float(flow[sv.qs][sv.all_open].sum()) / total, 6) if total > 0 else 0.0,
        "pairs_refuelable": int(exact.refuelable.sum()),
        "solution_source": sv.source,
        "solver": {"name": exact.solver, "status": exact.status, "objective": round(exact.covered_flow, 3),
                   "bound": round(float(exact.bound), 3), "gap": round(float(exact.gap), 9),
                   "arc_constraints": int(sv.model.A.shape[0])},
        "greedy_order": [int(c) for c in greedy.order],
        "motorways": {"path": cfg.data.motorways, "sha256": digest, "network": net.info},
    }


def _corridor_files(cfg: RunConfig, inputs: ResolvedInputs) -> list[dict]:
    """The manifest's ``data_files`` of a corridor run."""
    d, sf, svc = cfg.data, cfg.data.county_seats, cfg.corridors.services_file
    files = [file_record(d.county_population, inputs.county_population),
             file_record(d.prefecture_population, inputs.prefecture_population),
             file_record(sf.path, inputs.county_seats, declared_crs=sf.crs),
             file_record(d.motorways, inputs.motorways), file_record(d.parameters, inputs.parameters)]
    if svc is not None:
        files.append(file_record(svc.path, inputs.services_file, declared_crs=svc.crs))
    return files


@blames_config
def run_corridors(
    cfg: RunConfig,
    p: int | None = None,
    range_km: float | None = None,
    level: str | None = None,
    out_base: Path | None = None,
    *, solver: str | None = None,
    time_limit: float | None = None,
    
    progress: Callable[[str], None] = lambda msg: None,
    write: bool = True,
) -> CorridorResult:
    """Corridor station siting for ``cfg`` (its ``corridors`` section, overridden by the args).

    Args:
        cfg: run config (data files, parameters, solver, ``corridors``).
        p: stations (default ``corridors.p``).
        range_km: vehicle range, km (default ``corridors.range_km``, else parameter
            ``corridor_range_km``).
        level: ``prefecture`` or ``county`` (default ``corridors.level``).
        out_base: folder for the run folder (default ``cfg.output_dir``).
        solver, time_limit: override ``cfg.solver``.
        progress: called with a line per stage (keyword only, as in :func:`evsiting.runs.run.run`).
        write: write the output folder (keyword only).

    Returns:
        :class:`CorridorResult`.

    Raises:
        InputError: bad data, ``p`` above the number of candidates, bad range or level.
        SolverError: solver missing or failed.
    """
    ctx = RunContext.open(cfg, out_base, write=write, progress=progress)  # the output folder first
    inputs, cc = ctx.inputs, cfg.corridors
    p = cc.p if p is None else p
    level = level or cc.level
    if level not in ("prefecture", "county"):
        raise InputError(f"unknown level '{level}'; expected prefecture or county", field="corridors.level")
    params = ctx.params
    R = float(range_km if range_km is not None else (cc.range_km if cc.range_km is not None else params.value("corridor_range_km")))
    if not R > 0:
        raise InputError("must be a positive number of km", field="--range-km")
    beta = cc.beta if cc.beta is not None else params.value("corridor_gravity_beta")

    seats = county_seats(inputs.county_seats, inputs.county_population, crs=cfg.data.county_seats.crs)
    if level == "prefecture":
        seats = prefecture_seats(seats, inputs.prefecture_population)
    net, mpath, digest = expressway_network_for(inputs.motorways, params)
    cg = corridor_graph(net, seats, params.value("circuity_factor"), cc.seat_links)
    od = od_paths(cg)
    progress(f"  {len(seats)} seats, {len(od.i)} pairs, graph of {cg.graph.shape[0]:,} nodes")
    pi, pj, flow = gravity_flows(seats["population"].to_numpy(), od.dist_km, beta)
    assert np.array_equal(pi, od.i) and np.array_equal(pj, od.j)
    services = _service_areas(cc.services_file, inputs.services_file)
    snapped = cg.add_services(services, params.value("corridor_services_snap_m")) if services is not None else np.zeros(0, dtype=bool)
    time_limit_s = time_limit if time_limit is not None else cfg.solver.time_limit_s
    sv = _solve_frlm(cg, od, flow, p=p, range_km=R, seat_candidates=cc.seat_candidates, solver=solver or cfg.solver.name,
                     time_limit=time_limit_s, mip_gap=cfg.solver.mip_gap, progress=progress)
    flows_gdf = _flow_lines(seats, cg, od, flow, sv)
    sites = _station_points(seats, cg, flow, sv, services=services, motorways=mpath)
    summary = _corridor_summary(cfg, level=level, seats=seats, flow=flow, sv=sv, p=p, range_km=R, beta=beta,
                                services=services, snapped=snapped, net=net, digest=digest)
    out_dir = ctx.folder(f"{cfg.name}-corridors")
    ctx.done("corridors")
    if write:
        manifest = ctx.manifest(cfg, summary["run"], data_files=_corridor_files(cfg, inputs),
                                parameters=params.to_frame().to_dict(orient="records"),
                                solver={**summary["solver"], "time_limit_s": time_limit_s})

        def write_files(tmp: Path) -> None:
            write_geojson(sites, tmp / "corridor_sites.geojson")
            write_geojson(flows_gdf, tmp / "corridor_flows.geojson")
            write_json(summary, tmp / "corridor_summary.json")

        ctx.write_folder(out_dir, manifest, write_files)
    return CorridorResult(seats, flows_gdf, sites, sv.exact, sv.greedy, summary, out_dir, sv.model, sv.qs)
