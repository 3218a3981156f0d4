"""Benchmark: capacitated facility location (CFLP) instances, ours vs pulp + HiGHS, one run.

Instances (issue 24):

- **OR-Library** cap41 ... cap134 (Beasley 1988; shared data ``orlib_cap/``, published optima in
  ``capopt.txt``) through :func:`evsiting.models.orlib.cap_model`, to the optimum (``mip_gap=0``);
- **CST**: generated instances of the Cornuéjols, Sridharan and Thizy (1991) kind
  (:func:`evsiting.models.cst.cst_instance`; 100 x 1,000 and 200 x 2,000, capacity ratios 3, 5,
  10, seed 1), to the optimum;
- **prefectures**: Guiyang and Anshun built by the pipeline's stages from
  ``configs/prefectures/*.yaml`` with ``allocation_cny_per_kwh_min: 1.0``, to the capacitated
  default gap 0.005: ``*-alloc1`` at a 15-min standard everywhere (issue 24's measurement),
  ``*-zone-alloc1`` with the default's zone standards (not with ``--quick``).

Per instance and method, the same time limit (``--time-limit``, default 60 s): status, objective,
proven gap and seconds; **ours** is ``CapacitatedSiting.solve`` (the Lagrangian branch-and-bound of
:mod:`evsiting.models._cflp_bb` where ports cost nothing, as in every CFLP here), **before**
(``--before``) the same without the branch-and-bound (the LP path, or the Lagrangian path of
:mod:`evsiting.models._cflp_lr` when the LP does not finish in time) and with ports at continuous
rates in the Lagrangian relaxation (``_cflp_lr.INTEGER_PORTS = False``; the prefectures' ports are
priced, so "ours" keeps them integer in each site's subproblem), **pulp** the strong formulation
of :mod:`evsiting.models._cflp` written with pulp (``benchmarks/bench_capacitated.py``'s
``pulp_model``) on the same reduced instance, solved by HiGHS through pulp. Ratios: pulp's
seconds and gap over ours'.

    .venv/bin/python benchmarks/bench_cflp.py --quick             # a subset
    .venv/bin/python benchmarks/bench_cflp.py --sets cst100       # the 100 x 1,000 set
    .venv/bin/python benchmarks/bench_cflp.py --sets orlib,cst100,cst200,prefectures
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_capacitated import build_inputs, run_ours, run_pulp, the_model  # noqa: E402

from evsiting.core.errors import SolverError  # noqa: E402
from evsiting.models import _cflp_lr, capacitated  # noqa: E402
from evsiting.models.cst import cst_instance  # noqa: E402
from evsiting.models.orlib import cap_model, cap_optima, read_cap  # noqa: E402
from evsiting.core.settings import configs_dir, shared_dir  # noqa: E402

QUICK = {"orlib": ["cap41", "cap71", "cap131"], "cst100": [(100, 1000, 5.0)], "cst200": [],
         "prefectures": ["anshun"]}


def instances(sets: list[str], quick: bool):
    """Yield (name, model factory, gap, known optimum or None)."""
    folder = Path(shared_dir()) / "orlib_cap"
    for s in sets:
        if s == "orlib":
            opt = cap_optima(folder)
            names = QUICK["orlib"] if quick else sorted(opt, key=lambda x: int(x[3:]))
            for nm in names:
                yield nm, (lambda nm=nm: cap_model(read_cap(folder / f"{nm}.txt"))), 0.0, opt[nm]
        elif s in ("cst100", "cst200"):
            sizes = (100, 1000) if s == "cst100" else (200, 2000)
            cases = QUICK[s] if quick else [(*sizes, r) for r in (3.0, 5.0, 10.0)]
            for n_s, n_c, r in cases:
                yield (f"cst{n_s}x{n_c}r{r:g}", (lambda a=n_s, b=n_c, r=r: cap_model(cst_instance(a, b, r, 1))),
                       0.0, None)
        elif s == "prefectures":
            for pref in (QUICK["prefectures"] if quick else ["guiyang", "anshun"]):
                yield f"{pref}-alloc1", (lambda p=pref: prefecture_model(p)), 0.005, None
                if not quick:  # the prefecture's own config (zone standards) with allocation 1.0
                    yield f"{pref}-zone-alloc1", (lambda p=pref: prefecture_model(p, zones=True)), 0.005, None


def prefecture_model(pref: str, zones: bool = False):
    """The prefecture's capacitated model with ``allocation_cny_per_kwh_min: 1.0`` (a config
    extending ``configs/prefectures/<pref>.yaml``, written to a temporary folder): a model block
    with a 15-min standard everywhere (as issue 24 measured it: a ``model:`` block replaces the
    inherited one, zone standards included), or (``zones``) with the default's zone standards."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bench_cflp_"))
    cfg = tmp / f"{pref}-alloc1.yaml"
    std = "zone_standards: true" if zones else "service_standard_min: 15"
    cfg.write_text(f"extends: {configs_dir() / 'prefectures' / (pref + '.yaml')}\nname: {pref}-alloc1\n"
                   f"model:\n  type: capacitated\n  {std}\n  allocation_cny_per_kwh_min: 1.0\n"
                   f"output_dir: {tmp}\n")
    c, inp, _ = build_inputs(cfg, None)
    return the_model(c.model, inp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="orlib,cst100,cst200,prefectures")
    ap.add_argument("--quick", action="store_true", help="a subset of each set")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--skip-pulp", action="store_true")
    ap.add_argument("--pulp-time-limit", type=float, default=None,
                    help="pulp's own limit (default: --time-limit); a longer one measures how long pulp takes")
    ap.add_argument("--before", action="store_true", help="also ours without the branch-and-bound")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CFLP benchmark, time limit {args.time_limit:g} s (pulp {args.pulp_time_limit or args.time_limit:g} s); "
          f"load average at start {load:.2f} on {os.cpu_count()} cores")
    cap_model(read_cap(Path(shared_dir()) / "orlib_cap" / "cap41.txt")).solve(mip_gap=0)  # warm-up
    print(f"{'instance':>18} {'method':>6} {'status':>9} {'objective':>15} {'gap':>9} {'seconds':>8} "
          f"{'vs optimum':>10} {'t ratio':>8} {'gap ratio':>9}")
    for name, make, gap, opt in instances(args.sets.split(","), args.quick):
        mdl = make()
        ours = run_ours(mdl, args.time_limit, gap)
        rows = [("ours", ours)]
        if args.before:
            # the method before: no branch-and-bound, and ports at continuous rates in the relaxation
            mdl.use_branch_and_bound = False
            _cflp_lr.INTEGER_PORTS = False
            saved = capacitated.LAGRANGIAN_POINTS_MAX, capacitated.POLISH_LAGRANGIAN
            capacitated.LAGRANGIAN_POINTS_MAX, capacitated.POLISH_LAGRANGIAN = 0, False
            t0 = time.perf_counter()
            try:
                rows.append(("before", run_ours(mdl, args.time_limit, gap)))
            except SolverError:  # no plan within the time limit
                rows.append(("before", dict(status="no plan", objective=math.nan, gap=math.inf,
                                            seconds=time.perf_counter() - t0)))
            mdl.use_branch_and_bound = None
            _cflp_lr.INTEGER_PORTS = True
            capacitated.LAGRANGIAN_POINTS_MAX, capacitated.POLISH_LAGRANGIAN = saved
        if not args.skip_pulp:
            red = mdl.reduce(args.time_limit)  # the reduction is given to pulp for free
            pl = run_pulp(red.instance, "highs", args.pulp_time_limit or args.time_limit, gap)
            rows.append(("pulp", pl))
        for meth, r in rows:
            vs = "" if opt is None or not math.isfinite(r["objective"]) else f"{(r['objective'] - opt) / opt:+.1e}"
            tr = gr = ""
            if meth != "ours":
                tr = f"{r['seconds'] / max(ours['seconds'], 1e-9):.2f}"
                gr = f"{r['gap'] / ours['gap']:.2f}" if ours["gap"] > 0 else ("=" if r["gap"] <= 1e-9 else "inf")
            print(f"{name:>18} {meth:>6} {r['status']:>9} {r['objective']:>15.3f} {r['gap']:>9.2e} "
                  f"{r['seconds']:>8.1f} {vs:>10} {tr:>8} {gr:>9}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
