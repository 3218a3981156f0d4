"""Benchmark: evsiting MCLP vs PySAL spopt vs a plain sparse pulp build, on road-like instances.

For each size ``CLIENTSxCANDIDATES`` an instance is generated with points in a square, travel
minutes = euclidean distance x a random detour factor (1.1-1.6), and only pairs within twice
the service radius stored (like a bounded road-network search), the radius set so that each
client has about ``--cover`` candidates within it; p = candidates / 10.

Each method runs in a fresh process (build + solve timed; the peak RSS of that process is
reported; the CBC/HiGHS child process is not included), all methods of a row block with the
same solver. Objectives must be equal. Targets of issue 5 (printed at the end):

- 5000x1000: evsiting at least 30x faster than spopt (same solver, equal objective);
- 20000x2000: evsiting under a third of the plain sparse pulp build's time;
- the largest size (50000x5000) proven optimal within 10 minutes.

    .venv/bin/python benchmarks/bench_models.py                  # all targets, CBC and HiGHS
    .venv/bin/python benchmarks/bench_models.py --quick
    .venv/bin/python benchmarks/bench_models.py --sizes 5000x1000 --solver cbc --uniform
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree


def make_instance(n: int, m: int, cover: float = 17.0, seed: int = 0, clustered: bool = True):
    """Road-like instance: travel minutes = distance x detour factors that vary smoothly by
    place (one factor per client and per candidate, not per pair), demand clustered in towns
    (70 % of the points in n/50 Gaussian clusters) when ``clustered``; only pairs within twice
    the radius stored. Returns (cost CSR minutes, weights, radius minutes)."""
    rng = np.random.default_rng(seed)
    side = float(np.sqrt(n))  # keep density constant across sizes
    radius = float(np.sqrt(cover * side * side / (np.pi * m)))
    if clustered:
        k = max(1, n // 50)
        centres = rng.uniform(0, side, (k, 2))
        nc = int(0.7 * n)
        a = np.vstack([centres[rng.integers(0, k, nc)] + rng.normal(0, 0.5 * radius, (nc, 2)),
                       rng.uniform(0, side, (n - nc, 2))])
        a = np.clip(a, 0, side)
    else:
        a = rng.uniform(0, side, (n, 2))
    b = rng.uniform(0, side, (m, 2))
    pairs = cKDTree(a).sparse_distance_matrix(cKDTree(b), 2 * radius, output_type="coo_matrix")
    fa = rng.uniform(1.1, 1.6, n)
    fb = rng.uniform(1.1, 1.6, m)
    minutes = pairs.data * (fa[pairs.row] + fb[pairs.col]) / 2 / 1.35
    cost = sp.csr_matrix((minutes, (pairs.row, pairs.col)), shape=(n, m))
    w = rng.integers(1, 50, n).astype(float)
    return cost, w, radius


def run_evsiting(cost, w, radius, p, solver):
    from evsiting.models import MCLP

    t = time.perf_counter()
    res = MCLP.from_cost_matrix(cost, weights=w, service_radius=radius, p_facilities=p).solve(solver)
    return time.perf_counter() - t, res.objective, res.status, res.stats


def _pulp_solver(solver):
    import pulp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # HiGHS stops at a 1e-4 relative gap by default; evsiting proves optimality, so the
        # references must too (CBC's default gap is already zero)
        return pulp.PULP_CBC_CMD(msg=False) if solver == "cbc" else pulp.HiGHS(msg=False, gapRel=0.0)


def run_plain(cost, w, radius, p, solver):
    """Plain sparse pulp MCLP, no reductions (the baseline quoted in issue 5)."""
    import pulp

    t = time.perf_counter()
    cov = sp.csr_matrix(((cost.data <= radius).astype(float), cost.indices.copy(), cost.indptr.copy()),
                        shape=cost.shape)
    cov.eliminate_zeros()
    prob = pulp.LpProblem("plain", pulp.LpMaximize)
    y = [prob.add_variable(f"y{j}", 0, 1, pulp.LpBinary) for j in range(cost.shape[1])]
    z = [prob.add_variable(f"z{i}", 0, 1) for i in range(cost.shape[0])]
    prob += pulp.LpAffineExpression(zip(z, w.tolist()))
    for i in range(cov.shape[0]):
        cols = cov.indices[cov.indptr[i]:cov.indptr[i + 1]].tolist()
        prob += pulp.LpAffineExpression([(z[i], 1.0)] + [(y[j], -1.0) for j in cols]) <= 0, f"c{i}"
    prob += pulp.lpSum(y) == p, "p"
    prob.solve(_pulp_solver(solver))
    obj = float(sum(w[i] for i in range(len(z)) if (z[i].varValue or 0) > 0.5))
    return time.perf_counter() - t, obj, pulp.LpStatus[prob.status], {}


def run_spopt(cost, w, radius, p, solver):
    from spopt.locate import MCLP as SMCLP

    dense = cost.toarray()
    dense[dense == 0] = np.inf
    dense[cost.nonzero()] = cost.data  # keep real zeros (absent pairs -> inf)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = SMCLP.from_cost_matrix(dense, w, service_radius=radius, p_facilities=p).solve(_pulp_solver(solver))
    import pulp

    return time.perf_counter() - t, float(pulp.value(m.problem.objective)), "Optimal", {}


def _child(q, fn, n, m, cover, seed, solver, clustered=True):
    cost, w, radius = make_instance(n, m, cover, seed, clustered)
    p = max(1, m // 10)
    sys.stdout.flush()
    saved = os.dup(1)  # silence solver banners printed at C level (HiGHS)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            secs, obj, status, stats = fn(cost, w, radius, p, solver)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    q.put((secs, obj, status, stats, peak_mb))


def measure(fn, n, m, cover, seed, solver, timeout, clustered=True):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_child, args=(q, fn, n, m, cover, seed, solver, clustered))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None
    return q.get() if not q.empty() else None


SPOPT_SIZE, PLAIN_SIZE, LARGEST_SIZE = (5000, 1000), (20000, 2000), (50000, 5000)
SPOPT_RATIO, PLAIN_RATIO, LARGEST_LIMIT_S = 30.0, 3.0, 600.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000x1000,20000x2000,50000x5000",
                    help="comma-separated CLIENTSxCANDIDATES")
    ap.add_argument("--quick", action="store_true", help="small sizes only (1000x200,2000x500)")
    ap.add_argument("--solver", default="cbc,highs", help="cbc, highs or both (comma-separated)")
    ap.add_argument("--cover", type=float, default=17.0, help="candidates within the radius per client")
    ap.add_argument("--spopt-max-cells", type=float, default=6e6,
                    help="run spopt only when clients x candidates <= this")
    ap.add_argument("--plain-max-cells", type=float, default=4e7,
                    help="run the plain sparse pulp build only when clients x candidates <= this")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain sparse pulp baseline")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per method and size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--uniform", action="store_true", help="uniform demand instead of towns")
    args = ap.parse_args(argv)
    sizes = "1000x200,2000x500" if args.quick else args.sizes
    solvers = [v.strip().lower() for v in args.solver.split(",") if v.strip()]
    bad = [v for v in solvers if v not in ("cbc", "highs")]
    if bad or not solvers:
        ap.error(f"--solver: cbc and/or highs, got {args.solver!r}")
    parsed = [tuple(int(v) for v in size.lower().split("x")) for size in sizes.split(",")]
    print(f"MCLP, p = candidates/10, ~{args.cover:g} candidates within the radius per client, "
          f"{'uniform' if args.uniform else 'clustered'} demand")
    print(f"{'size':>13} {'solver':>6} {'method':>9} {'seconds':>9} {'objective':>12} {'status':>9} "
          f"{'peak MB':>8} {'x ours':>7}  reduced / how proven")
    targets: list[str] = []
    failed = False
    for solver in solvers:
        for n, m in parsed:
            size = f"{n}x{m}"
            rows = {}
            methods = [("evsiting", run_evsiting)]
            if not args.no_plain and n * m <= args.plain_max_cells:
                methods.append(("plain", run_plain))
            if n * m <= args.spopt_max_cells:
                methods.append(("spopt", run_spopt))
            for name, fn in methods:
                rows[name] = measure(fn, n, m, args.cover, args.seed, solver, args.timeout, not args.uniform)
            ours = rows["evsiting"]
            for name, out in rows.items():
                if out is None:
                    print(f"{size:>13} {solver:>6} {name:>9} {'timeout':>9}", flush=True)
                    continue
                secs, obj, status, stats, peak = out
                ratio = "" if name == "evsiting" or ours is None else f"{secs / ours[0]:.1f}"
                note = ""
                if stats:
                    note = f"{stats.get('reduced_clients')}x{stats.get('reduced_candidates')}"
                    if stats.get("proof"):
                        note += f"; {stats['proof']} (set cover of size <= p)"
                    elif "solve_s" in stats:
                        note += f"; MIP {stats['solve_s']:.1f} s"
                print(f"{size:>13} {solver:>6} {name:>9} {secs:9.2f} {obj:12.1f} {status:>9} {peak:8.0f} "
                      f"{ratio:>7}  {note}", flush=True)
            objs = {k: v[1] for k, v in rows.items() if v is not None}
            if len(set(round(o, 6) for o in objs.values())) > 1:
                print(f"  OBJECTIVES DIFFER: {objs}")
                failed = True
            t_ours = ours[0] if ours is not None else float("inf")
            for ref, (rn, rm), want, what in (("spopt", SPOPT_SIZE, SPOPT_RATIO, "x faster than spopt"),
                                               ("plain", PLAIN_SIZE, PLAIN_RATIO, "x faster than plain sparse pulp")):
                if (n, m) == (rn, rm):
                    out = rows.get(ref)
                    if out is None:
                        targets.append(f"{size} {solver}: {ref} not run or timed out ({args.timeout:g} s)")
                        continue
                    got = out[0] / t_ours
                    targets.append(f"{size} {solver}: {got:.1f}{what} (target >= {want:g}): "
                                   f"{'MET' if got >= want else 'NOT MET'}")
            if (n, m) == LARGEST_SIZE:
                ok = ours is not None and ours[2] == "optimal" and ours[0] <= LARGEST_LIMIT_S
                got = "timeout" if ours is None else f"{ours[2]} in {ours[0]:.0f} s"
                targets.append(f"{size} {solver}: {got} (target: optimal within {LARGEST_LIMIT_S:g} s): "
                               f"{'MET' if ok else 'NOT MET'}")
    if targets:
        print("targets:")
        for line in targets:
            print("  " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
