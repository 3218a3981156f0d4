"""Trade-off sweeps: how much coverage, and at what cost, for how many stations (``--p``) or
for how much money (``--budget``).

The demand cells, candidate sites and travel-time matrix are built once (one pipeline run,
not written); then the model is solved for each value:

- ``p`` sweep: MCLP with at most ``p`` stations (the run's model); each solution is sized like
  a run (:func:`evsiting.sizing.ports.size_stations` with the Erlang-C peak check) and costed
  (:mod:`evsiting.sizing.costs`).
- ``budget`` sweep: the run's capacitated model (:func:`evsiting.stages.s5_model.capacitated_model`)
  with each budget (CNY): the least-cost plan serving all servable energy when it fits the budget
  (the budget does not bind), else the most public energy served (kWh/day) within it; ports are
  the model's (no separate peak check).

Values are solved in increasing order, and each row says where its plan comes from (``source``)
and what its own solve reported (``status``, ``bound``, ``gap``):

- p sweep: a solution for a smaller ``p`` is feasible for a larger one, so when a solver stopped
  early returns less than that, the earlier solution is kept; once every coverable demand point
  is covered, larger ``p`` reuse the solution without solving (it is optimal). With proven
  optimal solves, coverage is therefore non-decreasing in ``p``.
- budget sweep: served energy never falls as the budget grows, and among plans serving the same
  energy the cheaper one wins: a smaller budget's plan fits every larger budget, so when a solve
  serves less, or the same for more money, the earlier plan is kept (``source`` "reused: ...").
  The least-cost plan serving all servable energy is solved once; every budget at or above
  its cost has it as the answer (``status`` "not binding") and is not solved again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from evsiting.core.errors import blames_config
from evsiting.models._core import standard_text
from evsiting.stages.s5_model import standard_of
from evsiting.config.inputs import resolve_inputs
from evsiting.config.schema import RunConfig
from evsiting.sizing.costs import station_cost
from evsiting.core.errors import InputError
from evsiting.config.params import Parameter, Parameters

#: Columns of ``tradeoff.csv`` (no solve times, so the same sweep gives the same bytes).
TRADEOFF_COLUMNS = [
    "value", "stations", "ports_dc", "ports_ac", "power_kw", "nev_count", "nev_covered", "coverage_share",
    "energy_kwh_day", "energy_served_kwh_day", "unserved_energy_kwh_day", "nev_per_public_charger", "cost_cny",
    "status", "objective", "bound", "gap", "source",
]
#: Columns of the p sweep's ``tradeoff.csv``: :data:`TRADEOFF_COLUMNS`, the stations that need
#: more ports than one site holds (MCLP has no capacity) and the row's warnings ("; "-joined).
P_SWEEP_COLUMNS = TRADEOFF_COLUMNS + ["stations_over_site_max", "warnings"]


@dataclass
class SweepInputs:
    """What every solve of a sweep shares.

    Attributes:
        cells: demand cells (WGS84) with ``nev_count``, ``energy_kwh_day``, ``energy_dc_kwh_day``.
        candidates: candidate sites (WGS84 points).
        matrix: csr (n_cells, n_candidates) travel minutes within the service standard.
        params: the run's parameters (scenario and config overrides applied).
        standard_min: service standard, minutes: one value or each cell's own (n_cells,).
        weight: MCLP weight column (``nev_count`` or ``energy_kwh_day``).
        run_name: name of the underlying run.
        summary: ``run``, ``year`` and ``scenario`` (or a run's whole summary).
        files: the records of the data files read (the manifest's ``data_files``).
        impedance: the travel-time method's record.
    """

    cells: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    matrix: sp.csr_matrix
    params: Parameters
    standard_min: float | np.ndarray
    weight: str
    run_name: str
    summary: dict
    files: list = field(default_factory=list)
    impedance: dict = field(default_factory=dict)


def parse_values(spec: str, integer: bool = False, option: str = "values") -> list[float]:
    """Values of a sweep: ``START:STOP:STEP`` (STOP included when on the grid), a comma list
    ``10,20,50`` or one value. Sorted, unique.

    Raises:
        InputError: malformed text, STOP below START, non-positive step or values (``field`` =
            ``option``, the CLI option the text came from).
    """
    text = str(spec).strip().replace("_", "")
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if step <= 0 or stop < start:
                problem = "STEP must be positive" if step <= 0 else f"STOP {stop:g} is below START {start:g}"
                raise InputError(f"'{spec}': {problem}", field=option)
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            vals = [start + k * step for k in range(n)]
        else:
            vals = [float(x) for x in text.split(",") if x.strip()]
    except InputError:
        raise
    except ValueError:
        raise InputError(f"'{spec}': expected START:STOP:STEP or a comma-separated list of numbers", field=option) from None
    if not vals or any(not math.isfinite(v) or v <= 0 for v in vals):
        raise InputError(f"'{spec}': values must be positive numbers", field=option)
    if integer:
        if any(v != round(v) for v in vals):
            raise InputError(f"'{spec}': values must be whole numbers", field=option)
        vals = [int(round(v)) for v in vals]
    return sorted(set(vals))


def params_from_manifest(manifest: dict) -> Parameters:
    """The parameters a run used (its manifest's ``parameters`` records)."""
    return Parameters({r["name"]: Parameter(**r) for r in manifest["parameters"]})


@blames_config
def prepare(cfg: RunConfig, prefecture: str | None = None, progress: Callable[[str], None] = lambda m: None) -> SweepInputs:
    """Build demand, candidates and the travel-time matrix (within the service standard) once,
    with the run's stages (:mod:`evsiting.stages`, the gap fill and, for the capacitated model,
    the capacity fill included); no model is solved.

    Raises:
        InputError: as the study, demand, candidates and travel-time stages.
    """
    from evsiting.stages.context import RunContext
    from evsiting.stages.instance import build_instance
    from evsiting.stages.s1_study import load_study

    ctx = RunContext.open(cfg, write=False, progress=progress)
    study = load_study(cfg, prefecture, progress, inputs=ctx.inputs, params=ctx.params)
    ctx.done("data")
    inst = build_instance(cfg, study, ctx, cut_to_standard=True)  # the same instance as `run`, pairs within each cell's standard
    demand, cands, travel = inst.demand, inst.reached.candidates, inst.travel
    standard = standard_of(cfg.model, demand.cells)
    run_name = study.run_name(cfg, prefecture)
    summary = {"run": run_name, "year": cfg.year, "scenario": cfg.demand.scenario}
    return SweepInputs(demand.cells, cands.sites, travel.matrix, demand.params, standard, getattr(cfg.model, "weight", "nev_count"),
                       run_name, summary, study.files, travel.info)


def from_result(res) -> SweepInputs:
    """Sweep inputs from a :class:`evsiting.runs.run.RunResult` (no new pipeline run): its
    demand cells, candidates, travel-time matrix, parameters, standard and weight."""
    from evsiting.stages.s5_model import standard_of

    cells = res.cells.drop(columns=["covered", "travel_min", "station_id"], errors="ignore")
    cfg = res.config
    return SweepInputs(cells, res.candidates, res.matrix, params_from_manifest(res.manifest), standard_of(cfg.model, cells),
                       getattr(cfg.model, "weight", "nev_count"), res.summary["run"], res.summary,
                       res.manifest.get("data_files", []), res.manifest.get("impedance", {}))


def evaluate(inp: SweepInputs, selected: np.ndarray) -> dict:
    """Coverage, ports and cost of a set of open stations, sized as a run sizes them.

    Returns:
        dict with the measure columns of :data:`TRADEOFF_COLUMNS` (``stations`` ... ``cost_cny``)
        and ``stations_over_site_max`` (stations needing more ports than
        ``site_max_dc_ports``/``site_max_ac_ports``).
    """
    from evsiting.sizing.ports import size_stations
    from evsiting.stages.s6_sizing import assign_cells

    selected = np.asarray(selected, dtype=np.int64)
    assign, _ = assign_cells(inp.matrix, selected)
    ok = assign >= 0
    m = len(inp.candidates)
    e = inp.cells["energy_kwh_day"].to_numpy(dtype=float)
    e_dc = inp.cells["energy_dc_kwh_day"].to_numpy(dtype=float)
    energy = np.bincount(assign[ok], weights=e[ok], minlength=m)[selected]
    energy_dc = np.bincount(assign[ok], weights=e_dc[ok], minlength=m)[selected]
    sized = size_stations(energy, inp.params, dc_energy_kwh_day=np.minimum(energy_dc, energy), peak_check=True)
    out = _measures(inp, selected, ok, sized["ports_dc"], sized["ports_ac"], power=sized["power_kw"], served_kwh=float(e[ok].sum()))
    over = (np.asarray(sized["ports_dc"]) > inp.params.value("site_max_dc_ports")) | (np.asarray(sized["ports_ac"]) > inp.params.value("site_max_ac_ports"))
    out["stations_over_site_max"] = int(over.sum())
    return out


def _measures(inp: SweepInputs, selected, covered: np.ndarray, dc, ac, *, power, served_kwh: float) -> dict:
    nev = inp.cells["nev_count"].to_numpy(dtype=float)
    e_total = float(inp.cells["energy_kwh_day"].sum())
    dc = np.asarray(dc, dtype=np.int64)
    ac = np.asarray(ac, dtype=np.int64)
    ports = int(dc.sum() + ac.sum())
    n_total = int(nev.sum())
    n_cov = int(nev[covered].sum())
    return {
        "stations": int(len(selected)),
        "ports_dc": int(dc.sum()),
        "ports_ac": int(ac.sum()),
        "power_kw": float(np.sum(power)),
        "nev_count": n_total,
        "nev_covered": n_cov,
        "coverage_share": round(n_cov / n_total, 6) if n_total else 0.0,
        "energy_kwh_day": round(e_total, 3),
        "energy_served_kwh_day": round(served_kwh, 3),
        "unserved_energy_kwh_day": round(e_total - served_kwh, 3),
        "nev_per_public_charger": round(n_total / ports, 3) if ports else None,
        "cost_cny": round(float(station_cost(dc, ac, inp.params).sum()), 2) if len(selected) else 0.0,
    }


def _coverable_weight(inp: SweepInputs) -> float:
    ok = np.diff(inp.matrix.indptr) > 0
    w = inp.cells[inp.weight].to_numpy(dtype=float)
    return float(w[ok].sum())


def sweep_p(inp: SweepInputs, values: list[int], solver: str = "cbc", time_limit: float | None = None,
            mip_gap: float | None = None, *, progress: Callable[[str], None] = lambda m: None) -> pd.DataFrame:
    """MCLP for each ``p`` in ``values`` (increasing), sized and costed.

    Returns:
        DataFrame with :data:`P_SWEEP_COLUMNS` (``value`` = p), one row per value.

    Raises:
        InputError: a value exceeds the number of candidate sites.
        SolverError: from the solver.
    """
    from evsiting.models import MCLP

    values = sorted(int(v) for v in values)
    m = len(inp.candidates)
    if values and values[-1] > m:
        raise InputError(f"p = {values[-1]} stations but only {m} candidate sites", field="--p")
    w = inp.cells[inp.weight].to_numpy(dtype=float)
    coverable = _coverable_weight(inp)
    rows = []
    best = None  # (p, selected, objective, bound)
    for p in values:
        if best is not None and best[2] >= coverable - 1e-9:
            sel, status, obj, bound, gap = best[1], "optimal", best[2], coverable, 0.0
            source = f"p={best[0]} covers all coverable demand"
        else:
            res = MCLP.from_cost_matrix(inp.matrix, weights=w, service_radius=inp.standard_min, p_facilities=p).solve(
                solver=solver, time_limit=time_limit, mip_gap=mip_gap)
            sel, status, obj, bound, gap, source = res.selected, res.status, res.objective, res.bound, res.gap, "solved"
            if best is not None and obj < best[2] - 1e-9:  # stopped early below a smaller p's solution
                sel, obj, source = best[1], best[2], f"incumbent of p={best[0]} (solver stopped at {res.objective:.6g})"
                gap = abs(obj - bound) / max(abs(obj), 1e-10)
            if best is None or obj >= best[2] - 1e-9:
                best = (p, np.asarray(sel), obj, bound)
        row = {"value": p, **evaluate(inp, sel), "status": status, "objective": round(float(obj), 6),
               "bound": round(float(bound), 6), "gap": round(float(gap), 9), "source": source}
        row["warnings"] = "; ".join(_p_row_warnings(inp, row, mip_gap))
        rows.append(row)
        progress(f"  p={p}: {row['stations']} stations, coverage {row['coverage_share']:.1%}, {row['cost_cny'] / 1e6:,.1f} M CNY ({status})"
                 + (f"; {len(row['warnings'].split('; '))} warning(s), listed at the end" if row["warnings"] else ""))
    return pd.DataFrame(rows, columns=P_SWEEP_COLUMNS)


def _p_row_warnings(inp: SweepInputs, row: dict, mip_gap: float | None) -> list[str]:
    """The warnings of one p-sweep row, as a run would give them (:mod:`evsiting.report.warnings`):
    stations over the site maximum, demand no candidate reaches, a solve short of its gap."""
    from evsiting.report.warnings import over_site_max_warning, solver_warning

    out = []
    n_over = row["stations_over_site_max"]
    if over_site_max_warning(n_over, inp.params.value("site_max_dc_ports"), inp.params.value("site_max_ac_ports")):
        # one short line without '; ' (the row's warnings are '; '-joined): MCLP has no station capacity
        out.append(f"{n_over:,} station(s) need more ports than one site holds ({inp.params.value('site_max_dc_ports'):g} DC / "
                   f"{inp.params.value('site_max_ac_ports'):g} AC, parameters site_max_*): MCLP has no station capacity, "
                   "add candidate sites (candidates.per_county) or sweep budgets with the capacitated model (--budget)")
    unreached = np.diff(inp.matrix.indptr) == 0
    nev = inp.cells["nev_count"].to_numpy(dtype=float)
    if (unreached & (nev > 0)).any():
        out.append(f"{int((unreached & (nev > 0)).sum()):,} demand cell(s) with {int(nev[unreached].sum()):,} NEVs are beyond the "
                   "service standard of every candidate")
    if row["source"] == "solved" and (line := solver_warning(row["status"], row["gap"], mip_gap if mip_gap is not None else 1e-4)):
        out.append(line)
    return out


def sweep_budget(inp: SweepInputs, values: list[float], solver: str = "cbc", time_limit: float | None = None,
                 mip_gap: float | None = None, *, progress: Callable[[str], None] = lambda m: None) -> pd.DataFrame:
    """The run's capacitated model (:func:`evsiting.stages.s5_model.capacitated_model`) with a
    budget (most kWh/day served) for each budget in CNY.

    The same port rule as ``run``: port capacity per day = ``*_charger_power_kw`` x
    ``*_utilisation_hours``, DC energy at DC ports only, station maxima ``site_max_*_ports``;
    costs ``site_cost``, ``dc_port_cost``, ``ac_port_cost``. ``coverage_share`` counts NEVs within the service
    standard of an open station (as for MCLP); ``energy_served_kwh_day`` is what the model
    serves within port capacities.

    Returns:
        DataFrame with :data:`TRADEOFF_COLUMNS` (``value`` = budget, CNY).
    """
    from evsiting.stages.s5_model import CAPACITATED_MIP_GAP, ModelInputs, capacitated_model
    from evsiting.stages.s6_sizing import assign_cells

    pr = inp.params
    required = np.flatnonzero(inp.candidates["required"].to_numpy()) if "required" in inp.candidates.columns else np.zeros(0, dtype=np.int64)
    gap_target = CAPACITATED_MIP_GAP if mip_gap is None else mip_gap
    minp = ModelInputs(inp.cells, inp.matrix, required, pr, inp.candidates)
    # the least-cost plan serving all servable energy, once: every budget at or above its cost
    # has it as the answer (served energy proven maximal, cost within its gap)
    least = capacitated_model(_capacitated_block(inp), minp).solve(
        solver=solver, time_limit=time_limit, mip_gap=gap_target)
    progress(f"  least cost serving all servable energy: {least.capital_cny / 1e6:,.1f} M CNY ({least.status}, gap {least.gap:.2%})")
    rows = []
    best = None  # (budget, result): the plan kept so far (most energy served, then least capital)
    for b in sorted(float(v) for v in values):
        if least.capital_cny <= b * (1 + 1e-9) + 1e-6:
            res_use, status, bound, gap = least, "not binding", least.bound, least.gap
            source = (f"the budget does not bind: the least-cost plan serving all servable energy "
                      f"({least.capital_cny:,.0f} CNY, {least.status} within {least.gap:.2%}), solved once for the sweep")
            if best is not None and float(best[1].served.sum()) >= float(least.served.sum()) - 1e-6 \
                    and best[1].capital_cny < least.capital_cny - 1e-6:
                res_use = best[1]
                source = f"reused: the plan of budget {best[0]:,.0f} CNY serves the same energy for less"
        else:
            # the run's own capacitated model and port rule (evsiting.stages.s5_model), with a budget
            block = _capacitated_block(inp, budget_cny=b)
            res = capacitated_model(block, minp).solve(solver=solver, time_limit=time_limit, mip_gap=gap_target,
                                                      least_cost_first=False)
            status, bound, gap, source, res_use = res.status, res.bound, res.gap, "solved", res
            if best is not None:
                prev_b, prev = best
                more = float(prev.served.sum()) > float(res.served.sum()) * (1 + 1e-9) + 1e-6
                same = abs(float(prev.served.sum()) - float(res.served.sum())) <= 1e-6 * max(float(res.served.sum()), 1.0)
                if more:  # the smaller budget's plan fits this budget too and serves more
                    res_use = prev
                    source = (f"reused: the plan of budget {prev_b:,.0f} CNY serves more "
                              f"({prev.served.sum():,.0f} kWh/day; this solve stopped at {res.served.sum():,.0f})")
                elif same and prev.capital_cny < res.capital_cny - 1e-6:
                    res_use = prev
                    source = (f"reused: the plan of budget {prev_b:,.0f} CNY serves the same energy for less "
                              f"({prev.capital_cny:,.0f} against {res.capital_cny:,.0f} CNY)")
            if res_use is res:
                best = (b, res)
        sel = res_use.selected
        assign, _ = assign_cells(inp.matrix, sel)
        served_kwh = float(res_use.served.sum())
        meas = _measures(inp, sel, assign >= 0, res_use.dc_ports[sel], res_use.ac_ports[sel],
                         power=res_use.dc_ports[sel] * pr.value("dc_charger_power_kw") + res_use.ac_ports[sel] * pr.value("ac_charger_power_kw"),
                         served_kwh=served_kwh)
        meas["stations"] = int(np.asarray(res_use.stations)[sel].sum())  # stations, not sites (a cell site may hold several)
        meas["cost_cny"] = round(float(res_use.capital_cny), 2)  # the model's capital (existing ports free)
        row = {"value": b, **meas, "status": status, "objective": round(float(res_use.objective), 6),
               "bound": round(float(bound), 6), "gap": round(float(gap), 9), "source": source}
        rows.append(row)
        progress(f"  budget {b / 1e6:,.1f} M CNY: {row['stations']} stations, {row['cost_cny'] / 1e6:,.1f} M CNY, served "
                 f"{row['energy_served_kwh_day']:,.0f} kWh/day ({status}{'' if source == 'solved' or status == 'not binding' else ', reused'})")
    return pd.DataFrame(rows, columns=TRADEOFF_COLUMNS)


def plot_tradeoff(df: pd.DataFrame, path: Path, title: str = "", xlabel_value: str = "p") -> Path:
    """``tradeoff.png`` against the swept value.

    - p sweep (``xlabel_value="p"``): x = p, the most stations MCLP may open; NEVs within the
      service standard (%, left axis) and capital cost (million CNY, right axis). A p whose
      solution opens fewer stations is drawn with a hollow marker.
    - budget sweep: x = budget (million CNY); public charging energy served and NEVs within
      the standard (%, left axis), and the plan's capital cost (million CNY, right axis, on the
      same scale as x, with the budget itself as a dotted line: spend never exceeds it).

    Titles differ by kind; no point labels, so nothing overlaps. Deterministic bytes.
    """
    from matplotlib.figure import Figure  # no pyplot: leaves the caller's backend alone

    fig = Figure(figsize=(8.0, 4.8), dpi=120)
    ax = fig.subplots()
    ax2 = ax.twinx()
    v = df["value"].to_numpy(dtype=float)
    cov = 100 * df["coverage_share"].to_numpy(dtype=float)
    cost = df["cost_cny"].to_numpy(dtype=float) / 1e6
    if xlabel_value == "p":
        x = v
        fewer = df["stations"].to_numpy() < v
        ax.plot(x, cov, "o-", color="tab:blue", label="NEVs covered (%)", zorder=3)
        if fewer.any():
            ax.plot(x[fewer], cov[fewer], "o", mfc="white", color="tab:blue", label="NEVs covered, fewer stations opened than p", zorder=3)
        ax2.plot(x, cost, "s--", color="tab:red", ms=4, label="capital cost (M CNY)", zorder=2)
        ax.set_xlabel("p: most stations MCLP may open")
        ax.set_ylabel("NEVs within the service standard (%)")
        head = "MCLP trade-off: NEVs covered and cost against the number of stations p"
    else:
        x = v / 1e6
        energy = df["energy_kwh_day"].to_numpy(dtype=float)
        served = 100 * df["energy_served_kwh_day"].to_numpy(dtype=float) / np.where(energy > 0, energy, 1.0)
        ax.plot(x, served, "o-", color="tab:green", label="public energy served (%)", zorder=3)
        ax.plot(x, cov, "^:", color="tab:blue", ms=5, label="NEVs within the standard of a station (%)", zorder=3)
        ax2.plot(x, cost, "s--", color="tab:red", ms=4, label="capital cost of the plan (M CNY)", zorder=2)
        ax2.plot(x, x, ":", color="0.5", lw=1, label="budget (spend limit)", zorder=1)
        ax.set_xlabel("budget (million CNY)")
        ax.set_ylabel("share of the public energy or NEVs (%)")
        head = "Budget trade-off: energy served and cost against the budget (capacitated model)"
    ax.set_ylim(0, 105)
    ax2.set_ylabel("capital cost (million CNY)", color="tab:red")
    ax2.set_ylim(0, max(float(np.nanmax(cost)) if len(cost) else 1.0, float(x.max()) if xlabel_value != "p" and len(x) else 0.0, 1e-6) * 1.1)
    ax.set_zorder(ax2.get_zorder() + 1)  # the shares above the cost line
    ax.patch.set_visible(False)
    ax.grid(alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=7.5, framealpha=0.9)
    ax.set_title(f"{head}\n{title}" if title else head, fontsize=9.5)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return Path(path)


def write_sweep(df: pd.DataFrame, out_dir: Path, title: str, kind: str = "p", manifest: dict | None = None) -> Path:
    """Write ``tradeoff.csv``, ``tradeoff.png``, ``report.html`` (:func:`evsiting.report.html.sweep_report`)
    and (when given) ``manifest.json`` into ``out_dir`` (atomically replaced)."""
    from evsiting.io.writers import atomic_dir, write_json

    with atomic_dir(Path(out_dir)) as tmp:
        df.rename(columns={"value": "p" if kind == "p" else "budget_cny"}).to_csv(tmp / "tradeoff.csv", index=False, lineterminator="\n")
        plot_tradeoff(df, tmp / "tradeoff.png", title, kind)
        from evsiting.report.html import sweep_report

        (tmp / "report.html").write_text(sweep_report(df, title, kind, (tmp / "tradeoff.png").read_bytes()), encoding="utf-8")
        if manifest is not None:
            write_json(manifest, tmp / "manifest.json")
    return Path(out_dir)


def run_sweep(cfg: RunConfig, kind: str, values: list, *, prefecture: str | None = None, out: Path | None = None,
              solver: str | None = None, time_limit: float | None = None,
              progress: Callable[[str], None] = lambda m: None) -> tuple[pd.DataFrame, Path, SweepInputs]:
    """The whole ``evsiting sweep``: the instance once (:func:`prepare`), one solve per value
    (:func:`sweep_p` for ``kind`` ``"p"``, :func:`sweep_budget` for ``"budget"``, CNY), and the
    folder ``out`` (default ``<output_dir>/<run>-sweep-<kind>``) written atomically.

    Returns:
        (the trade-off table, the folder written, the instance: :class:`SweepInputs`).

    Raises:
        InputError: as :func:`prepare` and the solves; nothing is written then.
    """
    inp = prepare(cfg, prefecture, progress=progress)
    solve = sweep_p if kind == "p" else sweep_budget
    opts = {"solver": solver or cfg.solver.name, "time_limit": time_limit if time_limit is not None else cfg.solver.time_limit_s,
            "mip_gap": cfg.solver.mip_gap}
    df = solve(inp, values, progress=progress, **opts)
    target = out or resolve_inputs(cfg).output_dir / f"{inp.run_name}-sweep-{kind}"
    title = f"{inp.run_name}: {inp.summary['year']}, {inp.summary['scenario']} scenario, standard {standard_text(inp.standard_min)} min"
    manifest = sweep_manifest(cfg, inp, kind, values, prefecture=prefecture, **opts)
    write_sweep(df, target, title, kind, manifest)
    return df, target, inp


def sweep_model(kind: str) -> str:
    """The model a sweep of ``kind`` (``"p"`` or ``"budget"``) solves, as its manifest names it:
    the class (:class:`~evsiting.models.MCLP` for ``p``; for ``budget`` the class of
    :func:`evsiting.stages.s5_model.capacitated_model`, :class:`~evsiting.models.CapacitatedSiting`)
    and what it optimises."""
    from evsiting.models import MCLP, CapacitatedSiting

    if kind == "p":
        return f"{MCLP.name} (most NEVs within the service standard with at most p stations)"
    return (f"{CapacitatedSiting.name} (most energy served within the budget; the least-cost plan serving all "
            f"servable energy where the budget does not bind)")


def sweep_manifest(cfg: RunConfig, inp: SweepInputs, kind: str, values: list, solver: str, *, time_limit: float | None,
                   mip_gap: float | None, prefecture: str | None = None) -> dict:
    """``manifest.json`` of a sweep: config, data files, parameters, travel times, solver and
    the swept values, package versions (as :meth:`evsiting.stages.context.RunContext.manifest`)."""
    from evsiting.stages.context import RunContext

    ctx = RunContext(Path("."), "--out", write=False)
    return ctx.manifest(
        cfg, f"{inp.run_name}-sweep-{kind}",
        prefecture_option=prefecture,
        data_files=inp.files,
        parameters=inp.params.to_frame().to_dict(orient="records"),
        impedance=inp.impedance,
        solver={"name": solver, "time_limit_s": time_limit, "mip_gap": mip_gap},
        sweep={"kind": kind, "values": list(values), "model": sweep_model(kind)},
        sizes={"demand_cells": len(inp.cells), "candidates": len(inp.candidates), "matrix_pairs": int(inp.matrix.nnz)},
    )


def _capacitated_block(inp: SweepInputs, **kw):
    """The capacitated model block of a sweep: the cells' own standards (column
    ``standard_min``) when they carry them, else the one standard of ``inp``."""
    from evsiting.config.schema import CapacitatedConfig

    if np.ndim(inp.standard_min) == 0:
        kw["service_standard_min"] = float(inp.standard_min)
    return CapacitatedConfig(**kw)
