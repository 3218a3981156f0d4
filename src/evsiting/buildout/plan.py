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
:mod:`evsiting.sizing`.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import blames_config
from ..areas import Prefectures
from ..config import BuildoutConfig, RunConfig
from ..demand import cells as dcells
from ..demand.segments import province_demand
from ..errors import InputError
from ..inputs import read_points
from ..models.buildout import BuildoutResult, CoverageRule, MultiPeriodSiting
from ..outputs import write_geojson, write_json
from ..stages.context import RunContext
from ..stages.s1_study import load_study
from ..stages.s2_demand import building_summary, demand_cells
from ..stages.s3_candidates import build_candidates
from ..stages.s5_model import existing_ports, port_capacities
from ..stages.s4_travel import reach_all_cells, travel_provider
from ..settings import WGS84


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
    time_limit: float | None = None,
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
    study = load_study(cfg, prefecture, progress)
    params, prefs, chosen = study.params, study.prefectures, study.chosen
    counties, census, seats = study.counties, study.census, study.seats
    run_name = study.run_name(cfg, prefecture) + "-plan"
    out_dir = ctx.folder(run_name)  # never delete a folder that is not an earlier output of this run
    user_sites = [f.copy() for f in study.user_sites]
    for pf, sites_f in zip(cfg.candidates.files, user_sites):
        if pf.existing and len(sites_f) and pf.dc_ports_column is None and pf.ac_ports_column is None:
            progress(f"warning: {pf.path}: the build-out plan keeps existing stations with their port counts; give "
                     f"dc_ports_column/ac_ports_column in its file block. Its {len(sites_f)} site(s) are offered as candidates")
            sites_f["required"] = False
    study = replace(study, user_sites=user_sites)
    bw_info = study.buildings_info
    ctx.done("data")

    # --- demand per year --------------------------------------------------------------
    fleets = {y: province_demand(y, cfg.demand.scenario, params, cfg.fleet) for y in years}
    last = fleets[years[-1]]
    p_last = last["params"]
    weights = dcells.county_weights(census, cfg.demand.weights)
    county_nevs = dcells.allocate_to_counties(last["nev_total"], weights)
    res_h3 = bo.h3_resolution or cfg.demand.h3_resolution
    cells = demand_cells(counties, county_nevs, census, seats, p_last, res_h3, last, study.buildings, bw_info)
    if int(cells["nev_count"].sum()) == 0:
        raise InputError("the demand total of the study area is zero", source="config", field="demand")
    nev_ref = cells["nev_count"].to_numpy(dtype=float)
    nev = np.array([nev_ref * fleets[y]["nev_total"] / last["nev_total"] for y in years])
    demand = np.array([nev[k] * fleets[y]["public_kwh_per_vehicle"] for k, y in enumerate(years)])
    ctx.done(f"demand ({len(cells):,} cells, {years[0]}-{years[-1]})")

    # --- candidates and travel times ---------------------------------------------------
    cands = build_candidates(cfg, study, cells, per_county=bo.candidates_per_county, osm=False)
    standard = cfg.model.service_standard_min
    provider = travel_provider(cfg)
    reached = reach_all_cells(provider, cells, cands, p_last, standard, standard)  # with the run's gap fill
    candidates, matrix, imp_info = reached.candidates.sites, reached.travel.matrix, reached.travel.info
    rules, rule_meta = _coverage_rules(cfg, bo, seats, counties, candidates, p_last, standard, provider)
    ctx.done(f"candidates ({len(candidates):,}) and travel times ({matrix.nnz:,} pairs)")

    # --- model -------------------------------------------------------------------------
    target = _per_year(bo.target_share, years, "target_share")
    budget = _per_year(bo.budget_cny, years, "budget_cny")
    ex_dc, ex_ac = existing_ports(candidates, len(candidates))  # existing stations: open, their ports free
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
    tl = time_limit if time_limit is not None else bo.time_limit_s
    result = mdl.solve(solver=solver or cfg.solver.name, time_limit=tl, mip_gap=bo.mip_gap, warm_start=bo.warm_start)
    ctx.done(f"model (multi-period, {len(years)} years, {result.status}, gap {result.gap:.4g})")

    # --- outputs -----------------------------------------------------------------------
    stations = _stations(candidates, counties, prefs, result)
    table = _table(years, fleets, nev, demand, result, budget)
    summary = {
        "run": run_name,
        "years": years,
        "scenario": cfg.demand.scenario,
        "objective": bo.objective,
        "service_standard_min": standard,
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
        png = chart_png(table, f"{run_name}: staged build-out {years[0]}-{years[-1]} ({result.status}, gap {result.gap:.3g})")

        def files(tmp: Path) -> None:
            write_geojson(stations, tmp / "buildout.geojson")
            table.to_csv(tmp / "buildout.csv", index=False, lineterminator="\n")
            (tmp / "buildout.png").write_bytes(png)
            write_json(summary, tmp / "summary.json")

        ctx.write_folder(out_dir, manifest, files)
    timings = ctx.timings
    return PlanResult(cfg, years, cells, candidates, stations, table, result, summary, manifest, out_dir, timings)


def _coverage_rules(cfg: RunConfig, bo: BuildoutConfig, seats: gpd.GeoDataFrame, counties: gpd.GeoDataFrame,
                    candidates: gpd.GeoDataFrame, params, standard: float, provider) -> tuple[list[CoverageRule], list[dict]]:
    """Coverage rules of the config as model rules (travel minutes from each place)."""
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
            path = cfg.path(pf.path)
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
    out = candidates.iloc[sel][["site_id", "county_adcode", "prefecture_adcode", "source", "geometry"]].copy()
    pref_names = {p.adcode: p.name_en for p in prefs.items}
    out.insert(1, "prefecture", out["prefecture_adcode"].map(pref_names))
    out.insert(2, "county", out["county_adcode"].map(counties.set_index("adcode")["name_zh"]))
    out["adcode"] = out["county_adcode"]
    out["open_year"] = res.open_year[sel]
    out["existing"] = res.existing[sel]
    dc, ac = res.dc_ports[:, sel], res.ac_ports[:, sel]
    dc_add = np.diff(np.vstack([np.zeros((1, len(sel)), dtype=np.int64), dc]), axis=0)
    ac_add = np.diff(np.vstack([np.zeros((1, len(sel)), dtype=np.int64), ac]), axis=0)
    for k, y in enumerate(res.years):
        out[f"dc_added_{y}"] = dc_add[k]
        out[f"ac_added_{y}"] = ac_add[k]
    out["ports_dc"] = dc[-1]
    out["ports_ac"] = ac[-1]
    out["served_kwh_day_last_year"] = np.round(res.site_served[-1, sel], 3)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=WGS84)
    return out.sort_values(["open_year", "site_id"]).reset_index(drop=True)


def _table(years: list[int], fleets: dict, nev: np.ndarray, demand: np.ndarray, res: BuildoutResult,
           budget) -> pd.DataFrame:
    """One row per year: NEVs, demand and served kWh/day, share, stations, ports, CNY."""
    open_t = (res.dc_ports + res.ac_ports) > 0
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
            "stations_new": int(open_t[k].sum() - (open_t[k - 1].sum() if k else res.existing.sum())),
            "ports_dc": int(res.dc_ports[k].sum()),
            "ports_ac": int(res.ac_ports[k].sum()),
            "ports_dc_added": int(res.dc_ports[k].sum() - prev_dc),
            "ports_ac_added": int(res.ac_ports[k].sum() - prev_ac),
            "spend_cny": round(float(res.spend[k]), 2),
            "budget_cny": None if b is None or not np.isfinite(b) else float(b),
        })
    return pd.DataFrame(rows)


def chart_png(table: pd.DataFrame, title: str) -> bytes:
    """PNG bytes of three panels by year: stations (open, new), DC/AC ports, served share.

    Deterministic (no timestamp in the PNG metadata).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yrs = table["year"].astype(int).to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    ax = axes[0]
    ax.bar(yrs, table["stations"], color="#4c72b0", label="open")
    ax.bar(yrs, table["stations_new"], color="#dd8452", label="new this year")
    ax.set_title("Stations")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.bar(yrs, table["ports_dc"], color="#c44e52", label="DC fast")
    ax.bar(yrs, table["ports_ac"], bottom=table["ports_dc"], color="#55a868", label="AC level-2")
    ax.set_title("Charging ports (installed)")
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(yrs, 100 * table["served_share"], marker="o", color="#8172b3")
    for x, v in zip(yrs, table["served_share"]):
        ax.annotate(f"{100 * v:.1f}%", (x, 100 * v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_title("Served share of public charging demand (%)")
    for a in axes:
        a.set_xticks(yrs)
        a.set_xlabel("year")
        a.tick_params(axis="x", labelrotation=45)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
