"""Benchmark: the capacitated siting model on the province default, ours vs plain pulp.

The instance is built by the pipeline's own stages (study, demand, candidates, travel times)
from the config (default ``configs/guizhou.yaml``; ``--prefecture`` for one prefecture) and the
model by :func:`evsiting.stages.s5_model.capacitated_model`, so the benchmark follows the
default model. (A config whose ``model.type`` is not ``capacitated`` is run as ``capacitated``
with its service standard; if ``capacitated_model`` does not return a
:class:`~evsiting.models.capacitated.CapacitatedSiting`, one is built from the same parameters.)

Three methods, the same time limit (``--time-limit``, default 600 s) and the same stopping gap
(the config's ``solver.mip_gap``, else the capacitated default 0.005):

- **ours**: ``CapacitatedSiting.solve`` (presolve, feasibility max-flow, LP bound, incumbent
  from the LP's stations, HiGHS branch-and-bound only when needed);
- **pulp+HiGHS** and **pulp+CBC**: the same formulation written directly with pulp (integer
  ``y``, ``nd``, ``na``; continuous ``w``; the rows of :mod:`evsiting.models._cflp`: demand,
  DC capacity, all-port capacity, ports only at open sites, strong flow-to-station linking,
  DC-port linking, and with the power limit the power row per site) on the same reduced instance (:meth:`CapacitatedSiting.reduce`: points out
  of reach dropped, energy capped at what the sites in reach hold), solved through pulp by the
  project's ``run_solver`` with default threads. The reduction is given to pulp for free
  (it is inside ours' time); the pulp model build is timed separately.

Per method: status, objective, bound, gap reached, seconds, and the **time to a 1 % gap**,
measured by a second solve with ``mip_gap=0.01`` (run first; if it does not reach 1 % within
the limit, the main solve would not either and is not repeated: its figures are the 1 % run's).
Ratios are the pulp figures over ours.

    .venv/bin/python benchmarks/bench_capacitated.py --prefecture Anshun --time-limit 120
    .venv/bin/python benchmarks/bench_capacitated.py              # province, up to ~6 x 600 s
    .venv/bin/python benchmarks/bench_capacitated.py --skip-cbc
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pulp

from evsiting.config.schema import CapacitatedConfig, load_config
from evsiting.models._cflp import Instance
from evsiting.models._core import finish_status, run_solver
from evsiting.models.capacitated import CapacitatedSiting
from evsiting.core.settings import configs_dir
from evsiting.stages.context import RunContext
from evsiting.stages.instance import build_instance
from evsiting.stages.s1_study import load_study
from evsiting.stages.s5_model import ModelInputs, capacitated_model

ONE_PERCENT = 0.01
DEFAULT_GAP = 0.005


def build_inputs(config: Path, prefecture: str | None):
    """(model block, ModelInputs, sizes) through the pipeline's stages, as ``run`` does."""
    cfg = load_config(config)
    if cfg.model.type != "capacitated":
        print(f"config model.type is {cfg.model.type!r}: run as 'capacitated' with its service standard")
        cfg = cfg.model_copy(update={"model": CapacitatedConfig(service_standard_min=cfg.model.service_standard_min)})
    ctx = RunContext.open(cfg, write=False)
    study = load_study(cfg, prefecture, inputs=ctx.inputs, params=ctx.params)
    # as `run` does: the one instance builder (gap fill and capacity fill included)
    inst = build_instance(cfg, study, ctx)
    demand, cands, travel = inst.demand, inst.reached.candidates, inst.travel
    kw = dict(cells=demand.cells, matrix=travel.matrix, required=cands.required, params=demand.params)
    if "candidates" in {f.name for f in dataclasses.fields(ModelInputs)}:
        kw["candidates"] = cands.sites
    gap = getattr(cfg.solver, "mip_gap", None)
    return cfg, ModelInputs(**kw), (DEFAULT_GAP if gap is None else gap)


def the_model(block, inp: ModelInputs) -> CapacitatedSiting:
    """``capacitated_model(block, inp)``, or (before the default switched to it) a
    CapacitatedSiting from the same parameters."""
    mdl = capacitated_model(block, inp)
    if isinstance(mdl, CapacitatedSiting):
        return mdl
    print(f"capacitated_model returns {type(mdl).__name__}: benchmarking CapacitatedSiting on the same parameters")
    pr = inp.params
    return CapacitatedSiting.from_cost_matrix(
        inp.matrix, inp.cells["energy_kwh_day"].to_numpy(dtype=float), None, block.service_standard_min,
        dc_port_kwh_day=pr.value("dc_charger_power_kw") * pr.value("dc_utilisation_hours"),
        ac_port_kwh_day=pr.value("ac_charger_power_kw") * pr.value("ac_utilisation_hours"),
        max_dc_ports=pr.value("site_max_dc_ports"), max_ac_ports=pr.value("site_max_ac_ports"),
        site_cost_cny=pr.value("site_cost"), dc_port_cost_cny=pr.value("dc_port_cost"),
        ac_port_cost_cny=pr.value("ac_port_cost"), required=inp.required if len(inp.required) else None)


def pulp_model(inst: Instance) -> tuple[pulp.LpProblem, float]:
    """The formulation of :mod:`evsiting.models._cflp` written with pulp, row by row.

    Returns the problem and the objective's constant (free existing ports), kept out of pulp so
    that the solvers' bounds and pulp's objective are on the same footing.
    """
    P = inst.pairs
    n, m = P.shape
    prow = np.repeat(np.arange(n), np.diff(P.indptr))
    pcol = P.indices
    npair = P.nnz
    share = np.divide(inst.D, inst.E, out=np.zeros(n), where=inst.E > 0)
    kst = np.ones(m) if inst.max_stations is None else np.where(inst.new, inst.max_stations, 1.0)
    required = np.zeros(m, dtype=bool)
    required[inst.required] = True
    prob = pulp.LpProblem("capacitated", pulp.LpMaximize if inst.maximize else pulp.LpMinimize)
    add = prob.add_variable
    y = {j: add(f"y{j}", 1 if required[j] else 0, int(kst[j]), cat=pulp.LpInteger) for j in np.flatnonzero(inst.new)}
    nd = [add(f"nd{j}", inst.lo_dc[j], inst.hi_dc[j] * kst[j], cat=pulp.LpInteger) for j in range(m)]
    na = [add(f"na{j}", inst.lo_ac[j], inst.hi_ac[j] * kst[j], cat=pulp.LpInteger) for j in range(m)]
    w = [add(f"w{k}", 0) for k in range(npair)]
    E = pulp.LpAffineExpression
    # objective
    capital = [(y[j], inst.F[j]) for j in y if inst.F[j]] + \
        [(nd[j], inst.cd[j]) for j in range(m) if inst.cd[j]] + [(na[j], inst.ca[j]) for j in range(m) if inst.ca[j]]
    const = -float((inst.cd * inst.lo_dc * ~inst.new).sum() + (inst.ca * inst.lo_ac * ~inst.new).sum())
    budget_rhs = None if inst.budget is None else inst.budget - const
    if inst.maximize:
        const = 0.0  # the objective is energy served; existing ports only enter the budget
    t = P.data
    if inst.maximize:
        prob.setObjective(E([(w[k], 1.0 - inst.alpha * t[k]) for k in range(npair)]))
    else:
        alloc = [(w[k], inst.alpha * t[k]) for k in range(npair)] if inst.alpha else []
        prob.setObjective(E(capital + alloc))
    # demand: sum_j w_ij = E_i (<= E_i when maximising served energy)
    for i in range(n):
        lhs = E([(w[k], 1.0) for k in range(P.indptr[i], P.indptr[i + 1])])
        prob.addConstraint(lhs <= inst.E[i] if inst.maximize else lhs == inst.E[i], f"demand{i}")
    # per site: DC capacity, all-port capacity, ports only at open (new) sites
    by_site = np.argsort(pcol, kind="stable")
    starts = np.searchsorted(pcol[by_site], np.arange(m + 1))
    for j in range(m):
        ks = by_site[starts[j]:starts[j + 1]]
        dc = [(w[k], share[prow[k]]) for k in ks if share[prow[k]] > 0]
        prob.addConstraint(E(dc + [(nd[j], -inst.cap_dc)]) <= 0, f"dccap{j}")
        prob.addConstraint(E([(w[k], 1.0) for k in ks] + [(nd[j], -inst.cap_dc), (na[j], -inst.cap_ac)]) <= 0, f"cap{j}")
        if inst.new[j]:
            prob.addConstraint(E([(nd[j], 1.0), (y[j], -inst.hi_dc[j])]) <= 0, f"dcopen{j}")
            prob.addConstraint(E([(na[j], 1.0), (y[j], -inst.hi_ac[j])]) <= 0, f"acopen{j}")
    # strong linking on pairs with a new site: w_ij <= min(E_i, one station's capacity) y_j
    cap_site = inst.cap_dc * inst.hi_dc + inst.cap_ac * inst.hi_ac
    for k in range(npair):
        i, j = prow[k], pcol[k]
        if inst.new[j]:
            prob.addConstraint(E([(w[k], 1.0), (y[j], -min(inst.E[i], cap_site[j]))]) <= 0, f"link{k}")
        # DC-port linking: s_i w_ij <= min(D_i, Kd) nd_j
        if share[i] > 0:
            prob.addConstraint(E([(w[k], share[i]), (nd[j], -min(inst.D[i], inst.cap_dc))]) <= 0, f"dclink{k}")
    # power per station (model.power_limit): pd nd_j + pa na_j <= P_j y_j at new sites, <= P_j
    # at existing ones (one station); no row where P_j is inf
    if inst.station_kw is not None:
        for j in np.flatnonzero(np.isfinite(inst.station_kw)):
            kw = [(nd[j], float(inst.dc_port_kw)), (na[j], float(inst.ac_port_kw))]
            if inst.new[j]:
                prob.addConstraint(E(kw + [(y[j], -float(inst.station_kw[j]))]) <= 0, f"power{j}")
            else:
                prob.addConstraint(E(kw) <= float(inst.station_kw[j]), f"power{j}")
    if inst.budget is not None:
        prob.addConstraint(E(capital) <= budget_rhs, "budget")
    return prob, const


def run_ours(mdl: CapacitatedSiting, time_limit: float, gap: float) -> dict:
    t0 = time.perf_counter()
    res = mdl.solve(time_limit=time_limit, mip_gap=gap)
    return dict(status=res.status, objective=res.objective, bound=res.bound, gap=res.gap,
                seconds=time.perf_counter() - t0, reached=res.gap <= gap + 1e-12)


def run_pulp(inst: Instance, solver: str, time_limit: float, gap: float) -> dict:
    t0 = time.perf_counter()
    prob, const = pulp_model(inst)
    build_s = time.perf_counter() - t0
    out = run_solver(prob, solver, time_limit, gap)
    seconds = time.perf_counter() - t0
    if not out.has_solution:
        return dict(status="no plan", objective=math.nan, bound=out.bound + const, gap=math.inf,
                    seconds=seconds, build_s=build_s, reached=False)
    obj = float(pulp.value(prob.objective) or 0.0)
    status, bound, g, _ = finish_status(out, obj, inst.maximize, gap)
    return dict(status=status, objective=obj + const, bound=bound + const, gap=g, seconds=seconds,
                build_s=build_s, reached=(g <= gap + 1e-12) and not out.timed_out)


def one_method(name: str, solve, time_limit: float, gap: float) -> dict:
    """The 1 % solve, then the main solve (unless the 1 % one ran out of time)."""
    print(f"  {name}: solving to a 1% gap ...", flush=True)
    r1 = solve(time_limit, ONE_PERCENT)
    if not r1["reached"]:
        main = dict(r1, note="main solve = the 1% run (1% not reached)")
    elif gap >= ONE_PERCENT:
        main = r1
    else:
        print(f"  {name}: solving to a {gap:.2%} gap ...", flush=True)
        main = solve(time_limit, gap)
    main["to_1pct_s"] = r1["seconds"] if r1["reached"] else math.inf
    print(f"  {name}: {main['status']}, objective {main['objective']:,.0f}, gap {main['gap']:.4%}, "
          f"{main['seconds']:.1f} s; 1% in {main['to_1pct_s']:.1f} s", flush=True)
    return main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=configs_dir() / "guizhou.yaml")
    ap.add_argument("--prefecture", default=None, help="one prefecture (e.g. Anshun) for a quick check")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve, every method")
    ap.add_argument("--skip-cbc", action="store_true", help="leave out pulp+CBC")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0 = time.perf_counter()
    cfg, inp, gap = build_inputs(args.config, args.prefecture)
    mdl = the_model(cfg.model, inp)
    red = mdl.reduce()
    inst = red.instance
    print(f"{args.prefecture or 'province'}: {inp.matrix.shape[0]:,} cells x {inp.matrix.shape[1]:,} candidates, "
          f"reduced {red.stats['reduced_clients']:,} x {red.stats['reduced_candidates']:,}, {inst.pairs.nnz:,} pairs "
          f"(inputs {time.perf_counter() - t0:.0f} s); time limit {args.time_limit:g} s, stopping gap {gap:g}; "
          f"load average {load:.2f} on {os.cpu_count()} cores", flush=True)
    methods = {"ours": lambda tl, g: run_ours(mdl, tl, g),
               "pulp+HiGHS": lambda tl, g: run_pulp(inst, "highs", tl, g)}
    if not args.skip_cbc:
        methods["pulp+CBC"] = lambda tl, g: run_pulp(inst, "cbc", tl, g)
    rows = {name: one_method(name, fn, args.time_limit, gap) for name, fn in methods.items()}
    ours = rows["ours"]
    print(f"\n{'method':>11} {'status':>9} {'objective CNY':>16} {'bound CNY':>16} {'gap':>8} {'seconds':>8} "
          f"{'build s':>7} {'1% s':>8} {'gap/ours':>9} {'s/ours':>7} {'1%s/ours':>9}")
    for name, r in rows.items():
        def ratio(a, b):
            return a / b if b > 0 and math.isfinite(a) else (math.inf if b == 0 and a > 0 else float("nan"))
        print(f"{name:>11} {r['status']:>9} {r['objective']:>16,.0f} {r['bound']:>16,.0f} {r['gap']:>8.4%} "
              f"{r['seconds']:>8.1f} {r.get('build_s', 0.0):>7.1f} {r['to_1pct_s']:>8.1f} "
              f"{ratio(r['gap'], ours['gap']):>9.2f} {ratio(r['seconds'], ours['seconds']):>7.2f} "
              f"{ratio(r['to_1pct_s'], ours['to_1pct_s']):>9.2f}" + (f"  ({r['note']})" if "note" in r else ""))
    best = min(r["objective"] for r in rows.values() if math.isfinite(r["objective"]))
    lb = max(r["bound"] for r in rows.values() if math.isfinite(r["bound"]))
    print(f"best plan {best:,.0f} CNY, best bound {lb:,.0f} CNY ({(best - lb) / max(abs(best), 1e-10):.4%}); "
          "seconds include pulp's build; ours' include presolve and the feasibility max-flow")
    return 0


if __name__ == "__main__":
    sys.exit(main())
