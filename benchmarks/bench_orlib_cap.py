"""Benchmark: the 37 OR-Library capacitated warehouse location instances (cap41 ... cap134).

Each instance is solved to proven optimality (``mip_gap=0``) as a special case of
:class:`evsiting.models.CapacitatedSiting` (see :func:`evsiting.models.orlib.cap_model`:
one free AC "port" per unit of capacity, the fixed cost as site cost, per-unit allocation
costs as "minutes" at 1 CNY per kWh/day and minute, no service standard). Per instance: wall
seconds, status, objective, the published optimum (``capopt.txt``), whether the objective is
within 1e-6 of it (relative), and whether the solve took at most 10 s (issue 13's target).

    .venv/bin/python benchmarks/bench_orlib_cap.py
    .venv/bin/python benchmarks/bench_orlib_cap.py --instances cap41,cap131
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from evsiting.models.orlib import cap_model, cap_optima, read_cap
from evsiting.core.settings import shared_dir

#: target of issue 13
EACH_S = 10.0
REL_TOL = 1e-6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", default=None, help="comma-separated names (default: all in capopt.txt)")
    ap.add_argument("--folder", default=None, help="OR-Library folder (default: shared data orlib_cap/)")
    args = ap.parse_args(argv)
    folder = Path(args.folder) if args.folder else Path(shared_dir()) / "orlib_cap"
    optima = cap_optima(folder)
    names = args.instances.split(",") if args.instances else sorted(optima, key=lambda s: int(s[3:]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"OR-Library capacitated warehouse location, {len(names)} instances, mip_gap=0; "
          f"load average at start {load:.2f} on {os.cpu_count()} cores")
    cap_model(read_cap(folder / f"{names[0]}.txt")).solve(mip_gap=0)  # warm-up (imports)
    print(f"{'inst':>7} {'m':>3} {'n':>3} {'seconds':>8} {'status':>8} {'objective':>15} {'optimum':>15} "
          f"{'rel err':>8} {'ok':>3} {'<=10s':>5}")
    times, bad = [], []
    for nm in names:
        inst = read_cap(folder / f"{nm}.txt")
        t0 = time.perf_counter()
        res = cap_model(inst).solve(mip_gap=0)
        secs = time.perf_counter() - t0
        opt = optima[nm]
        rel = abs(res.objective - opt) / abs(opt)
        ok = res.status == "optimal" and rel <= REL_TOL
        times.append(secs)
        if not ok or secs > EACH_S:
            bad.append(nm)
        print(f"{nm:>7} {inst.capacity.size:>3} {inst.demand.size:>3} {secs:>8.2f} {res.status:>8} "
              f"{res.objective:>15.3f} {opt:>15.3f} {rel:>8.1e} {'yes' if ok else 'NO':>3} "
              f"{'yes' if secs <= EACH_S else 'NO':>5}", flush=True)
    print(f"total {sum(times):.1f} s, max {max(times):.2f} s; "
          f"{len(names) - len(bad)}/{len(names)} at the optimum within {EACH_S:g} s"
          + (f"; failing: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
