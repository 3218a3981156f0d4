"""Benchmark: what the reuse of ``evsiting sensitivity`` saves. Each variant is solved twice in
this process: on the base's pipeline (demand, candidates and travel times kept where the
variant does not change them: :class:`evsiting.runs.sensitivity.RunPipeline`) and from scratch
(a new pipeline for the variant's config, as a separate ``evsiting run`` would build it), and
both plans are checked to be the same (stations, ports, capital cost).

Not a timed test. Usage::

    python benchmarks/bench_sensitivity.py [CONFIG] [--parameters nev_kwh_per_km,circuity_factor,site_cost]

Prints, per variant, wall and CPU seconds (all threads of the process; on a shared machine the
CPU seconds show the work done when wall times are skewed by other load) with and without reuse
and their ratio; the last line is the ratio of the sums.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from evsiting.config.schema import load_config
from evsiting.runs.sensitivity import BASE, RunPipeline, variant_config, variants

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    """(wall s, CPU s, result) of ``fn()``."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t, time.process_time() - c, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", nargs="?", default=str(ROOT / "configs" / "prefectures" / "anshun.yaml"))
    ap.add_argument("--parameters", default="nev_kwh_per_km,circuity_factor,site_cost",
                    help="one of each kind by default: demand, travel times, model")
    args = ap.parse_args()
    cfg = load_config(args.config)
    w, c, pipe = timed(lambda: RunPipeline(cfg))
    wb, cb, base = timed(lambda: pipe.solve(BASE))
    print(f"base instance {w:.1f} s ({c:.1f} s CPU), base solve {wb:.1f} s ({cb:.1f} s CPU): "
          f"{base.stations} stations, {base.capital_cny / 1e6:,.1f} M CNY")
    todo, _ = variants(pipe, args.parameters.split(","))
    sums = [0.0, 0.0, 0.0, 0.0]
    print(f"{'variant':<40} {'kind':<8} {'reuse s':>8} {'CPU':>6} {'fresh s':>8} {'CPU':>6} {'ratio':>6} {'CPU':>6}  same plan")
    for v in todo:
        w1, c1, r1 = timed(lambda: pipe.solve(v))

        def fresh():
            p = RunPipeline(variant_config(cfg, v))
            return p.solve(BASE)

        w2, c2, r2 = timed(fresh)
        same = (r1.stations, r1.ports_dc, r1.ports_ac, r1.capital_cny) == (r2.stations, r2.ports_dc, r2.ports_ac, r2.capital_cny)
        sums = [sums[0] + w1, sums[1] + c1, sums[2] + w2, sums[3] + c2]
        print(f"{v.label:<40} {v.kind:<8} {w1:8.1f} {c1:6.1f} {w2:8.1f} {c2:6.1f} {w2 / w1:6.2f} {c2 / max(c1, 1e-9):6.2f}  "
              f"{'yes' if same else 'NO: ' + str((r1.stations, r1.capital_cny, r2.stations, r2.capital_cny))}")
    print(f"all {len(todo)} variants: reuse {sums[0]:.1f} s ({sums[1]:.1f} s CPU), from scratch {sums[2]:.1f} s "
          f"({sums[3]:.1f} s CPU): ratio {sums[2] / sums[0]:.2f} wall, {sums[3] / max(sums[1], 1e-9):.2f} CPU")


if __name__ == "__main__":
    main()
