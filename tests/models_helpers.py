"""Helpers for the model tests: instance generators and brute-force evaluators."""

from __future__ import annotations

import itertools

import numpy as np


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
