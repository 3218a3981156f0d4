"""Flow-refuelling location model (FRLM): choose p stations so that the largest flow of
round trips can be completed with a vehicle range of R km.

Kuby, M. & Lim, S. (2005) "The flow-refueling location problem for alternative-fuel
vehicles", Socio-Economic Planning Sciences 39(2):125-145 -- round trips, a vehicle refuels
to full at every open station it passes.
Capar, I., Kuby, M., Leon, V. J. & Tsai, Y.-J. (2013) "An arc cover-path-cover formulation
and strategic analysis of alternative-fuel station locations", European Journal of
Operational Research 227(1):142-151 -- the arc-cover path-cover (ACPC) formulation used here::

    max  sum_q f_q y_q
    s.t. sum_{k in K_a^q} x_k >= y_q     for every path q and every directed arc a of its round trip
         sum_k x_k = p
         x_k in {0, 1},  0 <= y_q <= 1

where ``K_a^q`` holds the candidate stops from which a full tank reaches the end of arc a
along the round trip (distance <= R). The round trip O -> D -> O is treated as a cycle: a
vehicle leaving O without a station there carries the fuel left from the last station of
its return leg (the Kuby-Lim convention). So a trip is refuelable exactly when it passes an
open station and every gap between consecutive open stations along the cycle is <= R; an
end leg without a station at O or D is driven out and back, so it must be <= R/2.

A path here is its stops in order (:class:`CorridorPath`): positions in km from the origin
and the candidate index at each stop (-1 when the stop cannot host a station).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pulp
import scipy.sparse as sp

from evsiting.core.errors import InputError
from evsiting.models._core import (
    binary_vars,
    check_limits,
    check_solver,
    continuous_vars,
    finish_status,
    run_solver,
    var_values,
)


@dataclass(frozen=True)
class CorridorPath:
    """The stops of one OD path, origin first.

    Attributes:
        pos_km: (m+1,) non-decreasing distance of each stop from the origin, km
            (``pos_km[0] = 0``, ``pos_km[-1]`` = path length).
        cand: (m+1,) candidate index at each stop, -1 where no station can be built.
    """

    pos_km: np.ndarray
    cand: np.ndarray

    @property
    def length_km(self) -> float:
        """One-way length, km."""
        return float(self.pos_km[-1] - self.pos_km[0])


def make_path(pos_km: Sequence[float], cand: Sequence[int]) -> CorridorPath:
    """Validated :class:`CorridorPath` (positions shifted to start at 0).

    Raises:
        InputError: fewer than 2 stops, lengths differ, positions decreasing or not finite.
    """
    pos = np.asarray(pos_km, dtype=float)
    c = np.asarray(cand, dtype=np.int64)
    if pos.ndim != 1 or len(pos) < 2 or len(pos) != len(c):
        raise InputError("a path needs at least 2 stops and one candidate index per stop", field="path")
    if not np.isfinite(pos).all() or np.any(np.diff(pos) < 0):
        raise InputError("stop positions must be finite and non-decreasing", field="path")
    return CorridorPath(pos - pos[0], c)


def _cycle(path: CorridorPath) -> tuple[np.ndarray, np.ndarray, float]:
    """Stops of the round trip as a cycle: positions along it and candidate index.

    Order: s_0 .. s_m (out), s_{m-1} .. s_1 (back); the cycle closes at s_0 after 2L km.
    """
    L = path.length_km
    pos = np.concatenate([path.pos_km, 2 * L - path.pos_km[-2:0:-1]])
    cand = np.concatenate([path.cand, path.cand[-2:0:-1]])
    return pos, cand, 2 * L


def round_trip_feasible(path: CorridorPath, open_: np.ndarray | set, range_km: float) -> bool:
    """Can the round trip be driven with range ``range_km`` and the open candidates?

    Direct check (independent of the arc-cover sets): the open stops along the cycle; feasible
    iff there is at least one and no gap between consecutive open stops (wrapping round)
    exceeds the range.

    Args:
        path: the path.
        open_: bool mask over candidates, or a set of open candidate indices.
        range_km: full-tank range, km.
    """
    pos, cand, C = _cycle(path)
    if isinstance(open_, (set, frozenset)):
        is_open = np.array([c in open_ for c in cand.tolist()], dtype=bool)
    else:
        mask = np.asarray(open_, dtype=bool)
        is_open = (cand >= 0) & mask[np.maximum(cand, 0)]
    p = np.unique(pos[is_open])
    if len(p) == 0:
        return False
    gaps = np.diff(np.concatenate([p, [p[0] + C]]))
    return bool(gaps.max() <= range_km + 1e-9)


def arc_windows(path: CorridorPath, range_km: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Cover sets of the round trip's arcs as windows of the unrolled cycle.

    The arc ending at cycle stop t is refuelled from the stops within ``range_km`` before t
    along the cycle (its own start first, at most one full turn). Those stops form a window
    ``[start_t, t)`` of the cycle unrolled twice; ``start_t`` never decreases with t.

    Returns:
        (start, sets): (2m,) window starts and the (2m) sorted unique candidate-index arrays
        (empty when the arc alone is longer than the range).
    """
    pos, cand, C = _cycle(path)
    n = len(pos)
    U = np.concatenate([pos - C, pos])  # unrolled positions, stop k of the last lap at k, this lap at n + k
    Uc = np.concatenate([cand, cand])
    t = np.arange(1, n + 1)
    end = np.where(t < n, pos[np.minimum(t, n - 1)], C)
    start = np.maximum(t, np.searchsorted(U, end - range_km - 1e-9, side="left"))
    start = np.minimum(start, n + t)  # empty window when the arc alone exceeds the range
    sets = []
    for a, b in zip(start.tolist(), (n + t).tolist()):
        w = Uc[a:b]
        sets.append(np.unique(w[w >= 0]))
    return start, sets


def arc_cover_sets(path: CorridorPath, range_km: float) -> list[np.ndarray]:
    """``K_a`` for every directed arc of the round trip (Capar et al. 2013), in cycle order:
    the candidates from which a full tank reaches the end of the arc (see :func:`arc_windows`).
    An arc longer than the range gets an empty set."""
    return arc_windows(path, range_km)[1]


@dataclass
class FRLMResult:
    """Solution of :class:`FRLM`.

    Attributes:
        method: ``exact`` (ACPC with pulp) or ``greedy``.
        status: ``optimal``/``feasible`` (exact) or ``heuristic``.
        selected: sorted candidate indices opened.
        refuelable: (Q,) bool, path q's round trip can be completed (direct check).
        covered_flow, total_flow: sum of flows of refuelable paths, of all paths.
        bound, gap: proven bound on the covered flow and relative gap (exact only).
        runtime_s, solver, order: wall seconds, solver name, order of opening (greedy).
    """

    method: str
    status: str
    selected: np.ndarray
    refuelable: np.ndarray
    covered_flow: float
    total_flow: float
    bound: float = math.nan
    gap: float = math.nan
    runtime_s: float = 0.0
    solver: str | None = None
    order: list[int] = field(default_factory=list)

    @property
    def covered_share(self) -> float:
        """Covered flow / total flow (0 when there is no flow)."""
        return self.covered_flow / self.total_flow if self.total_flow > 0 else 0.0


class FRLM:
    """The flow-refuelling location model on a set of OD paths (see the module doc).

    Args:
        paths: (Q,) :class:`CorridorPath`.
        flows: (Q,) non-negative round-trip flows (any unit, e.g. gravity flow).
        n_candidates: candidates are 0..n_candidates-1 (indices used in the paths).
        range_km: full-tank vehicle range, km (> 0).

    Raises:
        InputError: lengths differ, negative or non-finite flows, bad range, a candidate
            index outside 0..n_candidates-1.
    """

    def __init__(self, paths: Sequence[CorridorPath], flows: Sequence[float], n_candidates: int, range_km: float):
        flows = np.asarray(flows, dtype=float)
        if len(paths) != len(flows):
            raise InputError(f"{len(paths)} paths but {len(flows)} flows", field="flows")
        if not np.isfinite(flows).all() or (flows < 0).any():
            raise InputError("flows must be finite and >= 0", field="flows")
        if not (range_km > 0 and math.isfinite(range_km)):
            raise InputError("must be a positive number of km", field="range_km")
        for q, pth in enumerate(paths):
            if len(pth.cand) and pth.cand.max() >= n_candidates:
                raise InputError(f"path {q} uses candidate {int(pth.cand.max())} of {n_candidates}", field="paths")
        self.paths = list(paths)
        self.flows = flows
        self.n_candidates = int(n_candidates)
        self.range_km = float(range_km)
        # arcs x candidates incidence (A) and arc -> path index; an arc whose window starts
        # where the previous arc's does covers a superset of its candidates, so its constraint
        # is implied and left out (the ACPC reduction)
        rows, cols, arc_path = [], [], []
        for q, pth in enumerate(self.paths):
            start, sets = arc_windows(pth, self.range_km)
            for k, ks in enumerate(sets):
                # implied: same window start as the previous arc, so a superset of its set
                if k and start[k] == start[k - 1] and len(ks):
                    continue
                a = len(arc_path)
                arc_path.append(q)
                rows += [a] * len(ks)
                cols += ks.tolist()
        self.arc_path = np.asarray(arc_path, dtype=np.int64)
        self.A = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(arc_path), self.n_candidates))
        #: a path with an arc no station can cover can never be refuelled
        empty = np.diff(self.A.indptr) == 0
        self.coverable = np.ones(len(self.paths), dtype=bool)
        self.coverable[np.unique(self.arc_path[empty])] = False

    # -- evaluation --------------------------------------------------------------------
    def refuelable(self, open_: np.ndarray | Sequence[int]) -> np.ndarray:
        """(Q,) bool: round trips that can be completed with the open candidates (indices
        or bool mask), by the direct gap check."""
        mask = self._mask(open_)
        return np.array([round_trip_feasible(pth, mask, self.range_km) for pth in self.paths], dtype=bool)

    def covered_by_arcs(self, open_: np.ndarray | Sequence[int]) -> np.ndarray:
        """(Q,) bool: every arc of the path has an open station in its ``K_a`` (the model's view)."""
        mask = self._mask(open_).astype(float)
        arc_ok = (self.A @ mask) > 0
        bad = np.bincount(self.arc_path[~arc_ok], minlength=len(self.paths))
        return bad == 0

    def _mask(self, open_) -> np.ndarray:
        arr = np.asarray(open_)
        if arr.dtype == bool and arr.shape == (self.n_candidates,):
            return arr
        mask = np.zeros(self.n_candidates, dtype=bool)
        mask[arr.astype(np.int64)] = True
        return mask

    def _check_p(self, p: int) -> int:
        if not isinstance(p, (int, np.integer)) or p < 0:
            raise InputError("must be a non-negative integer", field="p")
        if p > self.n_candidates:
            raise InputError(f"p = {p} stations but only {self.n_candidates} candidate sites", field="p")
        return int(p)

    def _result(self, method, status, selected, t0, **kw) -> FRLMResult:
        selected = np.sort(np.asarray(selected, dtype=np.int64))
        ref = self.refuelable(selected)
        return FRLMResult(method, status, selected, ref, float(self.flows[ref].sum()), float(self.flows.sum()),
                          runtime_s=round(time.perf_counter() - t0, 3), **kw)

    # -- exact -------------------------------------------------------------------------
    def solve(self, p: int, solver: str = "cbc", time_limit: float | None = None, mip_gap: float | None = None,
              start: Sequence[int] | None = None) -> FRLMResult:
        """Exact ACPC optimum with ``p`` stations (pulp; CBC or HiGHS).

        Only paths that can be covered at all get a ``y`` variable; the covered flow is
        re-evaluated by the direct check. Status ``optimal`` only when proven.
        ``start``: p candidate indices handed to the solver as a MIP start (e.g. the greedy
        solution), so a solve stopped by the time limit is no worse than it.

        Raises:
            InputError: bad ``p``, time limit or gap. SolverError: solver missing or failed.
        """
        p = self._check_p(p)
        solver = check_solver(solver)
        time_limit, mip_gap = check_limits(time_limit, mip_gap)
        t0 = time.perf_counter()
        prob = pulp.LpProblem("FRLM_ACPC", pulp.LpMaximize)
        x = binary_vars(prob, "x", self.n_candidates)
        qs = np.flatnonzero(self.coverable & (self.flows > 0))
        y = continuous_vars(prob, "y", len(qs), 0.0, 1.0)
        ymap = {int(q): y[i] for i, q in enumerate(qs)}
        prob += pulp.LpAffineExpression([(y[i], float(self.flows[q])) for i, q in enumerate(qs)])
        prob += pulp.LpAffineExpression([(v, 1.0) for v in x]) == p, "p_stations"
        A = self.A
        seen: set[tuple[int, bytes]] = set()
        for a in range(A.shape[0]):
            q = int(self.arc_path[a])
            if q not in ymap:
                continue
            ks = A.indices[A.indptr[a]:A.indptr[a + 1]]
            key = (q, np.sort(ks).tobytes())
            if key in seen:  # the same cover set twice on one path: one row is enough
                continue
            seen.add(key)
            terms = [(x[int(k)], 1.0) for k in ks] + [(ymap[q], -1.0)]
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=pulp.LpConstraintGE, rhs=0.0, name=f"arc{a}"))
        warm = None
        if start is not None and len(start) == p:
            mask = self._mask(np.asarray(start, dtype=np.int64))
            ok = self.covered_by_arcs(mask)
            warm = {v: float(mask[k]) for k, v in enumerate(x)}
            warm.update({ymap[int(q)]: float(ok[q]) for q in qs})
        outcome = run_solver(prob, solver, time_limit, mip_gap, start=warm)
        selected = np.flatnonzero(var_values(x) > 0.5)
        if len(selected) < p:  # zero-flow ties: fill deterministically so exactly p are open
            rest = np.setdiff1d(np.arange(self.n_candidates), selected)[: p - len(selected)]
            selected = np.concatenate([selected, rest])
        res = self._result("exact", "optimal", selected, t0, solver=solver)
        status, bound, gap, _ = finish_status(outcome, res.covered_flow, True, mip_gap)
        res.status, res.bound, res.gap = status, bound, gap
        return res

    # -- greedy ------------------------------------------------------------------------
    def greedy(self, p: int) -> FRLMResult:
        """Greedy adding heuristic: open, one at a time, the candidate that completes the
        most flow; ties (often all zero: trips need several stations) go to the candidate
        making the most progress on uncovered flow (sum of f_q x share of q's still-uncovered
        arcs it covers), then to the lowest index.

        Raises:
            InputError: bad ``p``.
        """
        p = self._check_p(p)
        t0 = time.perf_counter()
        A = self.A.tocsc()
        n_arcs = A.shape[0]
        P = sp.csr_matrix((np.ones(n_arcs), (np.arange(n_arcs), self.arc_path)), shape=(n_arcs, len(self.paths)))
        is_open = np.zeros(self.n_candidates, dtype=bool)
        order: list[int] = []
        f = np.where(self.coverable, self.flows, 0.0)
        for _ in range(p):
            arc_ok = (self.A @ is_open.astype(float)) > 0
            zero = (~arc_ok).astype(float)
            n_zero = P.T @ zero  # uncovered arcs per path
            M = (A.T @ sp.diags(zero) @ P).tocsr()  # candidate x path: uncovered arcs it would cover
            M.data = M.data.astype(float)
            Mc = M.tocoo()
            need = n_zero[Mc.col]
            complete = (Mc.data >= need - 1e-9) & (need > 0)
            gain = np.bincount(Mc.row[complete], weights=f[Mc.col[complete]], minlength=self.n_candidates)
            progress = np.bincount(Mc.row, weights=f[Mc.col] * Mc.data / np.maximum(need, 1), minlength=self.n_candidates)
            gain[is_open] = -1
            progress[is_open] = -1
            best = np.lexsort((np.arange(self.n_candidates), -progress, -gain))[0]
            is_open[best] = True
            order.append(int(best))
        return self._result("greedy", "heuristic", np.flatnonzero(is_open), t0, order=order)
