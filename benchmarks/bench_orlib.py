"""Benchmark: the 40 OR-Library p-median instances to proven optimality.

Per instance: time of evsiting's compact radius formulation and of the textbook one
(x_ij <= y_j), objectives checked against the known optima; totals at the end.

    .venv/bin/python benchmarks/bench_orlib.py --instances 1-5
    .venv/bin/python benchmarks/bench_orlib.py --instances 1-40 --solver highs --no-classic
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from evsiting.models import PCenter, PMedian
from evsiting.models.orlib import PMEDIAN_OPTIMA, pcenter_optima, read_pmed
from evsiting.settings import shared_dir


def parse_range(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part.strip():
            out.append(int(part))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", default="1-40", help="e.g. 1-5 or 1,6,16-17")
    ap.add_argument("--solver", default="highs", choices=["cbc", "highs"])
    ap.add_argument("--no-classic", action="store_true", help="skip the textbook formulation")
    ap.add_argument("--pcenter", action="store_true", help="also solve the p-center on each graph")
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds per solve")
    ap.add_argument("--folder", default=None, help="OR-Library folder (default: shared data orlib/)")
    args = ap.parse_args(argv)
    folder = Path(args.folder) if args.folder else Path(shared_dir()) / "orlib"
    pc_opt = pcenter_optima(folder) if args.pcenter else {}
    print(f"solver {args.solver}; time limit {args.time_limit:g} s per solve")
    head = f"{'inst':>7} {'n':>4} {'p':>4} {'optimum':>8} {'radius s':>9} {'status':>8}"
    if not args.no_classic:
        head += f" {'classic s':>10} {'status':>8} {'speed-up':>8}"
    if args.pcenter:
        head += f" {'pcenter':>8} {'s':>6}"
    print(head)
    tot_r = tot_c = 0.0
    bad = 0
    for k in parse_range(args.instances):
        name = f"pmed{k}"
        inst = read_pmed(folder / f"{name}.txt")
        r = PMedian.from_cost_matrix(inst.cost, p_facilities=inst.p).solve(args.solver, time_limit=args.time_limit)
        ok = r.objective == PMEDIAN_OPTIMA[name] and r.status == "optimal"
        bad += not ok
        tot_r += r.runtime_s
        line = (f"{name:>7} {inst.n:4d} {inst.p:4d} {PMEDIAN_OPTIMA[name]:8d} {r.runtime_s:9.2f} "
                f"{r.status if ok else 'WRONG ' + str(r.objective):>8}")
        if not args.no_classic:
            c = PMedian.from_cost_matrix(inst.cost, p_facilities=inst.p).solve(
                args.solver, time_limit=args.time_limit, formulation="classic")
            tot_c += c.runtime_s
            line += f" {c.runtime_s:10.2f} {c.status:>8} {c.runtime_s / r.runtime_s:8.1f}"
        if args.pcenter:
            t = time.perf_counter()
            pc = PCenter.from_cost_matrix(inst.cost, p_facilities=inst.p).solve(args.solver)
            okc = pc.objective == pc_opt.get(name)
            bad += not okc
            line += f" {pc.objective:8.0f}{'' if okc else '!'} {time.perf_counter() - t:6.2f}"
        print(line, flush=True)
    tail = f"{'total':>7} {'':>4} {'':>4} {'':>8} {tot_r:9.2f}"
    if not args.no_classic:
        tail += f" {'':>8} {tot_c:10.2f}"
    print(tail)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
