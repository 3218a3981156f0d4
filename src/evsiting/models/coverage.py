"""Covering models: LSCP (fewest stations covering everyone) and MCLP (best p stations).

A demand point is *covered* by a candidate when its travel time is ``<= service_radius``
minutes. Both models are reduced before solving (results are mapped back to the original
indices):

- demand points with zero weight (MCLP) or already covered by a required station are dropped;
- demand points with identical coverage sets are merged (weights summed);
- candidates covering nothing, and candidates whose coverage set is contained in another
  candidate's (ties: lowest index kept), are dropped; for LSCP, a demand point whose coverage
  set contains another demand point's set is dropped too (covering the smaller set covers it).

MCLP then looks for a solution that needs no branch and bound: a greedy + interchange
(:func:`swap_local_search`) incumbent, and :func:`find_full_cover`, which asks whether p
stations can cover *all* coverable demand (a set cover of size <= p on the LSCP-reduced rows,
skipped when the set-cover LP bound exceeds p). Covering all coverable demand meets the trivial
upper bound, so such a solution is proven optimal. Otherwise the full MCLP MIP is solved
(``z_i <= sum_j a_ij y_j``, ``sum y = p``), the incumbent kept as a fallback and handed to HiGHS
as a MIP start.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pulp
import scipy.sparse as sp

from evsiting.core.errors import InfeasibleError
from evsiting.models._core import (
    LocationResult,
    SolveOutcome,
    _listing,
    _Model,
    add_csr_rows,
    binary_vars,
    check_p,
    continuous_vars,
    check_standard,
    coverage_csr,
    standard_text,
    finish_status,
    from_geodataframe_args,
    merge_identical_rows,
    nearest_assignment,
    run_solver,
    subset_pairs,
    var_values,
)


def _check_radius(r: Any, n: int | None = None) -> float | np.ndarray:
    """The coverage standard: minutes, one value or one per demand point
    (:func:`evsiting.models._core.check_standard`)."""
    return check_standard(r, n, "service_radius")


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
    """Greedy set cover (most uncovered rows first, ties lowest index); column positions.

    Greedy maximal covering with unit weights and no limit: it stops once every coverable row
    is covered."""
    return greedy_max_cover(cm, np.ones(cm.shape[0]), cm.shape[1])


def cover_value(csc: sp.csc_matrix, w: np.ndarray, cols: np.ndarray) -> float:
    """Weight of the rows of ``csc`` covered by the columns ``cols``."""
    hit = np.zeros(csc.shape[0], dtype=bool)
    for j in np.asarray(cols, dtype=np.int64).tolist():
        hit[csc.indices[csc.indptr[j]:csc.indptr[j + 1]]] = True
    return float(w[hit].sum())


def swap_local_search(cm: sp.csr_matrix, w: np.ndarray, chosen: np.ndarray,
                      max_swaps: int | None = None) -> np.ndarray:
    """Best-improvement interchange for maximal covering: close one chosen column and open
    another while that raises the covered weight (ties: first pair in (closed, opened) order).

    Each pass evaluates every (close j, open k) pair at once: gain(k) - loss(j) + the weight
    covered only by j that k also covers (a sparse product over the chosen columns).

    Args:
        cm: ``(rows, columns)`` 0/1 coverage matrix. w: ``(rows,)`` non-negative weights.
        chosen: distinct column positions (the start). max_swaps: cap (default 10 x len(chosen) + 100).

    Returns:
        Sorted column positions, as many as ``chosen``, covering at least as much weight.
    """
    sel = np.asarray(chosen, dtype=np.int64).copy()
    if sel.size == 0 or sel.size >= cm.shape[1]:
        return np.sort(sel)
    a = sp.csr_matrix(cm, dtype=np.float64)
    ac = sp.csc_matrix(a)
    w = np.asarray(w, dtype=np.float64)
    tol = 1e-9 * max(float(w.sum()), 1.0)
    cap = 10 * sel.size + 100 if max_swaps is None else max_swaps
    for _ in range(cap):
        y = np.zeros(a.shape[1])
        y[sel] = 1.0
        cnt = a @ y
        gain = ac.T @ np.where(cnt == 0, w, 0.0)  # newly covered weight of opening k
        uniq = np.where(cnt == 1, w, 0.0)
        a_sel = ac[:, sel]
        loss = a_sel.T @ uniq  # weight lost when closing chosen column sel[j]
        inter = (sp.csr_matrix(a_sel.T.multiply(uniq[None, :])) @ a).tocoo()  # j's unique weight k covers
        best, bj, bk = tol, -1, -1
        if inter.nnz:
            vals = gain[inter.col] - loss[inter.row] + inter.data
            vals[y[inter.col] > 0] = -np.inf
            t = int(np.argmax(vals))
            if vals[t] > best:
                best, bj, bk = float(vals[t]), int(inter.row[t]), int(inter.col[t])
        g_closed = np.where(y > 0, -np.inf, gain)
        k = int(np.argmax(g_closed))
        j = int(np.argmin(loss))
        if g_closed[k] - loss[j] > best:  # pairs sharing no unique row (interaction >= 0)
            bj, bk = j, k
        if bj < 0:
            break
        sel[bj] = bk
    return np.sort(sel)


def _prune_redundant(csc: sp.csc_matrix, cols: np.ndarray) -> np.ndarray:
    """Drop columns of a cover (last first) whose rows are all covered by other chosen columns."""
    cnt = np.zeros(csc.shape[0], dtype=np.int64)
    for j in cols.tolist():
        cnt[csc.indices[csc.indptr[j]:csc.indptr[j + 1]]] += 1
    keep = np.ones(cols.size, dtype=bool)
    for pos in range(cols.size - 1, -1, -1):
        rows = csc.indices[csc.indptr[cols[pos]]:csc.indptr[cols[pos] + 1]]
        if (cnt[rows] >= 2).all():
            keep[pos] = False
            cnt[rows] -= 1
    return cols[keep]


def set_cover_lp_bound(cm: sp.csr_matrix) -> float:
    """LP relaxation of the set cover of ``cm``'s rows (min sum y, cm y >= 1, 0 <= y <= 1),
    solved with scipy's HiGHS; a lower bound on the number of columns any full cover needs
    (nan if the LP solver fails)."""
    from scipy.optimize import linprog

    if cm.shape[0] == 0:
        return 0.0
    res = linprog(np.ones(cm.shape[1]), A_ub=-sp.csr_matrix(cm, dtype=np.float64),
                  b_ub=-np.ones(cm.shape[0]), bounds=(0, 1), method="highs")
    return float(res.fun) if res.status == 0 else math.nan

def _unit_cover_mip(cm: sp.csr_matrix, k: int, solver: str, time_limit: float | None,
                    start: np.ndarray) -> tuple[np.ndarray | None, SolveOutcome]:
    """Most rows of ``cm`` coverable with ``k <= columns`` columns, as a MIP (unit-weight MCLP): returns
    (column positions of the best solution or None, solver outcome). Stops as soon as every row
    is covered, since the number of rows is then a trivial bound."""
    prob = pulp.LpProblem("full_cover", pulp.LpMaximize)
    y = binary_vars(prob, "y", cm.shape[1])
    z = continuous_vars(prob, "z", cm.shape[0], 0.0, 1.0)
    prob += pulp.lpSum(z)
    minus = sp.csr_matrix((-np.ones(cm.nnz), cm.indices, cm.indptr), shape=cm.shape)
    add_csr_rows(prob, minus, y, [(zi, 1.0) for zi in z], pulp.LpConstraintLE, rhs=np.zeros(cm.shape[0]), prefix="c")
    prob += pulp.lpSum(y) == k, "p"  # "== k" solved 3-4x faster than "<= k" (same answer)
    s = np.zeros(cm.shape[1])
    s[start] = 1.0
    st = dict(zip(y, s.tolist()))
    st.update(zip(z, np.minimum(cm @ s, 1.0).tolist()))
    out = run_solver(prob, solver, time_limit, None, start=st if solver != "cbc" else None)
    cols = np.flatnonzero(var_values(y) > 0.5) if out.has_solution else None
    return cols, out


def find_full_cover(cm: sp.csr_matrix, k: int, solver: str,
                    time_limit: float | None) -> tuple[np.ndarray | None, str]:
    """Look for at most ``k`` columns of ``cm`` covering every row (a set cover of size <= k).

    The rows are first reduced as for LSCP (:func:`reduce_cover`), then tried in order: greedy
    set cover; the set-cover LP bound (above ``k``: no such cover exists); greedy maximal
    cover + :func:`swap_local_search`; a unit-weight covering MIP, which stops at the first
    full cover.

    Returns:
        (column positions or None, verdict): ``"found"``, ``"none"`` (proven: no cover of size
        <= k exists) or ``"unknown"`` (time limit reached).
    """
    t0 = time.perf_counter()
    csc = sp.csc_matrix(cm)

    def covers(cols: np.ndarray) -> bool:
        hit = np.zeros(cm.shape[0], dtype=bool)
        for j in cols.tolist():
            hit[csc.indices[csc.indptr[j]:csc.indptr[j + 1]]] = True
        return bool(hit.all())

    red, pos = reduce_cover(cm, np.arange(cm.shape[1]))
    if k >= red.shape[1]:
        return pos, "found"
    rcsc = sp.csc_matrix(red)
    g = _prune_redundant(rcsc, greedy_set_cover(red))
    if g.size <= k and covers(pos[g]):
        return pos[g], "found"
    lb = set_cover_lp_bound(red)
    if lb > k + 1e-6:
        return None, "none"
    ones = np.ones(red.shape[0])
    s = swap_local_search(red, ones, greedy_max_cover(red, ones, k))
    if cover_value(rcsc, ones, s) >= red.shape[0] and covers(pos[s]):
        return pos[s], "found"
    left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
    if left is not None and left <= 0:
        return None, "unknown"
    cols, out = _unit_cover_mip(red, k, solver, left, s)
    if cols is not None and covers(pos[cols]):
        return pos[cols], "found"
    return None, ("none" if out.proven else "unknown")


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
            service_radius: minutes: one value, or ``(n_clients,)`` (each demand point's own
                standard, e.g. by urban zone).
            weights: optional ``(n_clients,)`` non-negative; zero-weight points need no coverage.
            required: candidate indices (or boolean mask) always open (existing stations).

        Raises:
            InputError: malformed matrix, weights, indices or standards.
        """
        m = cls(service_radius)
        m._attach(cost, weights, required)
        m.service_radius = _check_radius(service_radius, m.cost.shape[0])
        return m

    @classmethod
    def from_geodataframe(cls, demand_gdf: Any, candidates_gdf: Any, cost: Any, service_radius: float,
                          weights_col: str | None = None, *, required_col: str | None = None) -> "LSCP":
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
        solver, time_limit, mip_gap, t0 = self._begin_solve(solver, time_limit, mip_gap)
        r = self.service_radius
        cov = coverage_csr(self.cost, r)
        n, m = cov.shape
        need = self.weights > 0 if self.weights_given else np.ones(n, dtype=bool)
        uncoverable = np.flatnonzero(need & (cov.getnnz(axis=1) == 0))
        if uncoverable.size:
            raise InfeasibleError(
                f"{_listing(uncoverable)} have no candidate site within {standard_text(r)} minutes; "
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
            add_csr_rows(prob, cm, y, None, pulp.LpConstraintGE, rhs=np.ones(cm.shape[0]), prefix="c")
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
            service_radius: minutes: one value, or ``(n_clients,)`` (each point's own standard).
            p_facilities: maximum number of open stations, required ones included.
            required: candidate indices (or boolean mask) always open (existing stations).

        Raises:
            InputError: malformed inputs. InfeasibleError: p > candidates or required > p.
        """
        m = cls(service_radius, p_facilities)
        m._attach(cost, weights, required)
        m.service_radius = _check_radius(service_radius, m.cost.shape[0])
        check_p(p_facilities, m.n_candidates, len(m.required))
        return m

    @classmethod
    def from_geodataframe(cls, demand_gdf: Any, candidates_gdf: Any, cost: Any,
                          weights_col: str | None = None, service_radius: float = 15.0, *,
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
        solver, time_limit, mip_gap, t0 = self._begin_solve(solver, time_limit, mip_gap)
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
            integral = bool(np.all(wa == np.round(wa)))
            total = float(wa.sum())
            tol = 0.5 if integral else 1e-9 * max(total, 1.0)
            deadline = None if time_limit is None else t0 + time_limit
            # incumbent: greedy, then interchange local search
            csc = sp.csc_matrix(cm)
            best = swap_local_search(cm, wa, greedy_max_cover(cm, wa, p_free))
            best_val = cover_value(csc, wa, best)
            stats["heuristic_objective"] = best_val
            stats["heuristic_s"] = time.perf_counter() - tb
            proof = ""
            if best_val >= total - tol:
                proof = "all coverable demand covered"
            else:
                # All coverable demand is a trivial bound: if p stations can cover every
                # client (a set cover of size <= p), that cover is optimal.
                tf = time.perf_counter()
                cols, verdict = find_full_cover(cm, p_free, solver,
                                                None if deadline is None else deadline - tf)
                stats["full_cover"] = verdict
                stats["full_cover_s"] = time.perf_counter() - tf
                if cols is not None:
                    best, best_val = cols, cover_value(csc, wa, cols)
                    proof = "all coverable demand covered"
            if proof:
                stats["proof"] = proof
                chosen = cand[best]
            elif deadline is not None and deadline - time.perf_counter() <= 0:
                outcome = SolveOutcome(False, total, time.perf_counter() - tb, True, True)
                chosen = cand[best]
            else:
                tm = time.perf_counter()
                prob = pulp.LpProblem("MCLP", pulp.LpMaximize)
                y = binary_vars(prob, "y", cm.shape[1])
                z = continuous_vars(prob, "z", cm.shape[0], 0.0, 1.0)
                prob += pulp.LpAffineExpression(zip(z, wa.tolist()))
                minus = sp.csr_matrix((-cm.data.astype(np.float64), cm.indices, cm.indptr), shape=cm.shape)
                add_csr_rows(prob, minus, y, [(zi, 1.0) for zi in z], pulp.LpConstraintLE,
                             rhs=np.zeros(cm.shape[0]), prefix="c")
                prob += pulp.lpSum(y) == p_free, "p"
                stats["build_s"] = time.perf_counter() - tm
                # The incumbent is handed to HiGHS only: CBC's MIP start made it slower (1.3-1.8x
                # on the 5000x1000 benchmark with the greedy start; province demo 81 s vs 69 s
                # with the interchange start); it is kept as a fallback.
                ystart = np.zeros(cm.shape[1])
                ystart[best] = 1.0
                start = dict(zip(y, ystart.tolist()))
                start.update(zip(z, np.minimum(cm @ ystart, 1.0).tolist()))
                # at least 1 s for the solver: the heuristics may have used the whole limit, and a
                # limit <= 0 is no limit to HiGHS (as in PMedian's radius loop)
                left = None if deadline is None else max(deadline - time.perf_counter(), 1.0)
                # HiGHS may stop within 1 of the bound for integral weights (CBC finds the
                # cutoff increment itself; its gapAbs made the province run slower)
                use_abs = integral and mip_gap is None and solver == "highs"
                outcome = run_solver(prob, solver, left, mip_gap,
                                     start=start if solver != "cbc" else None,
                                     gap_abs=0.999 if use_abs else None)
                yv = np.flatnonzero(var_values(y) > 0.5) if outcome.has_solution else best
                if not outcome.has_solution or cover_value(csc, wa, yv) < best_val:
                    yv = best
                    outcome.has_solution = True
                if not outcome.proven and not np.isfinite(outcome.bound):
                    outcome.bound = total
                outcome.bound = min(outcome.bound, total)
                outcome.seconds = time.perf_counter() - tb
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
