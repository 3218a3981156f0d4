"""p-median and p-center, exact, with compact formulations on sorted distinct distances.

PMedian by default (``formulation="lagrangian"``) is solved without a MIP solver: a
greedy + vertex-substitution incumbent, the Lagrangian relaxation of the assignment
constraints with exact penalty fixing of facilities, and a Lagrangian branch-and-bound
(Beasley 1985; kernels in :mod:`evsiting.models._median_lr`), on the truncated, merged
client rows described below. It proves all 40 OR-Library instances optimal in under a minute
in total (``benchmarks/bench_orlib.py``). ``formulation="radius"`` solves the radius
formulation below with CBC or HiGHS instead, ``"classic"`` the textbook one.

The radius formulation of Elloumi (2010) and García, Labbé & Marín (2011) in
its incremental form: for client ``i`` with sorted distinct travel times
``D_i1 < ... < D_iL`` and ``S_ik`` the candidates at exactly ``D_ik``,

    min  sum_i w_i (D_i1 + sum_{k<L} (D_i,k+1 - D_ik) z_ik)
    s.t. z_i1 + sum_{j in S_i1} y_j >= 1,   z_ik - z_i,k-1 + sum_{j in S_ik} y_j >= 0,
         sum_j y_j = p,  y binary, z >= 0

(``z_ik`` = 1 iff no open facility within ``D_ik``). Levels are truncated at the distance of a
required station and at the (m_i - p + 1)-th nearest candidate (an open facility must lie
within it), which also removes candidates that can never be anyone's nearest facility.

PCenter is solved exactly by binary search over the sorted distinct travel times, each step a
reduced set-covering feasibility problem (can ``p`` stations cover everyone within r?).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pulp
import scipy.sparse as sp

from evsiting.core.errors import InfeasibleError, SolverError
from evsiting.models._core import (
    LocationResult,
    SolveOutcome,
    _listing,
    _Model,
    add_csr_rows,
    binary_vars,
    check_p,
    continuous_vars,
    coverage_csr,
    finish_status,
    from_geodataframe_args,
    merge_identical_rows,
    nearest_assignment,
    run_solver,
    var_values,
)
from evsiting.models.coverage import greedy_max_cover, reduce_cover
from evsiting.models import _median_lr as _lr


def _unreachable_error(idx: np.ndarray) -> InfeasibleError:
    return InfeasibleError(
        f"{_listing(idx)} cannot reach any candidate site (no travel time in the matrix); "
        f"add candidate sites reachable from them or fix the network"
    )


def _too_few_error(p: int) -> InfeasibleError:
    return InfeasibleError(
        f"p_facilities={p} stations cannot give every demand point a reachable station "
        f"(some demand points are reachable only from sites that cannot all be opened); "
        f"raise p_facilities or add candidates"
    )


class _PFacilities(_Model):
    """The build methods of the models that open ``p_facilities`` stations (:class:`PMedian`,
    :class:`PCenter`)."""

    def __init__(self, p_facilities: int):
        super().__init__()
        self.p_facilities = p_facilities

    @classmethod
    def from_cost_matrix(cls, cost: Any, weights: Any = None, p_facilities: int = 1,
                         required: Any = None) -> Any:
        """Build from a ``(n_clients, n_candidates)`` travel-time matrix (minutes).

        Args:
            cost: dense ndarray (``np.inf`` = unreachable) or scipy.sparse (absent = unreachable).
            weights: ``(n_clients,)`` non-negative (None = ones).
            p_facilities: number of stations, required ones included.
            required: candidate indices (or boolean mask) always open.

        Returns:
            the model (an instance of the class it is called on).

        Raises:
            InputError: malformed inputs. InfeasibleError: p > candidates or required > p.
        """
        m = cls(p_facilities)
        m._attach(cost, weights, required)
        check_p(p_facilities, m.n_candidates, len(m.required))
        return m

    @classmethod
    def from_geodataframe(cls, demand_gdf: Any, candidates_gdf: Any, cost: Any,
                          weights_col: str | None = None, p_facilities: int = 1, *,
                          required_col: str | None = None) -> Any:
        """Build from GeoDataFrames (rows of ``cost`` = demand order, columns = candidates)."""
        cost, w, req = from_geodataframe_args(demand_gdf, candidates_gdf, cost, weights_col, required_col)
        return cls.from_cost_matrix(cost, weights=w, p_facilities=p_facilities, required=req)


class PMedian(_PFacilities):
    """p-median: open exactly ``p_facilities`` stations (required ones included) minimising
    ``sum_i weight_i * minutes(i, nearest open station)``.

    Every demand point must reach at least one open station. ``len(selected)`` may be below p
    only when extra stations cannot shorten any trip.
    """

    name = "PMedian"

    def solve(self, solver: str = "cbc", time_limit: float | None = None,
              mip_gap: float | None = None, formulation: str = "lagrangian") -> LocationResult:
        """Solve to proven optimality (or until ``time_limit`` seconds / ``mip_gap``).

        Args:
            solver: ``"cbc"`` or ``"highs"``: the MIP solver of the ``"radius"`` and
                ``"classic"`` formulations (checked to be installed in every case).
            formulation: ``"lagrangian"`` (default): vertex-substitution incumbent, Lagrangian
                relaxation with exact variable fixing and a Lagrangian branch-and-bound
                (Beasley 1985), no MIP solver needed; ``"radius"``: the compact radius
                formulation solved by ``solver``; ``"classic"``: the textbook formulation
                (x_ij <= y_j, dense; for benchmarks).

        Raises:
            InfeasibleError: demand points that reach no candidate (listed), or p too small for
                every demand point to reach an open station.
            SolverError: solver not available, failed, or found no solution in time.
        """
        solver, time_limit, mip_gap, t0 = self._begin_solve(solver, time_limit, mip_gap)
        cost = self.cost
        n, m = cost.shape
        req = self.required
        p = check_p(self.p_facilities, m, len(req))
        w = self.weights
        reach = cost.getnnz(axis=1)
        bad = np.flatnonzero(reach == 0)
        if bad.size:
            raise _unreachable_error(bad)
        stats: dict[str, Any] = {"clients": n, "candidates": m}
        if formulation == "classic":
            return self._solve_classic(solver, time_limit, mip_gap, p, t0, stats=stats)
        if formulation not in ("radius", "lagrangian"):
            raise ValueError("formulation must be 'lagrangian', 'radius' or 'classic'")
        # --- per-row sort of the reachable entries (ascending minutes, ties by index) -------
        coo = cost.tocoo()
        order = np.lexsort((coo.col, coo.data, coo.row))
        r, c, d = coo.row[order], coo.col[order], coo.data[order]
        start = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=n))])
        pos = np.arange(r.size) - start[r]  # rank of the entry within its row
        # --- truncation radius D_max per client --------------------------------------------
        dmax = np.full(n, np.inf)
        guaranteed = np.zeros(n, dtype=bool)
        q = p - (m - reach)  # open facilities reachable from i, at least
        okq = q >= 1
        idx = start[:-1][okq] + reach[okq] - q[okq]
        dmax[okq] = d[idx]
        guaranteed[okq] = True
        is_req = np.zeros(m, dtype=bool)
        is_req[req] = True
        if req.size:
            rq = is_req[c]
            dreq = np.full(n, np.inf)
            np.minimum.at(dreq, r[rq], d[rq])
            better = dreq <= dmax
            dmax = np.minimum(dmax, dreq)
            guaranteed |= better & np.isfinite(dreq)
        no_guard = ~guaranteed
        dmax[no_guard] = np.maximum.reduceat(d, start[:-1])[no_guard] if d.size else dmax[no_guard]
        keep = d <= dmax[r]
        r, c, d, pos = r[keep], c[keep], d[keep], pos[keep]
        # candidates that appear in some truncated row (free ones only go into the model)
        free_entry = ~is_req[c]
        used = np.zeros(m, dtype=bool)
        used[c[free_entry]] = True
        cand = np.flatnonzero(used)
        p_free = p - len(req)
        if p_free >= len(cand) or p_free == 0:
            chosen = cand if p_free > 0 else np.zeros(0, dtype=np.int64)
            selected = np.union1d(req, chosen).astype(np.int64)
            return self._finish(selected, None, None, solver=solver, t0=t0, stats=stats)
        col_of = np.full(m, -1, dtype=np.int64)
        col_of[cand] = np.arange(len(cand))
        # --- merge clients with identical truncated rows (weights summed) -------------------
        row_mat = sp.csr_matrix((d + 1.0, (r, c)), shape=(n, m))  # +1 keeps explicit zeros
        row_mat.sort_indices()
        reps, grp = merge_identical_rows(row_mat, with_data=True, labels=guaranteed)
        wg = np.bincount(grp, weights=w, minlength=len(reps))
        is_rep = np.zeros(n, dtype=bool)
        is_rep[reps] = True
        wrow = np.zeros(n)
        wrow[reps] = wg
        stats.update(reduced_clients=len(reps), reduced_candidates=len(cand))
        if formulation == "lagrangian":
            lr = _LagrangianBB(r, c, d, rows=(is_rep, wrow), cand=cand, req=req, p=p, w=w)
            best_sel, outcome = lr.run(time_limit, mip_gap, t0, stats)
            return self._finish(best_sel, outcome, mip_gap, solver=solver, t0=t0, stats=stats)
        # --- heuristic incumbent: the MIP's warm start -------------------------------------
        th = time.perf_counter()
        heur = _pmedian_heuristic(self.cost, w, req, cand, p_free)
        stats["heuristic_s"] = time.perf_counter() - th
        best_sel = None if heur is None else np.union1d(req, heur).astype(np.int64)
        best_obj = math.inf
        stats["iterations"] = 1
        tb = time.perf_counter()
        prob, y, z, zl_row, zl_d, const = _radius_model(r, c, d, guaranteed, is_rep, wrow=wrow, col_of=col_of, n_cand=len(cand),
                                                        free_entry=~is_req[c], p_free=p_free)
        stats["build_s"] = time.perf_counter() - tb
        start = None
        if best_sel is not None:
            hd = _nearest_dist(self.cost, best_sel)
            best_obj = float((w * hd).sum()) if np.isfinite(hd).all() else math.inf
            start = dict(zip(y, np.isin(cand, best_sel).astype(float).tolist()))
            start.update(zip(z, (hd[zl_row] > zl_d).astype(float).tolist()))
        left = None if time_limit is None else max(t0 + time_limit - time.perf_counter(), 1.0)
        try:
            outcome = run_solver(prob, solver, left, mip_gap, start=start)
        except InfeasibleError:
            raise _too_few_error(p) from None
        if math.isfinite(outcome.bound):
            outcome.bound += const
        if outcome.has_solution:
            sel = np.union1d(req, cand[var_values(y) > 0.5]).astype(np.int64)
            sd = _nearest_dist(self.cost, sel)
            obj = float((w * sd).sum()) if np.isfinite(sd).all() else math.inf
            if obj < best_obj - 1e-9 or best_sel is None:
                best_sel, best_obj = sel, obj
        elif best_sel is None:
            raise SolverError("PMedian: the solver stopped without a feasible solution; raise time_limit")
        stats["solve_s"] = outcome.seconds
        return self._finish(best_sel, outcome, mip_gap, solver=solver, t0=t0, stats=stats)

    def _finish(self, selected, outcome: SolveOutcome | None, mip_gap, *, solver, t0, stats) -> LocationResult:
        """The result of the open stations ``selected`` (each client at its nearest), the
        status from the solver ``outcome`` (None: proven without a solve)."""
        assignment = nearest_assignment(self.cost, selected)
        if (assignment < 0).any():
            raise InfeasibleError(
                f"{_listing(np.flatnonzero(assignment < 0))} reach none of the {len(selected)} open "
                f"stations; raise p_facilities or add candidates reachable from them"
            )
        dist = np.asarray(self.cost[np.arange(self.n_clients), assignment]).reshape(-1)
        w = self.weights
        obj = float((w * dist).sum())
        integral = bool(np.all(w == np.round(w)) and np.all(dist == np.round(dist)))
        if outcome is None:
            status, bound, gap, msg = "optimal", obj, 0.0, ""
        else:
            status, bound, gap, msg = finish_status(outcome, obj, False, mip_gap, integral=integral)
            stats["solve_s"] = outcome.seconds
        return LocationResult(self.name, status, obj, float(bound), float(gap), selected, assignment,
                              time.perf_counter() - t0, solver, None, msg, stats)

    def _solve_classic(self, solver, time_limit, mip_gap, p, t0, *, stats) -> LocationResult:
        """Textbook formulation (x_ij continuous, x_ij <= y_j), for benchmarks."""
        cost, w, req = self.cost, self.weights, self.required
        coo = cost.tocoo()
        tb = time.perf_counter()
        prob = pulp.LpProblem("PMedianClassic", pulp.LpMinimize)
        y = binary_vars(prob, "y", cost.shape[1])
        x = continuous_vars(prob, "x", coo.nnz, 0.0, None)
        prob += pulp.LpAffineExpression(zip(x, (w[coo.row] * coo.data).tolist()))
        rows_of = [[] for _ in range(cost.shape[0])]
        for k, i in enumerate(coo.row.tolist()):
            rows_of[i].append(k)
        for i, ks in enumerate(rows_of):
            prob += pulp.LpAffineExpression([(x[k], 1.0) for k in ks]) == 1, f"a{i}"
        for k, j in enumerate(coo.col.tolist()):
            prob += pulp.LpAffineExpression([(x[k], 1.0), (y[j], -1.0)]) <= 0, f"l{k}"
        prob += pulp.lpSum(y) == p, "p"
        for j in req.tolist():
            prob += pulp.LpAffineExpression([(y[j], 1.0)]) == 1, f"r{j}"
        stats["build_s"] = time.perf_counter() - tb
        outcome = run_solver(prob, solver, time_limit, mip_gap)
        if not outcome.has_solution:
            raise SolverError("PMedian: the solver stopped without a feasible solution")
        selected = np.flatnonzero(var_values(y) > 0.5).astype(np.int64)
        return self._finish(selected, outcome, mip_gap, solver=solver, t0=t0, stats=stats)


class _LagrangianBB:
    """Exact p-median on the truncated, merged client rows by the kernels of ``_median_lr``.

    Steps: greedy + vertex-substitution incumbent; Lagrangian relaxation at the root
    (subgradient, up to ``ROOT_ITERS`` iterations) with penalty fixing; a local search from
    the relaxed solution (Lagrangian heuristic), then fixing again with the better incumbent;
    removal of the closed candidates; depth-first Lagrangian branch-and-bound.
    """

    ROOT_ITERS = 3000
    ROOT_NO_IMPROVE = 30
    NODE_ITERS = 50
    NODE_NO_IMPROVE = 8
    NODE_PI = 1.0
    NODE_PI_MIN = 0.02
    CHUNK_ITERS = 250
    CHUNK_NODES = 16

    def __init__(self, r, c, d, *, rows, cand, req, p, w):
        """``r``, ``c``, ``d``: the truncated entries (client, candidate, distance); ``rows``:
        (whether each client represents its merged group, the group's weight); ``cand``: the free
        candidates of the model, ``req``: the required ones, ``p`` stations, ``w`` client weights."""
        is_rep, wrow = rows
        cols = np.concatenate([cand, req]).astype(np.int64)
        size = int(max(c.max() if c.size else 0, cols.max() if cols.size else 0)) + 1
        col_of = np.full(size, -1, dtype=np.int64)
        col_of[cols] = np.arange(cols.size)
        keep = is_rep[r]
        rep_of = np.cumsum(is_rep) - 1
        rr = rep_of[r[keep]]
        self.n = int(is_rep.sum())
        self.col = col_of[c[keep]]
        self.val = (wrow[r[keep]] * d[keep]).astype(np.float64)
        self.ptr = np.concatenate([[0], np.cumsum(np.bincount(rr, minlength=self.n))]).astype(np.int64)
        self.cols = cols
        self.k = cols.size
        self.p = int(p)
        self.status = np.zeros(self.k, dtype=np.int8)
        self.status[cand.size:] = 1
        self.integral = bool(np.all(wrow[is_rep] == np.round(wrow[is_rep])) and np.all(d[keep] == np.round(d[keep])))
        rowmax = np.maximum.reduceat(self.val, self.ptr[:-1]) if self.val.size else np.zeros(0)
        self.big = float(2.0 * rowmax.sum() + 1.0)
        self.rr = rr

    def _columns(self, col, val, keep_rows):
        order = np.lexsort((keep_rows, col))
        cptr = np.concatenate([[0], np.cumsum(np.bincount(col, minlength=int(self.k)))]).astype(np.int64)
        return cptr, keep_rows[order].astype(np.int64), val[order]

    def _relaxed_set(self, ptr, col, val, lam, status):
        c = np.empty(status.size)
        free = np.empty(status.size, dtype=np.int64)
        slam = _lr._lagrangian_costs(ptr, col, val, lam, status, c)
        _low, q, nfree, order = _lr._relaxed(c, status, self.p, free, slam)
        s = status == 1
        if 0 <= q <= nfree:
            s[free[order[:q]]] = True
        return s

    def _root(self, status, lam, ub, best_set, gap_rel, *, iters, pi, deadline):
        """Subgradient at the root in chunks (deadline checked between them)."""
        best, best_lam, done, out = -math.inf, lam.copy(), 0, _lr.BRANCH
        while done < iters:
            bl = np.empty(self.n)
            out, low, its, pi = _lr.lagrangian_node(
                self.ptr, self.col, self.val, self.p, status, lam, bl, ub, best_set, self.integral,
                gap_rel, min(self.CHUNK_ITERS, iters - done), self.ROOT_NO_IMPROVE, pi, 1e-4)
            done += its
            if low > best:
                best, best_lam = low, bl.copy()
            if out == _lr.PRUNED or pi < 1e-4 or (deadline is not None and time.perf_counter() > deadline):
                break
        return out, best, best_lam, done

    def run(self, time_limit, mip_gap, t0, stats):
        """Returns (selected original candidate indices, SolveOutcome)."""
        deadline = None if time_limit is None else t0 + time_limit
        gap_rel = 0.0 if mip_gap is None else float(mip_gap)
        ptr, col, val, k = self.ptr, self.col, self.val, self.k
        cptr, crow, cval = self._columns(col, val, self.rr)
        th = time.perf_counter()
        fixed_open = self.status == 1
        in_s = fixed_open.copy()
        _lr.greedy_add(cptr, crow, cval, self.n, in_s, ~fixed_open, self.p, self.big)
        v = _lr.vertex_substitution(ptr, col, val, cptr, crow, cval, in_s, fixed_open, ~fixed_open,
                                    self.big, 10 * self.p + 100)
        ub = np.array([v if v < self.big else self.big])
        best_set = in_s.astype(np.int8) if v < self.big else np.zeros(k, dtype=np.int8)
        stats["heuristic_s"] = time.perf_counter() - th
        stats["heuristic_objective"] = float(v) if v < self.big else math.inf
        # --- root: relaxation, fixing, Lagrangian heuristic, fixing again ---------------------
        tr = time.perf_counter()
        status = self.status.copy()
        first = self.ptr[:-1] + np.minimum(1, np.diff(self.ptr) - 1)
        lam = val[first].copy() if val.size else np.zeros(self.n)
        out, root_lb, best_lam, its = self._root(status, lam, ub, best_set, gap_rel, iters=self.ROOT_ITERS, pi=2.0, deadline=deadline)
        if out != _lr.PRUNED:
            s = self._relaxed_set(ptr, col, val, best_lam, status)
            v2 = _lr.vertex_substitution(ptr, col, val, cptr, crow, cval, s, status == 1, status >= 0,
                                         self.big, 10 * self.p + 100)
            if v2 < ub[0]:
                ub[0] = v2
                best_set = s.astype(np.int8)
                out, lb2, bl2, its2 = self._root(status, best_lam.copy(), ub, best_set, gap_rel, iters=1000, pi=0.25, deadline=deadline)
                its += its2
                if lb2 > root_lb:
                    root_lb, best_lam = lb2, bl2
        stats.update(root_s=time.perf_counter() - tr, root_bound=float(root_lb), root_iterations=int(its),
                     fixed_open=int((status == 1).sum() - (self.status == 1).sum()),
                     fixed_closed=int((status == -1).sum()), nodes=0)
        proven = out == _lr.PRUNED
        pending_lb = math.inf
        if not proven and not (deadline is not None and time.perf_counter() > deadline):
            proven, pending_lb, best_set = self._branch(status, best_lam, root_lb, ub, best_set, gap_rel=gap_rel, deadline=deadline, stats=stats)
        elif not proven:
            pending_lb = root_lb
        if ub[0] >= self.big:
            if proven:
                raise _too_few_error(self.p)
            raise SolverError("PMedian: no feasible solution found within the time limit; raise time_limit")
        # pruned nodes hold nothing below the threshold, pending ones nothing below their bound
        lb = max(min(_lr._threshold(ub[0], self.integral, gap_rel), pending_lb), root_lb)
        if self.integral:
            lb = math.ceil(lb - 1e-7)
        lb = min(lb, ub[0])
        stats["root_bound"] = float(min(root_lb, ub[0]))
        secs = time.perf_counter() - tr
        outcome = SolveOutcome(proven, float(lb), secs, True, not proven)
        selected = np.sort(self.cols[best_set.astype(bool)]).astype(np.int64)
        return selected, outcome

    def _branch(self, status, best_lam, root_lb, ub, best_set, *, gap_rel, deadline, stats):
        tb = time.perf_counter()
        keep = status >= 0
        keep_idx = np.flatnonzero(keep)
        new_of = np.cumsum(keep) - 1
        ek = keep[self.col]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(self.rr[ek], minlength=self.n))]).astype(np.int64)
        col = new_of[self.col[ek]].astype(np.int64)
        val = self.val[ek]
        k = keep_idx.size
        cap = min(k + 2, 64)
        st_status = np.zeros((cap, k), dtype=np.int8)
        st_lam = np.zeros((cap, self.n))
        st_lb = np.zeros(cap)
        st_status[0] = status[keep]
        st_lam[0] = best_lam
        st_lb[0] = root_lb
        top = np.array([1], dtype=np.int64)
        ub0 = float(ub[0])
        bs = np.zeros(k, dtype=np.int8)
        counters = np.zeros(2, dtype=np.int64)
        while top[0] > 0:
            if deadline is not None and time.perf_counter() > deadline:
                break
            r = _lr.branch_and_bound(ptr, col, val, self.p, st_status, st_lam, st_lb, top, ub, bs,
                                     self.integral, gap_rel, self.CHUNK_NODES, self.NODE_ITERS,
                                     self.NODE_NO_IMPROVE, self.NODE_PI, self.NODE_PI_MIN, counters)
            if r == -1:  # grow the node stack
                cap = min(2 * cap, k + 2)
                st_status = np.concatenate([st_status, np.zeros((cap - st_status.shape[0], k), dtype=np.int8)])
                st_lam = np.concatenate([st_lam, np.zeros((cap - st_lam.shape[0], self.n))])
                st_lb = np.concatenate([st_lb, np.zeros(cap - st_lb.size)])
        if ub[0] < ub0:  # the search found a better solution (in the reduced numbering)
            best_set = np.zeros(self.k, dtype=np.int8)
            best_set[keep_idx[bs.astype(bool)]] = 1
        stats.update(nodes=int(counters[0]), node_iterations=int(counters[1]), bb_s=time.perf_counter() - tb)
        pending = st_lb[:top[0]]
        return top[0] == 0, (float(pending.min()) if pending.size else math.inf), best_set


def _radius_model(r, c, d, guaranteed, is_rep, *, wrow, col_of, n_cand, free_entry, p_free):
    """Build the incremental radius formulation on entries (r, c, d) sorted by row then minutes.

    Returns (prob, y, z, row of each z, minutes of each z's level, const). The objective omits
    the constant ``const = sum_i w_i D_i1``; callers add it to the solver's bound.
    """
    newlvl = np.ones(r.size, dtype=bool)
    newlvl[1:] = (r[1:] != r[:-1]) | (d[1:] != d[:-1])
    lvl = np.cumsum(newlvl) - 1
    nl = int(lvl[-1]) + 1
    lvl_row = r[newlvl]
    lvl_d = d[newlvl]
    first_lvl = np.ones(nl, dtype=bool)
    first_lvl[1:] = lvl_row[1:] != lvl_row[:-1]
    last_lvl = np.ones(nl, dtype=bool)
    last_lvl[:-1] = lvl_row[1:] != lvl_row[:-1]
    fe = free_entry
    inc = sp.csr_matrix((np.ones(int(fe.sum())), (lvl[fe], col_of[c[fe]])), shape=(nl, n_cand))
    inc.sum_duplicates()
    prob = pulp.LpProblem("PMedian", pulp.LpMinimize)
    y = binary_vars(prob, "y", n_cand)
    lv_rep = is_rep[lvl_row]
    zlev = np.flatnonzero(lv_rep & ~last_lvl)
    zid = np.full(nl, -1, dtype=np.int64)
    zid[zlev] = np.arange(zlev.size)
    z = continuous_vars(prob, "z", zlev.size, 0.0, None)
    nxt_d = np.zeros(nl)
    nxt_d[:-1] = lvl_d[1:]
    coef = wrow[lvl_row[zlev]] * (nxt_d[zlev] - lvl_d[zlev])
    first_rows = np.flatnonzero(first_lvl & lv_rep)
    const = float((wrow[lvl_row[first_rows]] * lvl_d[first_rows]).sum())
    prob += pulp.LpAffineExpression(zip(z, coef.tolist()))
    need_last = last_lvl & lv_rep & ~guaranteed[lvl_row]
    cons_lv = np.flatnonzero((zid >= 0) | need_last)
    sub = inc[cons_lv]
    extra_terms = []
    rhs = np.zeros(cons_lv.size)
    for t, g in enumerate(cons_lv.tolist()):
        terms = []
        if zid[g] >= 0:
            terms.append((z[zid[g]], 1.0))
        if first_lvl[g]:
            rhs[t] = 1.0
        else:
            terms.append((z[zid[g - 1]], -1.0))
        extra_terms.append(terms)
    _add_rows_multi(prob, sub, y, extra_terms, pulp.LpConstraintGE, rhs=rhs, prefix="c")
    prob += pulp.LpAffineExpression(zip(y, [1.0] * len(y))) == p_free, "p"
    return prob, y, z, lvl_row[zlev], lvl_d[zlev], const


def _nearest_dist(cost: sp.csr_matrix, selected: np.ndarray) -> np.ndarray:
    """Minutes from each client to its nearest selected candidate (inf if none reachable)."""
    a = nearest_assignment(cost, selected)
    out = np.full(cost.shape[0], np.inf)
    ok = a >= 0
    out[ok] = np.asarray(cost[np.flatnonzero(ok), a[ok]]).reshape(-1)
    return out


def _pmedian_heuristic(cost: sp.csr_matrix, w: np.ndarray, req: np.ndarray, cand: np.ndarray,
                       k: int, *, max_cells: float = 4e6, time_budget: float = 10.0) -> np.ndarray | None:
    """Greedy add + swap local search for the p-median (a MIP start). Dense; skipped when
    clients x candidates exceeds ``max_cells``. Returns ``k`` candidates from ``cand`` or None."""
    n = cost.shape[0]
    if n * len(cand) > max_cells or k <= 0 or k > len(cand):
        return None
    t0 = time.perf_counter()
    big = float(cost.data.max() if cost.nnz else 1.0) * 10 + 1.0
    sub = sp.csr_matrix(cost[:, cand])
    dense = np.full((n, len(cand)), big)
    rows = np.repeat(np.arange(n), np.diff(sub.indptr))
    dense[rows, sub.indices] = sub.data
    base = np.full(n, big * 10)
    if req.size:
        base = np.minimum(base, np.where(np.isfinite(_nearest_dist(cost, req)), _nearest_dist(cost, req), big * 10))
    openl: list[int] = []
    cur = base.copy()
    for _ in range(k):
        tot = w @ np.minimum(cur[:, None], dense)
        if openl:
            tot[openl] = np.inf
        j = int(np.argmin(tot))
        openl.append(j)
        cur = np.minimum(cur, dense[:, j])
    best = float(w @ cur)
    improved = True
    while improved and time.perf_counter() - t0 < time_budget:
        improved = False
        for pos in range(len(openl)):
            others = openl[:pos] + openl[pos + 1:]
            wo = base.copy()
            if others:
                wo = np.minimum(wo, dense[:, others].min(axis=1))
            tot = w @ np.minimum(wo[:, None], dense)
            tot[openl] = np.inf
            j = int(np.argmin(tot))
            if tot[j] < best - 1e-9:
                openl[pos] = j
                best = float(tot[j])
                improved = True
            if time.perf_counter() - t0 > time_budget:
                break
    return np.sort(cand[np.asarray(openl, dtype=np.int64)])


def _add_rows_multi(prob, mat: sp.csr_matrix, cols, extra: list[list], sense, *, rhs, prefix) -> None:
    ind, ptr, dat = mat.indices, mat.indptr, mat.data.astype(np.float64)
    add = prob.addConstraint
    for i in range(mat.shape[0]):
        a, b = ptr[i], ptr[i + 1]
        terms = [(cols[j], v) for j, v in zip(ind[a:b].tolist(), dat[a:b].tolist())]
        terms.extend(extra[i])
        add(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=sense, rhs=float(rhs[i]),
                              name=f"{prefix}{i}"))


class PCenter(_PFacilities):
    """p-center: open ``p_facilities`` stations (required ones included) minimising the largest
    travel time (minutes) from a demand point to its nearest open station.

    Weights do not enter the objective; when ``weights`` are given, demand points with zero
    weight are ignored. ``len(selected)`` may be below p when fewer stations reach the optimum.
    Solved exactly by binary search over the sorted distinct travel times with reduced
    set-covering subproblems (greedy first, MIP only when greedy needs more than p stations).
    """

    name = "PCenter"

    def _cover_at(self, k_radius: float, need: np.ndarray, p_free: int, solver: str,
                  time_left: float | None) -> tuple[bool | None, np.ndarray]:
        """Can ``p_free`` free stations (plus required) cover ``need`` within the radius?

        Returns (answer, chosen original candidate indices); answer None = unknown (time).
        """
        cov = coverage_csr(self.cost, k_radius)
        req = self.required
        n, m = cov.shape
        by_req = (cov[:, req].getnnz(axis=1) > 0) if req.size else np.zeros(n, dtype=bool)
        active = np.flatnonzero(need & ~by_req)
        if active.size == 0:
            return True, np.zeros(0, dtype=np.int64)
        if p_free == 0:
            return False, np.zeros(0, dtype=np.int64)
        cand = np.setdiff1d(np.arange(m), req)
        cm = sp.csr_matrix(cov[active][:, cand])
        if (cm.getnnz(axis=1) == 0).any():
            return False, np.zeros(0, dtype=np.int64)
        cm, cand = reduce_cover(cm, cand)
        if cm.shape[1] <= p_free:
            return True, cand
        g = greedy_max_cover(cm, np.ones(cm.shape[0]), p_free)  # greedy set cover, at most p_free columns
        if cm[:, g].getnnz(axis=1).all():
            return True, cand[g]
        prob = pulp.LpProblem("PCenterCover", pulp.LpMinimize)
        y = binary_vars(prob, "y", cm.shape[1])
        prob += pulp.LpAffineExpression(zip(y, [1.0] * len(y)))
        add_csr_rows(prob, cm, y, None, pulp.LpConstraintGE, rhs=np.ones(cm.shape[0]), prefix="c")
        prob += pulp.LpAffineExpression(zip(y, [1.0] * len(y))) <= p_free, "p"
        try:
            out = run_solver(prob, solver, time_left, None)
        except InfeasibleError:
            return False, np.zeros(0, dtype=np.int64)
        if out.has_solution:
            return True, cand[var_values(y) > 0.5]
        return None, np.zeros(0, dtype=np.int64)

    def solve(self, solver: str = "cbc", time_limit: float | None = None,
              mip_gap: float | None = None) -> LocationResult:
        """Solve to proven optimality (or until ``time_limit`` seconds, or until the radius
        search has closed the relative gap to ``mip_gap``).

        Returns:
            LocationResult; ``objective`` = largest travel time (minutes) to the nearest open
            station; ``bound`` = largest radius proven infeasible's successor (lower bound).
            A search stopped by ``time_limit`` or ``mip_gap`` reports ``feasible`` with that
            bound and the relative gap ``(objective - bound) / objective``.

        Raises:
            InfeasibleError: demand points reaching no candidate (listed), or p too small for
                every demand point to reach an open station.
            SolverError: solver not available or failed.
        """
        solver, time_limit, mip_gap, t0 = self._begin_solve(solver, time_limit, mip_gap)
        deadline = None if time_limit is None else t0 + time_limit
        cost = self.cost
        n, m = cost.shape
        req = self.required
        p = check_p(self.p_facilities, m, len(req))
        need = self.weights > 0 if self.weights_given else np.ones(n, dtype=bool)
        reach = cost.getnnz(axis=1)
        bad = np.flatnonzero(need & (reach == 0))
        if bad.size:
            raise _unreachable_error(bad)
        stats: dict[str, Any] = {"clients": n, "candidates": m, "subproblems": 0}
        if not need.any():
            selected = req.copy()
            return self._finish(selected, 0.0, "optimal", "", solver=solver, t0=t0, stats=stats, need=need)
        # lower bound: every client's nearest candidate
        nearest = np.full(n, np.inf)
        nz = np.flatnonzero(reach > 0)
        nearest[nz] = np.minimum.reduceat(cost.data, cost.indptr[:-1][nz])
        lb = float(nearest[need].max())
        radii = np.unique(cost.data[cost.data >= lb])
        p_free = p - len(req)
        lo, hi = 0, len(radii) - 1
        ans, chosen = self._cover_at(float(radii[hi]), need, p_free, solver, None)
        stats["subproblems"] += 1
        if not ans:
            raise _too_few_error(p)
        best = chosen
        stopped_gap = False
        while lo < hi:
            if mip_gap is not None and radii[hi] - radii[lo] <= mip_gap * abs(radii[hi]):
                stopped_gap = True
                break
            mid = (lo + hi) // 2
            left = None if deadline is None else deadline - time.perf_counter()
            if left is not None and left <= 0:
                break
            ans, chosen = self._cover_at(float(radii[mid]), need, p_free, solver, left)
            stats["subproblems"] += 1
            if ans is None:  # the subproblem hit the time limit
                break
            if ans:
                hi, best = mid, chosen
            else:
                lo = mid + 1
        selected = np.union1d(req, best).astype(np.int64)
        bound = float(radii[lo])
        status = "optimal" if lo == hi else "feasible"
        if status == "optimal":
            msg = ""
        elif stopped_gap:
            msg = f"stopped at the requested mip_gap={mip_gap}; best solution kept"
        else:
            msg = "time limit reached during the radius search; best solution kept"
        return self._finish(selected, bound, status, msg, solver=solver, t0=t0, stats=stats, need=need)

    def _finish(self, selected, bound, status, msg, *, solver, t0, stats, need) -> LocationResult:
        """The result of the open stations ``selected`` (each client at its nearest) with the
        solver's ``bound``, ``status`` and message; ``need``: the clients that must be reached."""
        assignment = nearest_assignment(self.cost, selected)
        dist = np.full(self.n_clients, np.nan)
        ok = assignment >= 0
        dist[ok] = np.asarray(self.cost[np.flatnonzero(ok), assignment[ok]]).reshape(-1)
        obj = float(np.max(dist[need])) if need.any() else 0.0
        if status != "optimal" and obj <= bound:  # the incumbent meets the bound: proven
            status, msg = "optimal", ""
        if status == "optimal":
            bound, gap = obj, 0.0
        else:
            gap = abs(obj - bound) / max(abs(obj), 1e-10)
        return LocationResult(self.name, status, obj, float(bound), float(gap), selected, assignment,
                              time.perf_counter() - t0, solver, None, msg, stats)
