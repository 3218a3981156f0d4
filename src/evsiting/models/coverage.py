"""Covering models: LSCP (fewest stations covering everyone) and MCLP (best p stations).

A demand point is *covered* by a candidate when its travel time is ``<= service_radius``
minutes. Both models are reduced before solving (results are mapped back to the original
indices):

- demand points with zero weight (MCLP) or already covered by a required station are dropped;
- demand points with identical coverage sets are merged (weights summed);
- candidates covering nothing, and candidates whose coverage set is contained in another
  candidate's (ties: lowest index kept), are dropped; for LSCP, a demand point whose coverage
  set contains another demand point's set is dropped too (covering the smaller set covers it).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pulp
import scipy.sparse as sp

from evsiting.errors import InfeasibleError, InputError
from evsiting.models._core import (
    LocationResult,
    _listing,
    _Model,
    add_csr_rows,
    binary_vars,
    check_limits,
    check_p,
    check_solver,
    continuous_vars,
    coverage_csr,
    finish_status,
    from_geodataframe_args,
    merge_identical_rows,
    nearest_assignment,
    run_solver,
    subset_pairs,
    var_values,
)


def _check_radius(r: Any) -> float:
    try:
        r = float(r)
    except (TypeError, ValueError):
        raise InputError(f"service_radius must be a number of minutes, got {r!r}", field="service_radius") from None
    if not r >= 0 or not np.isfinite(r):
        raise InputError("service_radius must be finite and non-negative (minutes)", field="service_radius")
    return r


def _reduce_columns(cm: sp.csr_matrix, cand: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Drop empty and dominated columns (subset of another column; ties keep the lowest index)."""
    sizes = cm.getnnz(axis=0)
    a, b = subset_pairs(cm)
    dom = (sizes[b] > sizes[a]) | ((sizes[b] == sizes[a]) & (cand[b] < cand[a]))
    drop = np.zeros(cm.shape[1], dtype=bool)
    drop[a[dom]] = True
    drop |= sizes == 0
    keep = np.flatnonzero(~drop)
    return sp.csr_matrix(cm[:, keep]), cand[keep]


def reduce_cover(cm: sp.csr_matrix, cand: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Reduce a set-covering matrix (rows must be covered): merge identical rows, drop
    dominated/empty columns and rows whose set contains another row's set; repeat until stable.

    Returns the reduced matrix and the original candidate index of each remaining column.
    """
    for _ in range(10):
        reps, _g = merge_identical_rows(cm)
        cm = sp.csr_matrix(cm[reps])
        before = cm.shape
        cm, cand = _reduce_columns(cm, cand)
        a, b = subset_pairs(sp.csr_matrix(cm.T))  # row a subset of row b -> drop b
        rs = cm.getnnz(axis=1)
        strict = (rs[a] < rs[b]) | (a < b)  # identical rows: keep the first
        drop = np.zeros(cm.shape[0], dtype=bool)
        drop[b[strict]] = True
        cm = sp.csr_matrix(cm[np.flatnonzero(~drop)])
        if cm.shape == before:
            break
    return cm, cand


def greedy_max_cover(cm: sp.csr_matrix, w: np.ndarray, k: int) -> np.ndarray:
    """Greedy maximal covering: ``k`` columns by largest newly covered weight (ties lowest index).

    Returns the chosen column positions (stops early when no column adds weight).
    """
    csc = sp.csc_matrix(cm, dtype=np.float64)
    left = w.astype(np.float64).copy()
    chosen: list[int] = []
    for _ in range(k):
        gain = csc.T @ left
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        left[csc.indices[csc.indptr[j]:csc.indptr[j + 1]]] = 0.0
    return np.asarray(chosen, dtype=np.int64)


def _prune_useless(cov: sp.csr_matrix, w: np.ndarray, selected: np.ndarray,
                   req: np.ndarray) -> np.ndarray:
    """Drop open non-required stations that add no covered weight (highest index first).

    ``sum y = p`` may force stations whose demand is all covered by others; they are not built.
    """
    if selected.size == 0:
        return selected
    sub = sp.csc_matrix(cov[:, selected])
    pos_w = w > 0
    counts = np.asarray(sub.sum(axis=1)).reshape(-1)
    keep = np.ones(selected.size, dtype=bool)
    is_req = np.isin(selected, req)
    for k in range(selected.size - 1, -1, -1):
        if is_req[k]:
            continue
        rows = sub.indices[sub.indptr[k]:sub.indptr[k + 1]]
        rows = rows[pos_w[rows]]
        if (counts[rows] >= 2).all():
            keep[k] = False
            counts[rows] -= 1
    return selected[keep]


def greedy_set_cover(cm: sp.csr_matrix) -> np.ndarray:
    """Greedy set cover (most uncovered rows first, ties lowest index); column positions."""
    csc = sp.csc_matrix(cm, dtype=np.float64)
    left = np.ones(cm.shape[0])
    chosen: list[int] = []
    while left.any():
        gain = csc.T @ left
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        left[csc.indices[csc.indptr[j]:csc.indptr[j + 1]]] = 0.0
    return np.asarray(chosen, dtype=np.int64)


class LSCP(_Model):
    """Location Set Covering Problem: fewest stations so every demand point is within the radius.

    Args:
        service_radius: coverage standard in minutes (covered iff travel time <= radius).

    Build with :meth:`from_cost_matrix` or :meth:`from_geodataframe`, then :meth:`solve`.
    The objective is the number of open stations (required ones included). When ``weights``
    are given, demand points with zero weight need no coverage.
    """

    name = "LSCP"

    def __init__(self, service_radius: float):
        super().__init__()
        self.service_radius = _check_radius(service_radius)

    @classmethod
    def from_cost_matrix(cls, cost: Any, service_radius: float, weights: Any = None,
                         required: Any = None) -> "LSCP":
        """Build from a ``(n_clients, n_candidates)`` travel-time matrix (minutes).

        Args:
            cost: dense ndarray (``np.inf`` = unreachable) or scipy.sparse (absent = unreachable).
            service_radius: minutes.
            weights: optional ``(n_clients,)`` non-negative; zero-weight points need no coverage.
            required: candidate indices (or boolean mask) always open (existing stations).

        Raises:
            InputError: malformed matrix, weights or indices.
        """
        m = cls(service_radius)
        m._attach(cost, weights, required)
        return m

    @classmethod
    def from_geodataframe(cls, demand_gdf: Any, candidates_gdf: Any, cost: Any, service_radius: float,
                          weights_col: str | None = None, required_col: str | None = None) -> "LSCP":
        """Build from demand and candidate GeoDataFrames plus their travel-time matrix (minutes).

        ``cost`` rows follow ``demand_gdf`` order and columns ``candidates_gdf`` order;
        ``required_col`` is a boolean column of ``candidates_gdf`` marking existing stations.
        """
        cost, w, req = from_geodataframe_args(demand_gdf, candidates_gdf, cost, weights_col, required_col)
        return cls.from_cost_matrix(cost, service_radius, weights=w, required=req)

    def solve(self, solver: str = "cbc", time_limit: float | None = None,
              mip_gap: float | None = None) -> LocationResult:
        """Solve to proven optimality (or until ``time_limit`` seconds / ``mip_gap``).

        Returns:
            LocationResult with ``covered`` and nearest-station ``assignment``.

        Raises:
            InfeasibleError: some demand points have no candidate within the radius (listed).
            SolverError: solver not available, failed, or found no solution in time.
        """
        self._require_data()
        solver = check_solver(solver)
        time_limit, mip_gap = check_limits(time_limit, mip_gap)
        t0 = time.perf_counter()
        r = self.service_radius
        cov = coverage_csr(self.cost, r)
        n, m = cov.shape
        need = self.weights > 0 if self.weights_given else np.ones(n, dtype=bool)
        uncoverable = np.flatnonzero(need & (cov.getnnz(axis=1) == 0))
        if uncoverable.size:
            raise InfeasibleError(
                f"{_listing(uncoverable)} have no candidate site within {r:g} minutes; "
                f"raise service_radius or add candidate sites near them"
            )
        req = self.required
        by_req = (cov[:, req].getnnz(axis=1) > 0) if req.size else np.zeros(n, dtype=bool)
        active = np.flatnonzero(need & ~by_req)
        cand = np.setdiff1d(np.arange(m), req)
        cm = sp.csr_matrix(cov[active][:, cand])
        stats = {"clients": n, "candidates": m}
        cm, cand = reduce_cover(cm, cand)
        stats.update(reduced_clients=cm.shape[0], reduced_candidates=cm.shape[1])
        tb = time.perf_counter()
        if cm.shape[0] == 0:
            chosen = np.zeros(0, dtype=np.int64)
            outcome = None
        else:
            prob = pulp.LpProblem("LSCP", pulp.LpMinimize)
            y = binary_vars(prob, "y", cm.shape[1])
            prob += pulp.lpSum(y)
            add_csr_rows(prob, cm, y, None, pulp.LpConstraintGE, np.ones(cm.shape[0]), "c")
            stats["build_s"] = time.perf_counter() - tb
            g = greedy_set_cover(cm)
            ystart = np.zeros(cm.shape[1])
            ystart[g] = 1.0
            outcome = run_solver(prob, solver, time_limit, mip_gap, start=dict(zip(y, ystart.tolist())))
            yv = var_values(y) > 0.5 if outcome.has_solution else ystart > 0.5
            if outcome.has_solution and ((cm @ yv.astype(float)) < 1).any():
                yv = ystart > 0.5  # defensive: never return an incomplete cover
            if yv.sum() > ystart.sum():
                yv = ystart > 0.5
            outcome.has_solution = True
            if not outcome.proven and not np.isfinite(outcome.bound):
                outcome.bound = 1.0  # at least one more station is needed
            chosen = cand[yv]
        selected = np.union1d(req, chosen).astype(np.int64)
        assignment = nearest_assignment(self.cost, selected, r)
        covered = assignment >= 0
        obj = float(len(selected))
        if outcome is None:
            status, bound, gap, msg = "optimal", obj, 0.0, ""
        else:
            outcome.bound = outcome.bound + len(req)
            status, bound, gap, msg = finish_status(outcome, obj, False, mip_gap, integral=True)
            stats["solve_s"] = outcome.seconds
        return LocationResult("LSCP", status, obj, float(bound), float(gap), selected, assignment,
                              time.perf_counter() - t0, solver, covered, msg, stats)


class MCLP(_Model):
    """Maximal Covering Location Problem: open at most ``p_facilities`` stations (required ones
    included) to maximise the demand weight within ``service_radius`` minutes.

    The model opens exactly p stations; afterwards, non-required stations whose demand is all
    covered by other open stations are dropped (highest index first), so ``len(selected)`` may
    be below p and every non-required open station covers some demand no other one does.
    Objective: covered weight (e.g. NEVs or kWh/day).
    """

    name = "MCLP"

    def __init__(self, service_radius: float, p_facilities: int):
        super().__init__()
        self.service_radius = _check_radius(service_radius)
        self.p_facilities = p_facilities

    @classmethod
    def from_cost_matrix(cls, cost: Any, weights: Any = None, service_radius: float = 15.0,
                         p_facilities: int = 1, required: Any = None) -> "MCLP":
        """Build from a ``(n_clients, n_candidates)`` travel-time matrix (minutes).

        Args:
            cost: dense ndarray (``np.inf`` = unreachable) or scipy.sparse (absent = unreachable).
            weights: ``(n_clients,)`` non-negative demand weights (None = all ones).
            service_radius: minutes.
            p_facilities: maximum number of open stations, required ones included.
            required: candidate indices (or boolean mask) always open (existing stations).

        Raises:
            InputError: malformed inputs. InfeasibleError: p > candidates or required > p.
        """
        m = cls(service_radius, p_facilities)
        m._attach(cost, weights, required)
        check_p(p_facilities, m.n_candidates, len(m.required))
        return m

    @classmethod
    def from_geodataframe(cls, demand_gdf: Any, candidates_gdf: Any, cost: Any,
                          weights_col: str | None = None, service_radius: float = 15.0,
                          p_facilities: int = 1, required_col: str | None = None) -> "MCLP":
        """Build from GeoDataFrames (rows of ``cost`` = demand order, columns = candidate order).

        ``weights_col`` is a numeric column of ``demand_gdf``; ``required_col`` a boolean column
        of ``candidates_gdf`` marking existing stations.
        """
        cost, w, req = from_geodataframe_args(demand_gdf, candidates_gdf, cost, weights_col, required_col)
        return cls.from_cost_matrix(cost, weights=w, service_radius=service_radius,
                                    p_facilities=p_facilities, required=req)

    def solve(self, solver: str = "cbc", time_limit: float | None = None,
              mip_gap: float | None = None) -> LocationResult:
        """Solve to proven optimality (or until ``time_limit`` seconds / ``mip_gap``).

        Returns:
            LocationResult; ``objective`` = covered weight, ``covered`` per demand point,
            ``assignment`` = nearest open station within the radius or -1.

        Raises:
            InfeasibleError: p > candidates or more required stations than p.
            SolverError: solver not available, failed, or found no solution in time.
        """
        self._require_data()
        solver = check_solver(solver)
        time_limit, mip_gap = check_limits(time_limit, mip_gap)
        t0 = time.perf_counter()
        r = self.service_radius
        req = self.required
        p = check_p(self.p_facilities, self.n_candidates, len(req))
        cov = coverage_csr(self.cost, r)
        n, m = cov.shape
        w = self.weights
        by_req = (cov[:, req].getnnz(axis=1) > 0) if req.size else np.zeros(n, dtype=bool)
        active = np.flatnonzero((w > 0) & ~by_req & (cov.getnnz(axis=1) > 0))
        cand = np.setdiff1d(np.arange(m), req)
        cm = sp.csr_matrix(cov[active][:, cand])
        wa = w[active]
        stats = {"clients": n, "candidates": m}
        reps, g = merge_identical_rows(cm)
        wa = np.bincount(g, weights=wa, minlength=len(reps))
        cm = sp.csr_matrix(cm[reps])
        cm, cand = _reduce_columns(cm, cand)
        reps, g = merge_identical_rows(cm)
        wa = np.bincount(g, weights=wa, minlength=len(reps))
        cm = sp.csr_matrix(cm[reps])
        stats.update(reduced_clients=cm.shape[0], reduced_candidates=cm.shape[1])
        p_free = p - len(req)
        outcome = None
        tb = time.perf_counter()
        if cm.shape[0] == 0 or p_free == 0:
            chosen = np.zeros(0, dtype=np.int64)
        elif p_free >= cm.shape[1]:
            chosen = cand
        else:
            prob = pulp.LpProblem("MCLP", pulp.LpMaximize)
            y = binary_vars(prob, "y", cm.shape[1])
            z = continuous_vars(prob, "z", cm.shape[0], 0.0, 1.0)
            prob += pulp.LpAffineExpression(zip(z, wa.tolist()))
            minus = sp.csr_matrix((-cm.data.astype(np.float64), cm.indices, cm.indptr), shape=cm.shape)
            add_csr_rows(prob, minus, y, [(zi, 1.0) for zi in z], pulp.LpConstraintLE,
                         np.zeros(cm.shape[0]), "c")
            prob += pulp.lpSum(y) == p_free, "p"
            stats["build_s"] = time.perf_counter() - tb
            # greedy start: kept if the solver finds nothing better. Handed to HiGHS only: CBC's
            # MIP start made it 1.3-1.8x slower on benchmarks/bench_models.py (5000x1000).
            g = greedy_max_cover(cm, wa, p_free)
            ystart = np.zeros(cm.shape[1])
            ystart[g] = 1.0
            zstart = np.minimum(cm @ ystart, 1.0)
            start = dict(zip(y, ystart.tolist()))
            start.update(zip(z, zstart.tolist()))
            outcome = run_solver(prob, solver, time_limit, mip_gap, start=start if solver != "cbc" else None)
            yv = var_values(y) > 0.5 if outcome.has_solution else np.zeros(cm.shape[1], dtype=bool)
            if not outcome.has_solution or float(wa @ np.minimum(cm @ yv, 1)) < float(wa @ zstart):
                yv = ystart > 0.5
                outcome.has_solution = True
            if not outcome.proven and not np.isfinite(outcome.bound):
                outcome.bound = float(wa.sum())
            chosen = cand[yv]
        selected = _prune_useless(cov, w, np.union1d(req, chosen).astype(np.int64), req)
        assignment = nearest_assignment(self.cost, selected, r)
        covered = assignment >= 0
        obj = float(w[covered].sum())
        integral = bool(np.all(w == np.round(w)))
        if outcome is None:
            status, bound, gap, msg = "optimal", obj, 0.0, ""
        else:
            outcome.bound = outcome.bound + float(w[by_req].sum())
            status, bound, gap, msg = finish_status(outcome, obj, True, mip_gap, integral=integral)
            stats["solve_s"] = outcome.seconds
        return LocationResult("MCLP", status, obj, float(bound), float(gap), selected, assignment,
                              time.perf_counter() - t0, solver, covered, msg, stats)
