"""The staged build-out run (``evsiting plan``): demand per year -> candidates -> travel times ->
multi-period model -> ``buildout.geojson``, ``buildout.csv``, ``buildout.png``, ``summary.json``,
``manifest.json``.

Demand per year: the province NEV stock and the segment mix of each year come from the fleet
projection (:func:`evsiting.demand.segments.province_demand`, the config's scenario). They are
spread over counties and H3 cells exactly as in the single-year run for the LAST plan year;
earlier years scale every cell by that year's stock (the census weights and the urban kernel do
not change with the year), so cell NEVs are fractional in earlier years. Public energy per cell =
cell NEVs x the year's blended public kWh/day per vehicle.

Costs (CNY) and port limits are parameters (``site_cost``, ``dc_port_cost``, ``ac_port_cost``,
``site_max_dc_ports``, ``site_max_ac_ports``); a port's daily capacity is its power x utilisation
hours (``dc_charger_power_kw`` x ``dc_utilisation_hours``; AC likewise), as in
:mod:`evsiting.sizing.ports`.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from evsiting.report.warnings import standard_label
from evsiting.study.areas import Prefectures
from evsiting.config.schema import BuildoutConfig, RunConfig
from evsiting.demand.segments import province_demand
from evsiting.core.errors import InputError, blames_config
from evsiting.io.points import read_points
from evsiting.models.multiperiod import BuildoutResult, CoverageRule, MultiPeriodSiting
from evsiting.io.writers import write_geojson, write_json
from evsiting.stages.context import RunContext
from evsiting.stages.s1_study import load_study
from evsiting.stages.instance import build_instance
from evsiting.stages.s2_demand import build_demand, building_summary, standards_summary
from evsiting.stages.s5_model import CAPACITATED_MIP_GAP, access_cost_rate, standard_of
from evsiting.sizing.port_rule import existing_ports, port_capacities, power_limit_kwargs, stations_per_site
from evsiting.models.nested import staged_capacitated
from evsiting.core.settings import WGS84


@dataclass
class PlanResult:
    """What a plan run produced (also written to ``out_dir``)."""

    config: RunConfig
    years: list[int]
    cells: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    table: pd.DataFrame
    result: BuildoutResult
    summary: dict
    manifest: dict
    out_dir: Path | None = None
    timings: dict = field(default_factory=dict)


def parse_years(text: str) -> list[int]:
    """``"2024:2030"`` -> [2024, ..., 2030]; ``"2026"`` -> [2026].

    Raises:
        InputError: malformed range or end before start.
    """
    m = re.fullmatch(r"\s*(\d{4})\s*(?::\s*(\d{4})\s*)?", str(text))
    if not m:
        raise InputError(f"years must look like 2024:2030 or 2026, got {text!r}", field="--years")
    a = int(m.group(1))
    b = int(m.group(2) or a)
    if b < a:
        raise InputError(f"years {text!r}: the end is before the start", field="--years")
    return list(range(a, b + 1))


def _per_year(value, years: list[int], name: str):
    """A number, ``{year: value}`` (all plan years needed) or None -> list per year or None."""
    if value is None or isinstance(value, (int, float)):
        return value
    missing = [y for y in years if y not in value]
    if missing:
        raise InputError(f"no value for year(s) {missing}", source="config", field=f"buildout.{name}")
    return [float(value[y]) for y in years]


@blames_config
def plan(
    cfg: RunConfig,
    years: list[int] | None = None,
    prefecture: str | None = None,
    out_base: Path | None = None,
    solver: str | None = None,
    *, time_limit: float | None = None,
    progress: Callable[[str], None] = lambda msg: None,
    write: bool = True,
) -> PlanResult:
    """Plan the staged build-out for ``cfg`` over ``years`` and write the plan folder.

    Args:
        cfg: validated run config (section ``buildout``).
        years: calendar years (default: ``cfg.buildout.years``), each >= ``cfg.fleet.base_year``.
        prefecture: restrict to one prefecture (English, pinyin, Chinese, adcode).
        out_base: folder holding run folders (default ``cfg.output_dir``); writes
            ``<out_base>/<name>[-<prefecture>]-plan/``.
        solver, time_limit: override ``cfg.solver.name`` / ``cfg.buildout.time_limit_s``.
        progress: called with a line of text at each stage.
        write: write the folder (False for notebooks and tests).

    Returns:
        :class:`PlanResult`.

    Raises:
        InputError: bad data or config. InfeasibleError: an unmeetable coverage rule (places
        named), target or budget. SolverError: no solution in the time limit.
    """
    bo: BuildoutConfig = cfg.buildout
    years = years or parse_years(bo.years)
    if years[0] < cfg.fleet.base_year or years[-1] > cfg.fleet.last_year:
        raise InputError(f"plan years must lie in {cfg.fleet.base_year}..{cfg.fleet.last_year} (fleet projection)",
                         field="--years")
    ctx = RunContext.open(cfg, out_base, write=write, progress=progress)
    study, file_notes = plan_study(cfg, prefecture, progress, inputs=ctx.inputs, params=ctx.params)
    params, prefs, chosen = study.params, study.prefectures, study.chosen
    counties, seats = study.counties, study.seats
    run_name = study.run_name(cfg, prefecture) + "-plan"
    out_dir = ctx.folder(run_name)  # never delete a folder that is not an earlier output of this run
    ctx.done("data")

    # --- demand per year --------------------------------------------------------------
    fleets = {y: province_demand(y, cfg.demand.scenario, params, cfg.fleet) for y in years}
    last = fleets[years[-1]]
    res_h3 = bo.h3_resolution or cfg.demand.h3_resolution
    # the last year's demand at the plan's resolution (urban zones, finer cells in them, each
    # cell's service standard); earlier years scale it by their fleets
    demand_last = build_demand(study, year=years[-1], demand=cfg.demand, fleet=cfg.fleet, model=cfg.model,
                               h3_resolution=res_h3, nev_province=last["nev_total"])
    inst = build_instance(cfg, study, ctx, demand=demand_last, per_county=bo.candidates_per_county, osm=False,
                          capacity_fill=plan_method(cfg, bo) == "nested")  # the capacity fill for the last year's energy
    cells, p_last, provider, bw_info = inst.cells, inst.params, inst.provider, inst.demand.buildings_info
    nev_ref = cells["nev_count"].to_numpy(dtype=float)
    nev = np.array([nev_ref * fleets[y]["nev_total"] / last["nev_total"] for y in years])
    demand = np.array([nev[k] * fleets[y]["public_kwh_per_vehicle"] for k, y in enumerate(years)])
    standard = standard_of(cfg.model, cells)  # minutes, each cell's own; the matrix keeps only pairs within it
    candidates, matrix = inst.candidates, inst.travel.matrix
    rules, rule_meta = _coverage_rules(cfg, bo, seats, counties, candidates, params=p_last, standard=float(np.max(standard)), provider=provider,
                                       places_paths=study.inputs.coverage_places)

    # --- model -------------------------------------------------------------------------
    target = _per_year(bo.target_share, years, "target_share")
    budget = _per_year(bo.budget_cny, years, "budget_cny")
    ex_dc, ex_ac = existing_ports(candidates, len(candidates))  # existing stations: open, their ports free
    tl = time_limit if time_limit is not None else bo.time_limit_s
    method = plan_method(cfg, bo)
    if method == "nested":
        result = _nested(cfg, cells, candidates, matrix, demand, years=years, standard=standard, p_last=p_last, ex_dc=ex_dc, ex_ac=ex_ac,
                         tl=tl, mip_gap=bo.mip_gap, progress=progress)
    else:
        result = _multi_period(cfg, bo, matrix, demand, years, standard=float(np.max(standard)), p_last=p_last, ex_dc=ex_dc, ex_ac=ex_ac, rules=rules,
                               budget=budget, target=target, solver=solver, tl=tl)
    ctx.done(f"model ({METHODS[method]}, {len(years)} years, {result.status}, gap {result.gap:.4g})")

    # --- outputs -----------------------------------------------------------------------
    stations = _stations(candidates, counties, prefs, result)
    table = _table(years, fleets, nev, demand, result, budget=budget)
    summary = {
        "run": run_name,
        "years": years,
        "scenario": cfg.demand.scenario,
        "objective": bo.objective,
        "method": METHODS[method],
        **standards_summary(cfg.model, p_last),
        "study_prefectures": [p.name_en for p in chosen],
        "h3_resolution": res_h3,
        "candidates": len(candidates),
        "solver": {"name": result.solver, "status": result.status, "objective": result.objective,
                   "bound": result.bound, "gap": result.gap, "runtime_s": round(result.runtime_s, 3),
                   "time_limit_s": tl, "message": result.message, "warm_start": result.stats.get("warm_start"),
                   "start": result.stats.get("warm_start_source"), "start_objective": result.stats.get("start_objective")},
        "coverage_rules": rule_meta,
        "building_weights": building_summary(bw_info),
        "total_cost_cny": round(result.total_cost, 2),
        "by_year": table.to_dict(orient="records"),
    }
    if method == "nested":
        summary["solver"]["years"] = result.year_results
        summary["binding"] = result.binding
    summary["determinism"] = plan_determinism(result, tl)
    summary["warnings"] = file_notes + plan_warnings(summary, table, bo.mip_gap)  # printed once, after the table
    return _finish(ctx, inst, result, cfg=cfg, run_name=run_name, prefecture=prefecture, years=years, summary=summary,
                   stations=stations, table=table, out_dir=out_dir, write=write)


def plan_study(cfg: RunConfig, prefecture: str | None, progress: Callable[[str], None], *,
               inputs=None, params=None):
    """The study of a plan (:func:`load_study`) and the data files' notes: existing stations
    without port columns are offered as candidates (not required), with a note.

    Returns:
        ``(study, notes)``: the :class:`~evsiting.stages.s1_study.Study` and a list of lines.
        ``inputs``/``params``: the run context's checked files and parameters (read again
        when None).
    """
    study = load_study(cfg, prefecture, progress, inputs=inputs, params=params)
    user_sites = [f.copy() for f in study.user_sites]
    file_notes = [w.removeprefix("warning: ") for f in study.files for w in f.get("warnings", [])]
    for pf, sites_f in zip(cfg.candidates.files, user_sites):
        if pf.existing and len(sites_f) and pf.dc_ports_column is None and pf.ac_ports_column is None:
            file_notes.append(f"{pf.path}: the build-out plan keeps existing stations with their port counts; give "
                              f"dc_ports_column/ac_ports_column in its file block. Its {len(sites_f)} site(s) are offered as candidates")
            sites_f["required"] = False
    return replace(study, user_sites=user_sites), file_notes


def plan_determinism(result, time_limit_s: float | None) -> dict:
    """``summary.json`` ``determinism`` of a plan, as a run's
    (:func:`evsiting.stages.s5_model.determinism`): the nested plan is repeatable when no year's
    solve stopped at its time limit."""
    from evsiting.stages.s5_model import determinism

    years = [r for r in (getattr(result, "year_results", None) or []) if r]
    if not years:
        out = determinism(result, time_limit_s)
        return {**out, "why": out["why"].replace("solver.time_limit_s", "buildout.time_limit_s")}
    limited = [str(r["year"]) for r in years if "time limit" in str(r.get("message") or "")]
    if not limited:
        return {"deterministic": True, "why": "every year's solve ended by proof or at the requested gap before any time "
                                              "limit: fixed seeds and no clock in the search, so the same input gives the same plan"}
    limit = f" of {time_limit_s:g} s" if time_limit_s else ""
    return {"deterministic": False,
            "why": f"the solve of {', '.join(limited)} stopped at the time limit{limit}: the plan depends on how far the solver "
                   "got, so a rerun or another machine may give another; raise buildout.time_limit_s (or --time-limit)"}


def plan_warnings(summary: dict, table: pd.DataFrame, mip_gap: float | None) -> list[str]:
    """The plan's own warnings, one line each (``summary.json`` ``warnings`` after the data
    files' warnings, console, report): years serving less than all public energy (and where it is short), a solve short of its
    target gap, a plan that is not repeatable."""
    from evsiting.report.warnings import solver_warning

    out = []
    binds = {b["year"]: b for b in summary.get("binding", []) if b.get("counties")}
    for r in table.to_dict(orient="records"):
        if float(r["served_share"]) < 0.9995:
            b = binds.get(r["year"])
            where = f": {b['constraint']} binds in {', '.join(b['counties'][:5])}" if b else ""
            out.append(f"{r['year']}: {float(r['served_share']):.1%} of the public charging energy served{where}")
    m = summary["solver"]
    line = solver_warning(m.get("status"), m.get("gap"), mip_gap if mip_gap is not None else 0.005)
    if line:
        out.append(line)
    if not summary["determinism"]["deterministic"]:
        out.append(f"not repeatable: {summary['determinism']['why']}")
    return out


#: The two plan methods (``summary.json`` ``method``).
METHODS = {
    "nested": "nested capacitated: the run's capacitated model, last year first; each earlier year "
              "the least-cost part of the next year's network",
    "multi_period": "multi-period capacitated (MultiPeriodSiting: one station per site at the port maxima, "
                    "no DC/AC energy split)",
}


def plan_method(cfg: RunConfig, bo: BuildoutConfig) -> str:
    """``"nested"`` (:mod:`evsiting.models.nested`) when the run's model is ``capacitated``
    (the default) and the plan asks for the least cost of serving each year's demand (no
    ``budget_cny``, ``target_share`` or coverage rule, ``objective: min_cost``); otherwise
    ``"multi_period"`` (:class:`~evsiting.models.multiperiod.MultiPeriodSiting`, which takes
    budgets, target shares, coverage rules and ``max_served``)."""
    plain = bo.objective == "min_cost" and bo.budget_cny is None and bo.target_share is None and not bo.coverage
    return "nested" if cfg.model.type == "capacitated" and plain else "multi_period"


def _nested(cfg: RunConfig, cells, candidates, matrix, demand: np.ndarray, *, years: list[int], standard: float,
            p_last, ex_dc, ex_ac, tl, mip_gap, progress):
    """The nested staged plan on the run's capacitated model: the same port rule
    (:func:`port_capacities`), stations per site (:func:`stations_per_site`, from the last
    year's cell energy: a cell's car parks do not change with the year), costs and existing
    ports as ``evsiting run``. Each year's DC energy keeps the last year's DC share per cell."""
    site_args, dc_share = nested_inputs(cfg, cells, candidates, p_last, ex_dc, ex_ac)
    gap = CAPACITATED_MIP_GAP if mip_gap is None else mip_gap
    return staged_capacitated(matrix, demand, demand * dc_share[None, :], years, standard, site_args=site_args,
                              county_of=cells["county_name"].astype(str).tolist(), time_limit=tl, mip_gap=gap,
                              progress=lambda msg: progress(f"  {msg}"))


def nested_inputs(cfg: RunConfig, cells, candidates, p_last, ex_dc, ex_ac) -> tuple[dict, np.ndarray]:
    """The sites' arguments of the nested plan (:func:`staged_capacitated`'s ``site_args``:
    port kWh/day, maxima, stations per site, CNY costs, existing ports, access cost, required
    sites, power limit) and each cell's DC share of its energy ``(n,)`` (the last year's)."""
    cap_dc, cap_ac = port_capacities(p_last)
    e_last = cells["energy_kwh_day"].to_numpy(dtype=float)
    dc_share = np.divide(cells["energy_dc_kwh_day"].to_numpy(dtype=float), e_last, out=np.zeros_like(e_last),
                         where=e_last > 0)
    req = np.flatnonzero(candidates["required"].to_numpy(dtype=bool)) if "required" in candidates.columns else None
    site_args = dict(
        dc_port_kwh_day=cap_dc, ac_port_kwh_day=cap_ac,
        max_dc_ports=p_last.value("site_max_dc_ports"), max_ac_ports=p_last.value("site_max_ac_ports"),
        max_stations=stations_per_site(candidates, cells, p_last, power_limit=cfg.model.power_limit),
        site_cost_cny=p_last.value("site_cost"), dc_port_cost_cny=p_last.value("dc_port_cost"),
        ac_port_cost_cny=p_last.value("ac_port_cost"), existing_dc=ex_dc, existing_ac=ex_ac,
        allocation_cny_per_kwh_min=access_cost_rate(cfg.model, p_last),
        required=req if req is not None and req.size else None, **(power_limit_kwargs(p_last, candidates, len(candidates)) if cfg.model.power_limit else {}),
    )
    return site_args, dc_share


def _multi_period(cfg: RunConfig, bo: BuildoutConfig, matrix, demand, years, *, standard, p_last, ex_dc, ex_ac,
                  rules, budget, target, solver, tl):
    """The general multi-period model (budgets, target shares, coverage rules)."""
    mdl = MultiPeriodSiting.from_cost_matrix(
        matrix, demand, years, standard,
        objective=bo.objective, budget=budget, carry_over=bo.carry_over, discount_rate=bo.discount_rate,
        target_share=target,
        max_dc=p_last.value("site_max_dc_ports"), max_ac=p_last.value("site_max_ac_ports"),
        dc_capacity_kwh=port_capacities(p_last)[0], ac_capacity_kwh=port_capacities(p_last)[1],  # the run's port rule
        site_cost=p_last.value("site_cost"), dc_port_cost=p_last.value("dc_port_cost"),
        ac_port_cost=p_last.value("ac_port_cost"), coverage=rules,
        existing_dc=ex_dc, existing_ac=ex_ac, allow_expansion=True,
    )
    return mdl.solve(solver=solver or cfg.solver.name, time_limit=tl, mip_gap=bo.mip_gap, warm_start=bo.warm_start)


def _finish(ctx: RunContext, inst, result: BuildoutResult, *, cfg: RunConfig, run_name: str, prefecture: str | None,
            years: list[int], summary: dict, stations: gpd.GeoDataFrame, table: pd.DataFrame, out_dir: Path | None,
            write: bool) -> PlanResult:
    """Manifest, chart and the atomic write of the plan folder (``inst``: the plan's
    :class:`~evsiting.stages.instance.Instance`, its last year's demand)."""
    p_last, study, cells, candidates = inst.params, inst.study, inst.cells, inst.candidates
    bw_info, imp_info, matrix = inst.demand.buildings_info, inst.travel.info, inst.travel.matrix
    manifest = ctx.manifest(
        cfg, run_name,
        prefecture_option=prefecture,
        years=years,
        parameters=p_last.to_frame().to_dict(orient="records"),
        data_files=study.files,
        building_weights=bw_info,
        impedance=imp_info,
        solver={k: summary["solver"][k] for k in ("name", "status", "objective", "bound", "gap", "runtime_s", "time_limit_s")},
        model_stats={k: v for k, v in result.stats.items() if k != "coverage_rules"},
        sizes={"demand_cells": len(cells), "candidates": len(candidates), "matrix_pairs": int(matrix.nnz)},
    )
    if write:
        png = chart_png(table, f"{run_name}: staged build-out {years[0]}-{years[-1]} ({result.status}, gap {_gap_text(result.gap)})")
        map_bytes = plan_map_png(stations, cells, [p.adcode for p in study.chosen], table, summary)

        def files(tmp: Path) -> None:
            write_geojson(stations, tmp / "buildout.geojson")
            table.to_csv(tmp / "buildout.csv", index=False, lineterminator="\n")
            (tmp / "buildout.png").write_bytes(png)
            (tmp / "map.png").write_bytes(map_bytes)
            (tmp / "report.html").write_text(plan_report(summary, table, map_bytes, png), encoding="utf-8")
            write_json(summary, tmp / "summary.json")

        ctx.write_folder(out_dir, manifest, files)
    timings = ctx.timings
    return PlanResult(cfg, years, cells, candidates, stations, table, result, summary, manifest, out_dir, timings)


def _coverage_rules(cfg: RunConfig, bo: BuildoutConfig, seats: gpd.GeoDataFrame, counties: gpd.GeoDataFrame,
                    candidates: gpd.GeoDataFrame, *, params, standard: float, provider,
                    places_paths: tuple) -> tuple[list[CoverageRule], list[dict]]:
    """Coverage rules of the config as model rules (travel minutes from each place; the
    places files of the rules at ``places_paths``, resolved)."""
    rules, meta = [], []
    for i, rc in enumerate(bo.coverage):
        if rc.places == "county_seats":
            pts = seats[seats["adcode"].astype(int).isin(counties["adcode"].astype(int))].reset_index(drop=True)
            name_col = cfg.data.county_seats.name_column or "adcode"
            names = [f"{n} ({a})" for n, a in zip(pts[name_col].astype(str), pts["adcode"].astype(str))]
            label = rc.label or "county seats"
            source = cfg.data.county_seats.path
        else:
            pf = rc.places
            path = places_paths[i]
            pts = read_points(path, crs=pf.crs, lon_column=pf.lon_column, lat_column=pf.lat_column, id_column=pf.id_column)
            inside = gpd.sjoin(pts, counties[["geometry"]], how="inner", predicate="within").index.unique()
            pts = pts.loc[sorted(inside)].reset_index(drop=True)
            col = pf.name_column or pf.id_column
            names = pts[col].astype(str).tolist() if col else [f"row {k + 1}" for k in range(len(pts))]
            label = rc.label or f"places of {pf.path}"
            source = pf.path
        if len(pts) == 0:
            raise InputError("no place of this coverage rule lies in the study area", source="config",
                             field=f"buildout.coverage.{i}")
        radius = rc.radius_min or standard
        mat = provider.times(pts, candidates, params, radius).matrix
        rules.append(CoverageRule(label, names, mat, rc.year, radius))
        meta.append({"label": label, "source": source, "year": rc.year, "places": len(pts), "radius_min": radius})
    return rules, meta


def _stations(candidates: gpd.GeoDataFrame, counties: gpd.GeoDataFrame, prefs: Prefectures,
              res: BuildoutResult) -> gpd.GeoDataFrame:
    """Every station of the plan with ``open_year`` and DC/AC ports added in each year."""
    sel = np.flatnonzero(res.open_year >= 0)
    cols = ["site_id", "name", "county_adcode", "prefecture_adcode", "source", "geometry"]
    out = candidates.iloc[sel][[c for c in cols if c in candidates.columns]].copy()
    pref_names = {p.adcode: p.name_en for p in prefs.items}
    at = 2 if "name" in out.columns else 1
    out.insert(at, "prefecture", out["prefecture_adcode"].map(pref_names))
    out.insert(at + 1, "county", out["county_adcode"].map(counties.set_index("adcode")["name_zh"]))
    out["adcode"] = out["county_adcode"]
    out["open_year"] = res.open_year[sel]
    out["existing"] = res.existing[sel]
    dc, ac = res.dc_ports[:, sel], res.ac_ports[:, sel]
    dc_add = np.diff(np.vstack([np.zeros((1, len(sel)), dtype=np.int64), dc]), axis=0)
    ac_add = np.diff(np.vstack([np.zeros((1, len(sel)), dtype=np.int64), ac]), axis=0)
    for k, y in enumerate(res.years):
        out[f"dc_added_{y}"] = dc_add[k]
        out[f"ac_added_{y}"] = ac_add[k]
    st = getattr(res, "stations", None)
    out["stations"] = st[-1, sel] if st is not None else 1  # a multi-period site is one station
    out["ports_dc"] = dc[-1]
    out["ports_ac"] = ac[-1]
    out["served_kwh_day_last_year"] = np.round(res.site_served[-1, sel], 3)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)
    return out.sort_values(["open_year", "site_id"]).reset_index(drop=True)


def _table(years: list[int], fleets: dict, nev: np.ndarray, demand: np.ndarray, res: BuildoutResult,
           *, budget) -> pd.DataFrame:
    """One row per year: NEVs, demand and served kWh/day, share, stations, ports, CNY."""
    st = getattr(res, "stations", None)
    open_t = st if st is not None else ((res.dc_ports + res.ac_ports) > 0).astype(np.int64)
    ex0 = int(res.existing.sum())
    binding = getattr(res, "binding", None)
    rows = []
    for k, y in enumerate(years):
        prev_dc = res.dc_ports[k - 1].sum() if k else 0
        prev_ac = res.ac_ports[k - 1].sum() if k else 0
        b = None if budget is None else (budget if isinstance(budget, (int, float)) else budget[k])
        rows.append({
            "year": y,
            "nev_province": int(fleets[y]["nev_total"]),
            "nev_study_area": round(float(nev[k].sum()), 1),
            "demand_kwh_day": round(float(demand[k].sum()), 3),
            "served_kwh_day": round(float(res.served_total[k]), 3),
            "served_share": round(float(res.served_share[k]), 6),
            "stations": int(open_t[k].sum()),
            "stations_new": int(open_t[k].sum() - (open_t[k - 1].sum() if k else ex0)),
            "ports_dc": int(res.dc_ports[k].sum()),
            "ports_ac": int(res.ac_ports[k].sum()),
            "ports_dc_added": int(res.dc_ports[k].sum() - prev_dc),
            "ports_ac_added": int(res.ac_ports[k].sum() - prev_ac),
            "spend_cny": round(float(res.spend[k]), 2),
            "budget_cny": None if b is None or not np.isfinite(b) else float(b),
        })
        if binding is not None:
            rows[-1]["binding"] = binding[k]["constraint"]
            rows[-1]["unserved_beyond_capacity_kwh_day"] = binding[k]["beyond_capacity_kwh_day"]
            rows[-1]["unserved_beyond_standard_kwh_day"] = binding[k]["beyond_standard_kwh_day"]
    return pd.DataFrame(rows)


def _gap_text(gap: float | None) -> str:
    """A solver gap (fraction) as a percentage with two decimals, e.g. 0.000568 -> ``0.06 %``
    (``-`` when unknown)."""
    if gap is None or not np.isfinite(gap):
        return "-"
    if gap <= 0:
        return "0 %"
    return "< 0.01 %" if gap < 0.00005 else f"{100 * gap:.2f} %"


def plan_map_png(stations: gpd.GeoDataFrame, cells: gpd.GeoDataFrame, prefectures: list[int], table: pd.DataFrame,
                 summary: dict) -> bytes:
    """``map.png`` of a plan (:func:`evsiting.report.html.map_png`): the stations at their final
    ports, coloured by the year they open, over the demand cells of the last year, with the
    last year's headline (stations, ports, NEVs per port, served share) and the total spend."""
    from evsiting.report.html import MapPanel, map_png

    last = table.iloc[-1]
    ports = int(last["ports_dc"]) + int(last["ports_ac"])
    head = [
        ("year", f"{int(last['year'])}"),
        ("stations", f"{int(last['stations']):,}"),
        ("ports (DC + AC)", f"{ports:,} ({int(last['ports_dc']):,} + {int(last['ports_ac']):,})"),
        ("NEVs per public port", f"{float(last['nev_study_area']) / ports:.1f}" if ports else "-"),
        ("served share of public energy", f"{float(last['served_share']):.1%}"),
        (f"spend {int(table['year'].iloc[0])}-{int(last['year'])}", f"{float(table['spend_cny'].sum()) / 1e6:,.1f} M CNY"),
    ]
    st = stations.assign(open_year=stations["open_year"].astype(int))
    years = summary["years"]
    prefs = summary.get("study_prefectures") or []
    place = "Guizhou" if len(prefs) != 1 else prefs[0]
    head_name = place if summary["run"].lower() == place.lower() else f"{place} ({summary['run']})"
    method = str(summary.get("method", "")).split(":")[0].split(" (")[0]
    title = (f"{head_name}: staged build-out ({method} facility location), stations by year opened, "
             f"{years[0]}-{years[-1]},\nstandard {standard_label(summary)}")  # two lines: one is wider than the figure
    return map_png([MapPanel("", st, cells, prefectures, head, colour_by="open_year", values=[int(y) for y in years])], title)


def plan_report(summary: dict, table: pd.DataFrame, map_bytes: bytes, chart: bytes) -> str:
    """``report.html`` of a plan: the year table, solver, map and ``buildout.png``
    (:mod:`evsiting.report.html`, self-contained)."""
    from evsiting.report.html import image_html, kv_table, page, table_html, warnings_html

    cols = [("year", "year"), ("nev_study_area", "NEVs"), ("demand_kwh_day", "demand kWh/day"), ("served_kwh_day", "served kWh/day"),
            ("served_share", "served share"), ("stations", "stations"), ("stations_new", "new"), ("ports_dc", "DC ports"),
            ("ports_ac", "AC ports"), ("spend_cny", "spend CNY"), ("budget_cny", "budget CNY")]
    if "binding" in table.columns:  # the nested plan: what limits service each year
        cols += [("binding", "what limits service"), ("unserved_beyond_capacity_kwh_day", "beyond capacity kWh/day"),
                 ("unserved_beyond_standard_kwh_day", "beyond the standard kWh/day")]
    rows = []
    for r in table.to_dict(orient="records"):
        r["served_share"] = f"{100 * r['served_share']:.1f} %"
        rows.append(r)
    m = summary["solver"]
    solver = kv_table([("solver", str(m.get("name"))), ("status", str(m.get("status"))), ("gap", _gap_text(m.get("gap"))),
                       ("time limit", f"{m.get('time_limit_s')} s"), ("objective", str(summary["objective"]))])
    years = summary["years"]
    sub = (f"{summary['scenario']} scenario, standard {standard_label(summary)}, "
           f"{summary['candidates']:,} candidate sites, total spend {summary['total_cost_cny'] / 1e6:,.1f} M CNY")
    return page(f"{summary['run']}: staged build-out {years[0]}-{years[-1]}", sub, [
        ("By year", table_html(rows, cols) + "".join(
            f"<p>{b['year']}: {html.escape(b['constraint'])} binds in {html.escape(', '.join(b['counties']))}</p>"
            for b in summary.get("binding", []) if b["counties"])),
        (f"Warnings ({len(summary.get('warnings', []))})", warnings_html(summary.get("warnings", []))), ("Solver", solver),
        ("Map", image_html(map_bytes, "stations by year opened")), ("Build-out by year", image_html(chart, "build-out chart")),
    ])


def chart_png(table: pd.DataFrame, title: str) -> bytes:
    """PNG bytes of ``buildout.png``, three panels by year: stations (open, of which new),
    installed DC/AC ports (stacked, total on each bar) and the served share of the public
    charging demand (%). Legends sit above the bars (headroom), axes carry units.

    Deterministic (no timestamp in the PNG metadata).
    """
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    yrs = table["year"].astype(int).to_numpy()
    fig = Figure(figsize=(13, 4.6), dpi=110)
    axes = fig.subplots(1, 3)
    ax = axes[0]
    st, new = table["stations"].to_numpy(), table["stations_new"].to_numpy()
    ax.bar(yrs, st, color="#4c72b0", label="open at year end")
    ax.bar(yrs, new, color="#dd8452", width=0.5, label="of which new this year")
    for x, v in zip(yrs, st):
        ax.annotate(f"{v:,}", (x, v), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
    ax.set_ylim(0, max(float(st.max()) if len(st) else 1.0, 1.0) * 1.3)
    ax.set_title("Stations")
    ax.set_ylabel("stations")
    ax = axes[1]
    dc, ac = table["ports_dc"].to_numpy(), table["ports_ac"].to_numpy()
    ax.bar(yrs, dc, color="#c44e52", label="DC fast")
    ax.bar(yrs, ac, bottom=dc, color="#55a868", label="AC level-2")
    for x, v in zip(yrs, dc + ac):
        ax.annotate(f"{v:,}", (x, v), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
    ax.set_ylim(0, max(float((dc + ac).max()) if len(dc) else 1.0, 1.0) * 1.3)
    ax.set_title("Charging ports installed")
    ax.set_ylabel("ports (DC + AC)")
    ax = axes[2]
    ax.plot(yrs, 100 * table["served_share"], marker="o", color="#8172b3", label="served share")
    for x, v in zip(yrs, table["served_share"]):
        ax.annotate(f"{100 * v:.1f} %", (x, 100 * v), textcoords="offset points", xytext=(0, -13), ha="center", fontsize=7)
    ax.set_ylim(0, 112)
    ax.set_title("Public charging demand served")
    ax.set_ylabel("served share of the demand (%)")
    for a in axes:
        a.set_xticks(yrs)
        a.set_xlim(yrs.min() - 0.6, yrs.max() + 0.6)  # room for the first and last value labels
        a.set_xlabel("year")
        a.tick_params(axis="x", labelrotation=45)
        a.grid(axis="y", alpha=0.3)
        if a is not axes[2]:
            a.legend(fontsize=8, loc="upper left", ncol=2, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
