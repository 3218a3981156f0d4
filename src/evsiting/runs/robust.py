"""The robust build-out run (``evsiting plan CONFIG --robust``): one network for the early
years (up to ``buildout.robust.early_until``) that serves every adoption scenario, and each
scenario's later years on its own (:mod:`evsiting.models.robust`).

One instance for all scenarios: demand cells, candidate sites and travel times are built as
``evsiting plan`` builds them, for the last plan year of the scenario with the most NEVs then
(so that the capacity fill offers sites for the largest demand). Every scenario's cell NEVs
are those cells' NEVs scaled by the scenario's province stock of the year (the plan's own rule
for earlier years), and its public energy is NEVs x the scenario's blended public kWh/day per
vehicle of the year; each cell keeps one DC share. Each scenario's own nested plan is solved
on the same instance, so the regret compares like with like (it can differ slightly from
``evsiting plan`` with that scenario's config, whose candidates come from its own demand).

Writes ``outputs/<name>[-<prefecture>]-plan-robust/``: ``robust.csv`` (the regret table),
``buildout.csv`` (every scenario's year table), ``buildout.geojson`` (every scenario's
stations; ``shared`` marks the early network), ``buildout.png``, ``map.png``, ``report.html``,
``summary.json``, ``manifest.json``, atomically (:meth:`RunContext.write_folder`).
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from evsiting.config.schema import RunConfig
from evsiting.core.errors import InputError, blames_config
from evsiting.demand.segments import province_demand
from evsiting.io.writers import write_geojson, write_json
from evsiting.models.robust import RobustResult, robust_staged
from evsiting.runs.plan import (_gap_text, _stations, _table, nested_inputs, parse_years, plan_map_png, plan_method,
                                plan_study)
from evsiting.sizing.port_rule import existing_ports
from evsiting.stages.context import RunContext
from evsiting.stages.instance import build_instance
from evsiting.stages.s2_demand import build_demand, standards_summary
from evsiting.stages.s5_model import CAPACITATED_MIP_GAP, standard_of


@dataclass
class RobustPlanResult:
    """What a robust plan run produced (also written to ``out_dir``)."""

    config: RunConfig
    years: list[int]
    result: RobustResult
    stations: gpd.GeoDataFrame
    table: pd.DataFrame
    regret: pd.DataFrame
    summary: dict
    manifest: dict
    out_dir: Path | None = None
    timings: dict = field(default_factory=dict)


def _check(cfg: RunConfig, years: list[int]) -> None:
    """The robust plan needs the nested method and an ``early_until`` inside the plan."""
    bo = cfg.buildout
    if plan_method(cfg, bo) != "nested":
        raise InputError("--robust plans on the nested method: model.type capacitated, buildout.objective min_cost and "
                         "no buildout.budget_cny, target_share or coverage rule", source=cfg.source, field="buildout")
    eu = bo.robust.early_until
    if not years[0] <= eu < years[-1]:
        raise InputError(f"{eu} must lie in {years[0]}..{years[-1] - 1} (the plan years but the last) for --years "
                         f"{years[0]}:{years[-1]}", source=cfg.source, field="buildout.robust.early_until")
    if len(set(bo.robust.scenarios)) != len(bo.robust.scenarios):
        raise InputError("a scenario is named twice", source=cfg.source, field="buildout.robust.scenarios")
    extra = set(bo.robust.weights or {}) - set(bo.robust.scenarios)
    if extra:
        raise InputError(f"weights for scenarios not planned: {sorted(extra)}", source=cfg.source, field="buildout.robust.weights")


@blames_config
def robust_plan(cfg: RunConfig, years: list[int] | None = None, prefecture: str | None = None,
                out_base: Path | None = None, *, time_limit: float | None = None,
                progress: Callable[[str], None] = lambda msg: None, write: bool = True) -> RobustPlanResult:
    """Plan the robust build-out for ``cfg`` over ``years`` and write its folder.

    Args:
        cfg: validated run config (sections ``buildout`` and ``buildout.robust``).
        years: calendar years (default ``cfg.buildout.years``).
        prefecture: restrict to one prefecture (English, pinyin, Chinese, adcode).
        out_base: folder holding run folders (default ``cfg.output_dir``).
        time_limit: seconds for the whole robust solve (default ``buildout.time_limit_s`` x the
            number of scenarios x 2: each scenario's own plan and the robust plan).
        progress: called with a line of text at each stage.
        write: write the folder (False for notebooks and tests).

    Returns:
        :class:`RobustPlanResult`.

    Raises:
        InputError: bad data or config (``buildout.robust.*`` named). SolverError: no plan in
        the time limit.
    """
    bo, rc = cfg.buildout, cfg.buildout.robust
    years = years or parse_years(bo.years)
    if years[0] < cfg.fleet.base_year or years[-1] > cfg.fleet.last_year:
        raise InputError(f"plan years must lie in {cfg.fleet.base_year}..{cfg.fleet.last_year} (fleet projection)", field="--years")
    _check(cfg, years)
    ctx = RunContext.open(cfg, out_base, write=write, progress=progress)
    study, file_notes = plan_study(cfg, prefecture, progress, inputs=ctx.inputs, params=ctx.params)
    run_name = study.run_name(cfg, prefecture) + "-plan-robust"
    out_dir = ctx.folder(run_name)
    ctx.done("data")
    scenarios = list(rc.scenarios)
    fleets = {s: {y: province_demand(y, s, study.params, cfg.fleet) for y in years} for s in scenarios}
    ref = max(scenarios, key=lambda s: fleets[s][years[-1]]["nev_total"])
    cfg_ref = cfg.model_copy(update={"demand": cfg.demand.model_copy(update={"scenario": ref})})
    res_h3 = bo.h3_resolution or cfg.demand.h3_resolution
    demand_last = build_demand(study, year=years[-1], demand=cfg_ref.demand, fleet=cfg_ref.fleet, model=cfg_ref.model,
                               h3_resolution=res_h3, nev_province=fleets[ref][years[-1]]["nev_total"])
    inst = build_instance(cfg_ref, study, ctx, demand=demand_last, per_county=bo.candidates_per_county, osm=False, capacity_fill=True)
    cells, p_last, candidates, matrix = inst.cells, inst.params, inst.candidates, inst.travel.matrix
    nev_ref = cells["nev_count"].to_numpy(dtype=float)
    ref_total = fleets[ref][years[-1]]["nev_total"]
    nev = {s: np.array([nev_ref * fleets[s][y]["nev_total"] / ref_total for y in years]) for s in scenarios}
    demand = {s: np.array([nev[s][k] * fleets[s][y]["public_kwh_per_vehicle"] for k, y in enumerate(years)]) for s in scenarios}
    ex_dc, ex_ac = existing_ports(candidates, len(candidates))
    site_args, dc_share = nested_inputs(cfg, cells, candidates, p_last, ex_dc, ex_ac)
    tl = time_limit if time_limit is not None else (None if bo.time_limit_s is None else bo.time_limit_s * 2 * len(scenarios))
    result = robust_staged(matrix, demand, {s: demand[s] * dc_share[None, :] for s in scenarios}, years, standard_of(cfg.model, cells),
                           early_until=rc.early_until, site_args=site_args, weights=rc.weights, criterion=rc.criterion,
                           county_of=cells["county_name"].astype(str).tolist(), time_limit=tl,
                           mip_gap=CAPACITATED_MIP_GAP if bo.mip_gap is None else bo.mip_gap, progress=lambda m: progress(f"  {m}"))
    ctx.done(f"model (robust {rc.criterion}, {len(scenarios)} scenarios, {len(years)} years, {result.status}, gap {result.gap:.4g})")
    stations = pd.concat([_stations(candidates, study.counties, study.prefectures, result.plans[s]).assign(
        scenario=s, shared=lambda d: d["open_year"] <= rc.early_until) for s in scenarios], ignore_index=True)
    stations = gpd.GeoDataFrame(stations, geometry="geometry", crs=candidates.crs)
    table = pd.concat([_table(years, fleets[s], nev[s], demand[s], result.plans[s], budget=None).assign(scenario=s)
                       for s in scenarios], ignore_index=True)
    table = table[["scenario"] + [c for c in table.columns if c != "scenario"]]
    regret = pd.DataFrame(result.regret)
    summary = _summary(cfg, result, table, run_name=run_name, study=study, p_last=p_last, res_h3=res_h3,
                       candidates=len(candidates), time_limit=tl, notes=file_notes, reference=ref)
    manifest = ctx.manifest(cfg, run_name, prefecture_option=prefecture, years=years, robust=rc.model_dump(),
                            parameters=p_last.to_frame().to_dict(orient="records"), data_files=study.files,
                            impedance=inst.travel.info, solver={k: summary["robust"][k] for k in ("status", "objective_cny", "bound_cny", "gap")},
                            sizes={"demand_cells": len(cells), "candidates": len(candidates), "matrix_pairs": int(matrix.nnz)})
    if write:
        _write(ctx, out_dir, manifest, summary=summary, stations=stations, table=table, regret=regret, cells=cells,
               prefectures=[p.adcode for p in study.chosen], result=result)
    return RobustPlanResult(cfg, years, result, stations, table, regret, summary, manifest, out_dir if write else None, ctx.timings)


#: ``summary.json`` ``method`` of a robust plan.
METHOD = ("robust nested capacitated: the early years' network chosen once for every scenario, the later years per "
          "scenario (extensive form, proven bound); each year the least-cost part of the next year's network")


def _summary(cfg: RunConfig, result: RobustResult, table: pd.DataFrame, *, run_name: str, study, p_last, res_h3: int,
             candidates: int, time_limit, notes: list[str], reference: str) -> dict:
    """``summary.json`` of a robust plan (also what the console and the report show)."""
    rc = cfg.buildout.robust
    k_e = len(result.early_years) - 1
    any_plan = result.plans[result.scenarios[0]]
    summary = {
        "run": run_name, "years": result.years, "scenarios": result.scenarios,
        "weights": dict(zip(result.scenarios, result.weights)), "criterion": result.criterion,
        "early_until": rc.early_until, "early_years": result.early_years, "instance_scenario": reference,
        "objective": cfg.buildout.objective, "method": METHOD, **standards_summary(cfg.model, p_last),
        "study_prefectures": [p.name_en for p in study.chosen], "h3_resolution": res_h3, "candidates": candidates,
        "robust": {"status": result.status, "objective_cny": round(result.objective, 2), "bound_cny": round(result.bound, 2),
                   "gap": result.gap, "source": result.source, "message": result.message,
                   "cost_of_robustness_cny": round(result.cost_of_robustness_cny, 2),
                   "cost_of_robustness_max_cny": round(result.cost_of_robustness_max_cny, 2),
                   "runtime_s": round(result.runtime_s, 3), "time_limit_s": time_limit, "stats": result.stats},
        "shared": {"year": result.years[k_e], "stations": int(any_plan.stations[k_e].sum()),
                   "ports_dc": int(any_plan.dc_ports[k_e].sum()), "ports_ac": int(any_plan.ac_ports[k_e].sum())},
        "regret": result.regret,
        "own": {s: {"objective_cny": round(float(o.objective), 2), "bound_cny": round(float(o.bound), 2), "gap": o.gap,
                    "status": o.status} for s, o in result.own.items()},
        "by_scenario": {s: table[table["scenario"] == s].drop(columns="scenario").to_dict(orient="records") for s in result.scenarios},
        "years_solved": {s: p.year_results for s, p in result.plans.items()},
        "binding": {s: p.binding for s, p in result.plans.items()},
    }
    summary["determinism"] = robust_determinism(result)
    summary["warnings"] = notes + robust_warnings(summary, cfg.buildout.mip_gap)
    return summary


def robust_determinism(result: RobustResult) -> dict:
    """``summary.json`` ``determinism``: repeatable when no solve (the scenarios' own plans,
    the extensive form, the years filled in) stopped at its time limit."""
    limited = [f"{s}'s own plan {r['year']}" for s, o in result.own.items() for r in o.year_results
               if "time limit" in str(r.get("message") or "")]
    if result.stats.get("extensive_status") == "time_limit":
        limited.append("the extensive form")
    limited += [f"{s} {r['year']}" for s, p in result.plans.items() for r in p.year_results
                if "time limit" in str(r.get("message") or "")]
    if not limited:
        return {"deterministic": True, "why": "every solve ended by proof or at its gap before any time limit: fixed "
                                              "seeds and no clock in the search, so the same input gives the same plan"}
    return {"deterministic": False, "why": f"{', '.join(limited[:6])} stopped at the time limit: the plan depends on how far "
                                           "the solver got; raise --time-limit"}


def robust_warnings(summary: dict, mip_gap: float | None) -> list[str]:
    """One line each: a scenario's year serving less than all public energy (with where and
    what binds), a robust solve short of its target gap, a year solve stopped by its time limit."""
    out = []
    for s, rows in summary["by_scenario"].items():
        binds = {b["year"]: b for b in summary["binding"][s] if b.get("counties")}
        for r in rows:
            if float(r["served_share"]) < 0.9995:
                b = binds.get(r["year"])
                where = f": {b['constraint']} binds in {', '.join(b['counties'][:5])}" if b else ""
                out.append(f"{s} {r['year']}: {float(r['served_share']):.1%} of the public charging energy served{where}")
    if not summary["determinism"]["deterministic"]:
        out.append(f"not repeatable: {summary['determinism']['why']}")
    target = CAPACITATED_MIP_GAP if mip_gap is None else mip_gap
    g = summary["robust"]["gap"]
    if g > target * (1 + 1e-6):
        out.append(f"the robust plan is proven within {g:.2%} of the best robust plan, above the target of {target:.2%}: "
                   "raise --time-limit")
    return out


def robust_chart_png(table: pd.DataFrame, early_until: int, title: str) -> bytes:
    """``buildout.png`` of a robust plan: stations and cumulative spend (M CNY) by year, one
    line per scenario, the shared years shaded. Deterministic PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.4), dpi=110)
    axes = fig.subplots(1, 2)
    colours = {"low": "#55a868", "base": "#4c72b0", "high": "#c44e52"}
    for s, d in table.groupby("scenario", sort=False):
        yrs = d["year"].to_numpy()
        axes[0].plot(yrs, d["stations"], marker="o", color=colours.get(s), label=f"{s} scenario")
        axes[1].plot(yrs, d["spend_cny"].cumsum() / 1e6, marker="o", color=colours.get(s), label=f"{s} scenario")
        for ax, v, fmt in ((axes[0], d["stations"].iloc[-1], "{:,.0f}"), (axes[1], d["spend_cny"].sum() / 1e6, "{:,.0f}")):
            ax.annotate(fmt.format(v), (yrs[-1], v), textcoords="offset points", xytext=(4, 0), fontsize=7, va="center")
    yrs = np.sort(table["year"].unique())
    for ax, lab in ((axes[0], "stations open at year end"), (axes[1], "cumulative capital spend (M CNY)")):
        ax.axvspan(yrs[0] - 0.5, early_until + 0.5, color="#dddddd", alpha=0.6, lw=0, label=f"shared years (to {early_until})")
        ax.set_xticks(yrs)
        ax.set_xlim(yrs[0] - 0.6, yrs[-1] + 0.9)
        ax.set_ylim(0, None)
        ax.set_xlabel("year")
        ax.set_ylabel(lab)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", frameon=False)
    axes[0].set_title("Stations")
    axes[1].set_title("Capital spent so far")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


#: Columns of the regret table (report and console): key, header.
REGRET_COLUMNS = [("scenario", "scenario"), ("weight", "weight"), ("own_cost_cny", "own plan CNY"),
                  ("robust_cost_cny", "robust plan CNY"), ("regret_cny", "regret CNY"), ("regret_pct", "regret"),
                  ("regret_max_cny", "regret at most CNY"), ("own_shared", "own stations, shared year"),
                  ("robust_shared", "robust stations, shared year"), ("own_last", "own stations, last year"),
                  ("robust_last", "robust stations, last year")]


def regret_display(summary: dict) -> list[dict]:
    """The regret rows with the year-named columns under fixed keys (for the tables)."""
    y_e, y_l = summary["shared"]["year"], summary["years"][-1]
    return [{**r, "regret_pct": f"{100 * r['regret_share']:.2f} %", "own_shared": r[f"own_stations_{y_e}"],
             "robust_shared": r[f"robust_stations_{y_e}"], "own_last": r[f"own_stations_{y_l}"],
             "robust_last": r[f"robust_stations_{y_l}"]} for r in summary["regret"]]


def robust_report(summary: dict, table: pd.DataFrame, map_bytes: bytes, chart: bytes, map_scenario: str) -> str:
    """``report.html`` of a robust plan: the regret table, the bound, each scenario's years,
    warnings, the chart and a map (self-contained)."""
    from evsiting.report.html import image_html, kv_table, page, table_html, warnings_html
    from evsiting.report.warnings import standard_label

    r = summary["robust"]
    sh = summary["shared"]
    head = kv_table([
        ("criterion", f"{summary['criterion']} total cost (capital of the last year's network + drivers' access cost)"),
        ("weights", ", ".join(f"{s} {w:.3g}" for s, w in summary["weights"].items())),
        ("shared years", f"{summary['early_years'][0]}-{summary['early_years'][-1]}: {sh['stations']:,} stations, "
                         f"{sh['ports_dc']:,} DC + {sh['ports_ac']:,} AC ports in {sh['year']}, the same in every scenario"),
        ("robust objective", f"{r['objective_cny'] / 1e6:,.2f} M CNY ({r['status']}, from the {r['source']})"),
        ("proven bound", f"{r['bound_cny'] / 1e6:,.2f} M CNY: within {_gap_text(r['gap'])} of the best robust plan"),
        ("cost of robustness", f"{r['cost_of_robustness_cny'] / 1e6:,.2f} M CNY against each scenario's own plan "
                               f"(at most {r['cost_of_robustness_max_cny'] / 1e6:,.2f} M CNY, against their proven bounds)"),
    ])
    cols = [("year", "year"), ("nev_study_area", "NEVs"), ("demand_kwh_day", "demand kWh/day"), ("served_share", "served share"),
            ("stations", "stations"), ("stations_new", "new"), ("ports_dc", "DC ports"), ("ports_ac", "AC ports"),
            ("spend_cny", "spend CNY"), ("binding", "what limits service")]
    per = []
    for s, d in table.groupby("scenario", sort=False):
        rows = [{**x, "served_share": f"{100 * x['served_share']:.1f} %"} for x in d.to_dict(orient="records")]
        per.append((f"{s} scenario by year", table_html(rows, cols)))
    sub = (f"{', '.join(summary['scenarios'])} adoption scenarios, standard {standard_label(summary)}, "
           f"{summary['candidates']:,} candidate sites (built for the {summary['instance_scenario']} scenario's "
           f"{summary['years'][-1]} demand)")
    return page(f"{summary['run']}: robust build-out {summary['years'][0]}-{summary['years'][-1]}", sub, [
        ("Robust plan", head),
        ("Regret against each scenario's own plan", table_html(regret_display(summary), REGRET_COLUMNS) +
         "<p>Regret = robust cost - own cost (both CNY, within their solver gaps; a small negative value means the robust "
         "solve found a cheaper last-year network than the own solve). Regret at most = robust cost - the own plan's "
         "proven lower bound.</p>"),
        *per,
        (f"Warnings ({len(summary['warnings'])})", warnings_html(summary["warnings"])),
        ("Build-out by scenario", image_html(chart, "stations and spend by scenario")),
        (f"Map ({html.escape(map_scenario)} scenario)", image_html(map_bytes, "stations by year opened")),
    ])


def _write(ctx: RunContext, out_dir: Path, manifest: dict, *, summary: dict, stations, table: pd.DataFrame,
           regret: pd.DataFrame, cells, prefectures: list[int], result: RobustResult) -> None:
    """The plan folder, atomically (temp folder then rename)."""
    rc_until = summary["early_until"]
    chart = robust_chart_png(table, rc_until, f"{summary['run']}: robust build-out ({summary['criterion']}), "
                                              f"stations shared to {rc_until}")
    s_map = "base" if "base" in result.scenarios else summary["instance_scenario"]
    st = stations[stations["scenario"] == s_map].drop(columns=["scenario", "shared"])
    tab = table[table["scenario"] == s_map].drop(columns="scenario").reset_index(drop=True)
    last = float(table.loc[table["scenario"] == summary["instance_scenario"], "nev_study_area"].iloc[-1])
    scale = float(tab["nev_study_area"].iloc[-1]) / last if last > 0 else 1.0
    cells_map = cells.assign(nev_count=cells["nev_count"].to_numpy(dtype=float) * scale)  # the mapped scenario's NEVs
    map_bytes = plan_map_png(st, cells_map, prefectures, tab,
                             {**summary, "run": f"robust, {s_map} scenario", "method": "robust nested capacitated"})

    def files(tmp: Path) -> None:
        regret.to_csv(tmp / "robust.csv", index=False, lineterminator="\n")
        table.to_csv(tmp / "buildout.csv", index=False, lineterminator="\n")
        write_geojson(stations, tmp / "buildout.geojson")
        (tmp / "buildout.png").write_bytes(chart)
        (tmp / "map.png").write_bytes(map_bytes)
        (tmp / "report.html").write_text(robust_report(summary, table, map_bytes, chart, s_map), encoding="utf-8")
        write_json(summary, tmp / "summary.json")

    ctx.write_folder(out_dir, manifest, files)
