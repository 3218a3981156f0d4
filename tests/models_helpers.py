"""Helpers for the model tests: instance generators and brute-force evaluators."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import linprog


def spatial_instance(n_clients: int, n_candidates: int, seed: int = 0, size: float = 100.0,
                     cutoff: float | None = None, integer: bool = True):
    """Clients and candidates uniformly in a square; cost = rounded euclidean distance (minutes).

    With ``cutoff``, pairs farther than it are unreachable (np.inf), like a road-network matrix.
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, size, (n_clients, 2))
    b = rng.uniform(0, size, (n_candidates, 2))
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    if integer:
        d = np.round(d)
    if cutoff is not None:
        d[d > cutoff] = np.inf
    w = rng.integers(1, 20, n_clients).astype(float)
    return d, w


def subsets(m: int, p: int, exact: bool = True, required=()):
    req = set(int(r) for r in required)
    sizes = [p] if exact else range(0, p + 1)
    for k in sizes:
        for s in itertools.combinations(range(m), k):
            if req.issubset(s):
                yield s


def brute_mclp(cost, w, r, p, required=()):
    cov = cost <= r
    best = -1.0
    for s in subsets(cost.shape[1], p, exact=False, required=required):
        v = float(w[cov[:, list(s)].any(axis=1)].sum()) if s else 0.0
        best = max(best, v)
    return best


def brute_lscp(cost, r, required=(), need=None):
    cov = cost <= r
    n, m = cov.shape
    need = np.ones(n, dtype=bool) if need is None else need
    for k in range(0, m + 1):
        for s in itertools.combinations(range(m), k):
            if not set(required).issubset(s):
                continue
            if s and cov[np.ix_(need, list(s))].any(axis=1).all():
                return k
            if not s and not need.any():
                return 0
    return None


def brute_pmedian(cost, w, p, required=()):
    best = np.inf
    for s in subsets(cost.shape[1], p, required=required):
        d = cost[:, list(s)].min(axis=1)
        if np.isfinite(d).all():
            best = min(best, float((w * d).sum()))
    return best


def brute_pcenter(cost, p, required=()):
    best = np.inf
    for s in subsets(cost.shape[1], p, required=required):
        best = min(best, float(cost[:, list(s)].min(axis=1).max()))
    return best


def brute_siting(cost, demand, radius, max_dc, max_ac, cap_dc, cap_ac, site_cost, dc_cost, ac_cost,
                 budget=None, objective="max_served", existing_dc=None, existing_ac=None, target=None):
    """Brute force of the single-period capacitated siting model (site opening + integer DC/AC
    ports + budget): every new site takes every port count ``0..max_dc`` x ``0..max_ac``
    (``(0, 0)`` = closed), existing sites keep their ports; the energy served by a configuration
    is its LP max flow (kWh/day) over the pairs within ``radius`` minutes.

    The enumeration is depth first and cuts a branch only when its cost (CNY, never falling down
    a branch) already exceeds ``budget`` or, for ``min_cost``, the best cost found.

    Returns:
        ``max_served``: the most kWh/day served at cost <= budget; ``min_cost``: the least CNY
        serving at least ``target`` kWh/day (default: all demand within the radius) within the
        budget, or None when no configuration does.
    """
    from scipy.optimize import linprog

    n, m = cost.shape
    cov = cost <= radius
    per = [np.broadcast_to(np.asarray(v, float), (m,)) for v in (site_cost, dc_cost, ac_cost)]
    sc, dcc, acc = per
    ex_dc = np.zeros(m) if existing_dc is None else np.asarray(existing_dc, float)
    ex_ac = np.zeros(m) if existing_ac is None else np.asarray(existing_ac, float)
    existing = (ex_dc + ex_ac) > 0
    choices = []
    for j in range(m):
        if existing[j]:
            choices.append([((ex_dc[j], ex_ac[j]), 0.0)])
        else:
            choices.append([((a, b), (sc[j] + a * dcc[j] + b * acc[j]) if a + b > 0 else 0.0)
                            for a in range(int(max_dc) + 1) for b in range(int(max_ac) + 1)])
    need = float(demand[cov.any(axis=1)].sum()) if target is None else float(target)
    pairs = np.argwhere(cov)
    k = len(pairs)
    a_ub = np.zeros((n + m, k))
    a_ub[pairs[:, 0], np.arange(k)] = 1
    a_ub[n + pairs[:, 1], np.arange(k)] = 1

    def served(conf):
        if k == 0:
            return 0.0
        capj = np.array([a * cap_dc + b * cap_ac for a, b in conf])
        lp = linprog(-np.ones(k), A_ub=a_ub, b_ub=np.concatenate([demand, capj]), bounds=(0, None), method="highs")
        return -lp.fun

    best = None

    def walk(j, conf, c):
        nonlocal best
        if budget is not None and c > budget + 1e-9:
            return
        if objective == "min_cost" and best is not None and c >= best:
            return
        if j == m:
            s = served(conf)
            if objective == "max_served":
                best = s if best is None else max(best, s)
            elif s >= need - 1e-6:
                best = c
            return
        for ports, cj in choices[j]:
            walk(j + 1, conf + [ports], c + cj)

    walk(0, [], 0.0)
    return best


def synthetic_cells_and_sites(n: int, m: int, seed: int, side_km: float, nev_range: tuple[int, int],
                              dc_kwh_per_nev: float):
    """A SYNTHETIC instance (random points on a ``side_km`` square near Guiyang, not real data):
    ``(cells, candidates, minutes)`` with cells (WGS84) holding ``nev_count``,
    ``energy_kwh_day`` (6.5 kWh/day per NEV) and ``energy_dc_kwh_day`` (``dc_kwh_per_nev``
    per NEV), candidate sites ``s0..`` and a csr of travel minutes (distance x 1.4 circuity at
    40 km/h) within 15 min."""
    import geopandas as gpd
    import scipy.sparse as sp

    from evsiting.core.settings import WGS84

    rng = np.random.default_rng(seed)
    d = rng.uniform(0, side_km, (n, 2))
    c = rng.uniform(0, side_km, (m, 2))
    minutes = np.linalg.norm(d[:, None] - c[None], axis=2) * 1.4 / 40 * 60
    minutes[minutes > 15] = np.inf
    mat = sp.csr_matrix((minutes[np.isfinite(minutes)], np.nonzero(np.isfinite(minutes))), shape=(n, m))
    nev = rng.integers(nev_range[0], nev_range[1], n)
    cells = gpd.GeoDataFrame({"nev_count": nev, "energy_kwh_day": nev * 6.5, "energy_dc_kwh_day": nev * dc_kwh_per_nev},
                             geometry=gpd.points_from_xy(106.6 + d[:, 0] / 100, 26.6 + d[:, 1] / 111), crs=WGS84)
    cand = gpd.GeoDataFrame({"site_id": [f"s{j}" for j in range(m)]},
                            geometry=gpd.points_from_xy(106.6 + c[:, 0] / 100, 26.6 + c[:, 1] / 111), crs=WGS84)
    return cells, cand, mat


def route_cost(t, e, d, nd, na, alpha, *, kd, ka, maximize=False):
    """Least allocation cost (or, with ``maximize``, most energy served) for fixed ports, by LP
    with the capacitated model's rules: each point sends its DC share ``d/e`` with every kWh;
    DC share <= ``kd`` x DC ports; everything <= ``kd`` x DC + ``ka`` x AC ports per site.

    Args: t ``(n, m)`` minutes (inf = unreachable), e/d ``(n,)`` energy / DC energy (kWh/day),
        nd/na ``(m,)`` ports, alpha CNY per kWh/day and minute, kd/ka kWh/day per port.
    Returns: (feasible, value); value is inf when infeasible. A brute-force oracle for tests.
    """
    n, m = t.shape
    pairs = [(i, j) for i in range(n) for j in range(m) if np.isfinite(t[i, j])]
    if not pairs:
        ok = bool(e.sum() == 0 or maximize)
        return ok, (0.0 if ok else np.inf)
    s = np.divide(d, e, out=np.zeros(n), where=e > 0)
    A_ub, b_ub = [], []
    for j in range(m):
        A_ub.append([s[i] if jj == j else 0 for i, jj in pairs]); b_ub.append(kd * nd[j])
        A_ub.append([1.0 if jj == j else 0 for i, jj in pairs]); b_ub.append(kd * nd[j] + ka * na[j])
    rows = [[1.0 if ii == i else 0 for ii, _ in pairs] for i in range(n)]
    c = np.array([alpha * t[i, j] for i, j in pairs])
    if maximize:
        res = linprog(-(1 - c), A_ub=np.array(A_ub + rows), b_ub=np.array(b_ub + list(e)), bounds=(0, None), method="highs")
        return True, -res.fun
    res = linprog(c, A_ub=np.array(A_ub), b_ub=np.array(b_ub), A_eq=np.array(rows), b_eq=e, bounds=(0, None), method="highs")
    return res.status == 0, (res.fun if res.status == 0 else np.inf)
