"""Benchmark: the default model on every prefecture under each adoption scenario (27 solves).

Issue #23 asks that every prefecture under each adoption scenario reaches the 0.5 % gap with
the default objective (drivers' access cost included) within 60 s of solve time on the 2-core
machine. This benchmark builds each instance with the run's own stages
(:func:`evsiting.stages.instance.build_instance`) from ``configs/scenarios/{low,base,high}-2026.yaml``
restricted to one prefecture, solves it with the run's model stage
(:func:`evsiting.stages.s5_model.solve_model`, the config's solver and gap target) under a time
limit (``--time-limit``, default 60 s), and prints per case the model-stage seconds, status,
proven gap and stations, then the share of cases within the gap target and within the limit.

It times whole solves (the model stage only, not the instance build), once each; the machine's
load is printed with the table (``os.getloadavg``), since timings on a loaded machine are not
comparable with an idle one.

    .venv/bin/python benchmarks/bench_prefectures.py                      # 27 cases, ~30 min
    .venv/bin/python benchmarks/bench_prefectures.py --prefectures Anshun Guiyang --scenarios base
"""

from __future__ import annotations

import argparse
import os
import time

from evsiting.config.schema import load_config
from evsiting.core.settings import configs_dir
from evsiting.stages.context import RunContext
from evsiting.stages.instance import build_instance
from evsiting.stages.s1_study import load_study
from evsiting.stages.s5_model import CAPACITATED_MIP_GAP, ModelInputs, SolveOptions, solve_model

PREFECTURES = ("Guiyang", "Liupanshui", "Zunyi", "Anshun", "Bijie", "Tongren", "Qianxinan", "Qiandongnan", "Qiannan")
SCENARIOS = ("low", "base", "high")


def one_case(scenario: str, prefecture: str, time_limit: float) -> dict:
    """Build and solve one case; the model stage's seconds, status, gap and stations."""
    cfg = load_config(configs_dir() / "scenarios" / f"{scenario}-2026.yaml")
    ctx = RunContext.open(cfg, write=False)
    study = load_study(cfg, prefecture, inputs=ctx.inputs, params=ctx.params)
    inst = build_instance(cfg, study, ctx)
    cands = inst.reached.candidates
    opts = SolveOptions(cfg.solver.name, time_limit, cfg.solver.mip_gap)
    t0 = time.perf_counter()
    sol = solve_model(cfg.model, ModelInputs(inst.cells, inst.travel.matrix, cands.required, inst.params, cands.sites), opts)
    seconds = time.perf_counter() - t0
    res = sol.result
    stations = int(res.stations.sum()) if getattr(res, "stations", None) is not None else len(sol.selected)
    return {"scenario": scenario, "prefecture": prefecture, "cells": len(inst.cells), "pairs": int(inst.travel.matrix.nnz),
            "model_s": seconds, "status": res.status, "gap": res.gap, "stations": stations}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefectures", nargs="*", default=list(PREFECTURES))
    ap.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    ap.add_argument("--time-limit", type=float, default=60.0)
    a = ap.parse_args()
    rows = []
    print(f"{'scenario':8} {'prefecture':12} {'cells':>6} {'pairs':>8} {'model s':>8} {'status':>9} {'gap %':>7} {'stations':>8} load")
    for sc in a.scenarios:
        for pf in a.prefectures:
            r = one_case(sc, pf, a.time_limit)
            rows.append(r)
            gap = "" if r["gap"] is None else f"{100 * r['gap']:.3f}"
            print(f"{sc:8} {pf:12} {r['cells']:>6,} {r['pairs']:>8,} {r['model_s']:>8.1f} {r['status']:>9} {gap:>7} "
                  f"{r['stations']:>8,} {os.getloadavg()[0]:.1f}", flush=True)
    target = CAPACITATED_MIP_GAP
    ok_gap = sum(1 for r in rows if r["gap"] is not None and r["gap"] <= target + 1e-12)
    ok_time = sum(1 for r in rows if r["model_s"] <= a.time_limit + 1.0)
    print(f"\n{ok_gap}/{len(rows)} cases within the {100 * target:.1f} % gap target; "
          f"{ok_time}/{len(rows)} returned within the {a.time_limit:g} s limit (+1 s); "
          f"slowest {max(r['model_s'] for r in rows):.1f} s")


if __name__ == "__main__":
    main()
