"""Benchmark: the expressway travel-time matrix at province scale against the great-circle
matrix of the same points (the baseline, run in the same process).

Not a timed test. Usage::

    python benchmarks/bench_expressway.py [--demand 40000] [--sites 3000] [--cutoff 15] [--repeat 3]

Random points (fixed seed) inside Guizhou's outline (data/guizhou_province.geojson), the OSM
expressways of ``../shared/data/guizhou_motorways_osm.geojson``; the network is built and the
kernels compiled once before timing. Prints the best of ``--repeat`` wall times of each and
their ratio, the pairs within the cutoff and the pairs the expressway adds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "network"))

from test_network_expressway import random_points_in  # noqa: E402  (the tests' point sampler)

import geopandas as gpd  # noqa: E402

from evsiting.config.params import load_parameters  # noqa: E402
from evsiting.core.settings import PROJECTED_CRS, data_dir  # noqa: E402
from evsiting.network.expressway import ExpresswayNetworks, expressway_matrix  # noqa: E402
from evsiting.network.impedance import great_circle_matrix  # noqa: E402


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demand", type=int, default=40_000)
    ap.add_argument("--sites", type=int, default=3_000)
    ap.add_argument("--cutoff", type=float, default=15.0, help="minutes")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    province = gpd.read_file(data_dir() / "guizhou_province.geojson").to_crs(PROJECTED_CRS).geometry.union_all()
    rng = np.random.default_rng(3)
    demand = random_points_in(province, a.demand, rng)
    sites = random_points_in(province, a.sites, rng)
    params = load_parameters()
    networks = ExpresswayNetworks()
    expressway_matrix(demand.iloc[:10], sites.iloc[:10], params, a.cutoff, networks=networks)  # build + compile
    great_circle_matrix(demand.iloc[:10], sites.iloc[:10], params, a.cutoff)
    t_gc, gc = best_of(lambda: great_circle_matrix(demand, sites, params, a.cutoff), a.repeat)
    t_ex, (ex, _info) = best_of(lambda: expressway_matrix(demand, sites, params, a.cutoff, networks=networks), a.repeat)
    print(f"{a.demand:,} demand points x {a.sites:,} sites, cutoff {a.cutoff:g} min")
    print(f"great circle (baseline): {t_gc:8.2f} s  {gc.nnz:>10,} pairs")
    print(f"expressway             : {t_ex:8.2f} s  {ex.nnz:>10,} pairs ({ex.nnz - gc.nnz:+,} by expressway)")
    print(f"ratio expressway / great circle: {t_ex / t_gc:.2f}")


if __name__ == "__main__":
    main()
