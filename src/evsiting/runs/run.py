"""The province/prefecture run: a list of stage calls (:mod:`evsiting.stages`): study ->
demand -> candidates -> travel times -> model -> sizing -> outputs.

Everything is computed in memory first; the run folder is written at the end through
:meth:`evsiting.stages.context.RunContext.write_folder`, so a failed or interrupted run leaves
nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import scipy.sparse as sp

from evsiting.core.errors import blames_config
from evsiting.candidates import generate as cand
from evsiting.report.warnings import run_warnings, solver_warning
from evsiting.config.schema import RunConfig
from evsiting.stages.context import RunContext
from evsiting.stages.instance import build_instance
from evsiting.stages.s1_study import Study, load_study, sha256  # noqa: F401  (re-exported)
from evsiting.stages.s2_demand import building_summary, standards_summary
from evsiting.stages.s5_model import (
    CAPACITATED_MIP_GAP,
    ModelInputs,
    SolveOptions,
    determinism,
    standard_of,
    solve_model,
)
from evsiting.stages.s6_sizing import size_solution
from evsiting.report.tables import access_by_zone, county_table, stations_by_urban_population, stations_layer
from evsiting.stages.s7_outputs import (
    add_costs_and_references,
    depots,
    run_layers,
    summarise,
    write_run_files,
)


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


@blames_config
def run(
    cfg: RunConfig,
    prefecture: str | None = None,
    *,
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
    ctx = RunContext.open(cfg, out_base, write=write, progress=progress)
    study = load_study(cfg, prefecture, progress, inputs=ctx.inputs, params=ctx.params)
    run_name = study.run_name(cfg, prefecture)
    out_dir = ctx.folder(run_name)  # never delete a folder that is not an earlier output of this run
    ctx.done("data")

    inst = build_instance(cfg, study, ctx)
    demand, reached, provider = inst.demand, inst.reached, inst.provider
    cells, params, candidates, travel = inst.cells, inst.params, inst.candidates, inst.travel
    cands = reached.candidates

    solve_opts = SolveOptions(solver or cfg.solver.name, time_limit if time_limit is not None else cfg.solver.time_limit_s, cfg.solver.mip_gap)
    solution = solve_model(cfg.model, ModelInputs(cells, travel.matrix, cands.required, params, candidates), solve_opts)
    ctx.done("model", solution.detail)
    for k, v in solution.result.stats.items():  # the model's own steps (seconds), beside the stages'
        if k.endswith("_s") and isinstance(v, (int, float)):
            ctx.timings[f"model.{k[:-2]}"] = round(float(v), 3)

    standard = standard_of(cfg.model, cells)
    pref_names = {p.adcode: p.name_en for p in study.prefectures.items}
    sized = size_solution(solution, cells, candidates, travel.matrix, params, standard_min=standard,
                          county_names=study.counties.set_index("adcode")["name_zh"], prefecture_names=pref_names)
    ctx.done("sizing")

    stations = stations_layer(sized.sites.assign(facility_type=["required" if r else "chosen" for r in sized.sites["required"]]),
                              cfg.demand.h3_resolution, params)
    summary = run_summary(cfg, study, demand, reached, solution, sized=sized, run_name=run_name, stations=stations)
    summary["determinism"] = determinism(solution.result, solve_opts.time_limit_s)
    if not summary["determinism"]["deterministic"]:  # a warning of the run: console, report.html, roll-up
        summary.setdefault("warnings", []).append(f"not repeatable: {summary['determinism']['why']}")
    result = solution.result
    manifest = ctx.manifest(
        cfg, run_name,
        prefecture_option=prefecture,
        study_prefectures=[p.adcode for p in study.chosen],
        data_files=study.files,
        parameters=params.to_frame().to_dict(orient="records"),
        impedance=travel.info,
        building_weights=demand.buildings_info,
        solver={"name": result.solver, "status": result.status, "objective": result.objective, "bound": result.bound,
                "gap": result.gap, "runtime_s": result.runtime_s, "time_limit_s": solve_opts.time_limit_s,
                "message": result.message, "method": {k: v for k, v in result.stats.items() if not k.endswith("_s")},
                **determinism(result, solve_opts.time_limit_s)},
        sizes={"demand_cells": len(cells), "candidates": len(candidates), "matrix_pairs": int(travel.matrix.nnz)},
    )
    if write:
        graph = provider.graph([])  # the graph of the travel times (network method), or None
        snap = cfg.network.snap_limit_m if cfg.network is not None else 1000.0
        layers = run_layers(cfg.model, sized.cells, candidates, sized.sites, travel, params=params, prefecture_names=pref_names,
                            graph=graph, snap_limit_m=snap)
        layers["stations"] = stations
        ctx.write_folder(out_dir, manifest, lambda tmp: write_run_files(tmp, layers, summary, manifest))
    return RunResult(cfg, sized.cells, candidates, sized.sites, travel.matrix, summary, manifest, out_dir, ctx.timings)


def run_summary(cfg: RunConfig, study: Study, demand, reached, solution, *, sized, run_name: str, stations=None) -> dict:
    """``summary.json`` of a run: scenario, model and its own entries, the coverage ceiling and
    the candidates (by source, gap fill, unreached cells), totals per prefecture, depots,
    building weights, reference ratios and costs, and ``warnings`` (lines,
    :func:`evsiting.report.warnings.run_warnings`: over the site maximum, unreached cells, energy beyond
    the sites' capacity, the candidate files' warnings, a solve short of its target gap); with
    ``stations`` (:func:`evsiting.report.tables.stations_layer`) also ``zones`` (access per urban
    zone and prefecture) and ``counties`` (one row per county), :mod:`evsiting.report.tables`."""
    cells, sites = sized.cells, sized.sites
    n_nev = demand.nev_total
    params = demand.params
    summary = {
        "run": run_name,
        "year": cfg.year,
        "scenario": cfg.demand.scenario,
        "nev_province": demand.nev_province,
        "nev_source": "config demand.nev_total" if cfg.demand.nev_total else f"fleet projection ({cfg.demand.scenario}, {cfg.year})",
        "model": solution.result.model,
        **standards_summary(cfg.model, params),
        **solution.summary,
        "stations_without_demand_not_built": sized.idle_dropped,
        # Share of NEVs within the standard of ANY candidate site: no p can cover more.
        "coverage_ceiling_share": round(float(cells["nev_count"].to_numpy()[cand.reached_rows(reached.travel.matrix, standard_of(cfg.model, cells))].sum()) / max(n_nev, 1), 6),
        "candidates": cand.reach_summary(reached.reach, demand.cells),
        "stations_over_site_max": int(sites["over_site_max"].sum()),
        "site_max_ports": {"dc": params.value("site_max_dc_ports"), "ac": params.value("site_max_ac_ports")},
        **summarise(cells, sites, study.chosen),
    }
    if stations is not None:
        names = {p.adcode: p.name_en for p in study.chosen}
        std = cfg.model.service_standard_min
        summary["zones"] = access_by_zone(cells, stations, names, std)
        summary["counties"] = county_table(cells, sites.assign(facility_type="chosen"), stations, std, names).to_dict(orient="records")
    urban = stations_by_urban_population(summary["prefectures"], study.census.counties)
    summary["total"]["urban_population"] = sum(r["urban_population"] for r in summary["prefectures"])
    if urban is not None:
        summary["stations_by_urban_population"] = urban
    summary["depots"] = depots(study.inputs.urbanisation, params, study.chosen, year=cfg.year, fleet_block=cfg.fleet,
                               nev_province=demand.nev_province, fleet=demand.fleet)
    summary["building_weights"] = building_summary(demand.buildings_info)
    summary = add_costs_and_references(summary, sites)
    res = solution.result
    file_warnings = [w for f in study.files for w in f.get("warnings", [])]
    solver_line = solver_warning(res.status, res.gap, cfg.solver.mip_gap if cfg.solver.mip_gap is not None else CAPACITATED_MIP_GAP)
    summary["warnings"] = run_warnings(summary, file_warnings + ([solver_line] if solver_line else []))
    return summary


