"""Local search over the stations of a capacitated siting plan, and its integer ports.

The start plans of :mod:`evsiting.models._cflp_start` choose stations by rounding or by slope
scaling; with a per-station power limit (a station holds about 1,224 kWh/day instead of 4,185)
they are a few percent above the LP bound, and most of that is the choice of stations, not
their ports (Anshun, access cost and power limit: the slope-scaling plan 390.7 M CNY; the same
stations with the best integer ports 385.8 M; the LP bound 373.0 M; measured 2026-12-07).
Here:

1. :class:`RoutingLP`: the model with every site's stations fixed (``y = k``), ports and flows
   continuous, in one persistent HiGHS LP without the strong and DC-port linking rows (they are
   implied for integer ``y`` and ``nd``): changing one site's stations changes one column's
   bounds, and the dual simplex re-solves from the last basis.
2. :func:`station_search`: first-improvement local search on ``k``: close one station, open one,
   or move one to a site sharing a demand point. A move is tried only when the reduced costs of
   ``y`` say it may pay: the LP value is convex in ``y``, so ``value(k + d) >= value(k) + rc . d``
   and a move whose estimate is not negative cannot lower it.
3. :func:`port_plan`: the full model with the stations fixed at ``k`` and integer ports, by
   HiGHS from the routed plan; the flows fill whole ports.

Notation of :mod:`evsiting.models._cflp` (reduced instance; kWh/day, kW, CNY).
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Callable

import numpy as np
import scipy.sparse as sp

from evsiting.models._cflp import Instance, MatrixCopy, MatrixModel, build, set_matrix, solve_highs

#: a move is kept when it lowers the routing LP's value by more than this (CNY)
MOVE_TOL_CNY = 1.0


class RoutingLP:
    """The capacitated model with each new site's stations fixed, ports and flows continuous
    (min-cost mode), as one persistent HiGHS LP; or, with ``region``, the same restricted to
    the flows of the demand points ``region`` and the ports and stations of the sites they
    reach, every other column held at its value in ``x`` (the rows they share moved into the
    bounds), so that a plan of it is a plan of the whole LP.

    Args:
        inst: the reduced instance (min-cost mode, no budget row needed).
        k: ``(ny,)`` stations of each new site, in the order of ``build``'s ``y`` columns.
        mm: ``build(inst, port_links=False, site_links=False)`` when the caller has it.
        region: demand point indices (None = the whole LP); x: the current plan (all columns of
            ``mm``, with ``k``), needed with ``region``.

    Attributes:
        free: ``(ny,)`` bool, the new sites whose stations the LP may change (all without
            ``region``; the sites the region's points reach with it).
    """

    def __init__(self, inst: Instance, k: np.ndarray, *, mm: MatrixModel | None = None,
                 region: np.ndarray | None = None, x: np.ndarray | None = None):
        import highspy

        from evsiting.models._core import _quiet_stdout

        mm = build(inst, port_links=False, site_links=False) if mm is None else mm
        self.mm = mm
        self.ys = mm.blocks["y"]
        self.y_lo = mm.col_lo[self.ys].copy()
        self.y_hi = mm.col_hi[self.ys].copy()
        self.k = np.clip(np.round(np.asarray(k, dtype=np.float64)), self.y_lo, self.y_hi)
        lo, hi = mm.col_lo.copy(), mm.col_hi.copy()
        lo[self.ys] = hi[self.ys] = self.k
        ny = self.k.size
        if region is None:
            self.cols = None
            A, c, rlo, rhi, offset = mm.A, mm.c, mm.row_lo, mm.row_hi, float(mm.offset)
            self.ypos = np.arange(ny) + self.ys.start
        else:
            cols = _region_columns(inst, mm, np.asarray(region, dtype=np.int64))
            sub = mm.A.tocsc()[:, cols]
            rows = np.unique(sub.indices)
            A = sub.tocsr()[rows]
            fixed = mm.A.tocsr()[rows] @ x - A @ x[cols]
            rest = np.ones(mm.n_cols, dtype=bool)
            rest[cols] = False
            c, rlo, rhi = mm.c[cols], mm.row_lo[rows] - fixed, mm.row_hi[rows] - fixed
            offset = float(mm.offset + mm.c[rest] @ x[rest])
            lo, hi = lo[cols], hi[cols]
            pos = np.full(mm.n_cols, -1, dtype=np.int64)
            pos[cols] = np.arange(cols.size)
            self.ypos = pos[self.ys]
            self.cols = cols
            self._x = np.asarray(x, dtype=np.float64).copy()
        self.free = self.ypos >= 0
        with _quiet_stdout():
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        lp = highspy.HighsLp()
        lp.num_col_ = int(c.size)
        lp.num_row_ = int(A.shape[0])
        lp.col_cost_ = np.asarray(c, dtype=np.float64)
        lp.col_lower_, lp.col_upper_ = lo, hi
        lp.row_lower_, lp.row_upper_ = rlo, rhi
        lp.offset_ = offset
        set_matrix(lp, A)
        h.passModel(lp)
        self.h = h
        self._optimal = highspy.HighsModelStatus.kOptimal

    def set(self, j: int, v: float) -> None:
        """Fix ``y_j`` (new-site index ``j``, one of :attr:`free`) at ``v`` stations (not solved yet)."""
        self.h.changeColBounds(int(self.ypos[j]), float(v), float(v))

    def solve(self) -> float:
        """The LP value (CNY, the whole plan's) at the current stations; ``inf`` when
        infeasible (too little capacity within reach of some demand point)."""
        self.h.run()
        if self.h.getModelStatus() != self._optimal:
            return math.inf
        return float(self.h.getInfo().objective_function_value)

    def x(self) -> np.ndarray:
        """The plan of the last optimal solve, all columns of :attr:`mm`."""
        v = np.asarray(self.h.getSolution().col_value, dtype=np.float64)
        if self.cols is None:
            return v
        out = self._x.copy()
        out[self.cols] = v
        return out

    def reduced_costs(self) -> np.ndarray:
        """``(ny,)`` reduced cost of each ``y`` column at the last optimal basis (CNY per
        station; 0 at the sites outside a region)."""
        d = np.asarray(self.h.getSolution().col_dual, dtype=np.float64)
        return np.where(self.free, d[np.maximum(self.ypos, 0)], 0.0)

    def basis(self):
        """The current basis (to restore after a rejected move)."""
        return self.h.getBasis()

    def restore(self, basis) -> None:
        """Go back to ``basis`` (the bounds must be those it was optimal for)."""
        self.h.setBasis(basis)


class LocalRoute:
    """The routing LP of a move restricted to its neighbourhood: the flows of the demand points
    within reach of the moved sites (to every site they reach) and the ports of those sites
    change; every other column keeps its value in the current plan ``x``, and the rows they
    share are moved into the bounds. A plan it finds is feasible for the whole routing LP, so a
    move it proves cheaper is cheaper there (by at least as much); one it cannot prove (the
    freed energy would have to push other points further out) is left to the whole LP.

    On the province with the power limit (99,330 pairs) a move on the whole routing LP took 58
    ms (HiGHS re-solving from the last basis, 2 idle cores, 2026-12-07); the neighbourhood of a
    rural site is about 40 points and 1,500 pairs.

    Args:
        inst: the reduced instance; mm: its routing model (``build(..., port_links=False,
            site_links=False)``, the columns of :class:`RoutingLP`).
    """

    def __init__(self, inst: Instance, mm: MatrixModel):
        import highspy

        from evsiting.models._core import _quiet_stdout

        self.inst, self.mm = inst, mm
        self.A = mm.A.tocsr()
        self.Acsc = mm.A.tocsc()
        self.Pcsc = inst.pairs.tocsc()
        self.site_of_y = np.flatnonzero(inst.new)
        with _quiet_stdout():
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        self.h = h
        self._optimal = highspy.HighsModelStatus.kOptimal
        self._highspy = highspy

    def columns(self, ys: list[int]) -> np.ndarray:
        """Columns of the neighbourhood of the new sites ``ys`` (``y`` order): the flows of
        every pair of the demand points within reach of them, the ports (and stations) of every
        site those points reach."""
        Pc = self.Pcsc
        sites = self.site_of_y[np.asarray(ys, dtype=np.int64)]
        pts = np.unique(np.concatenate([Pc.indices[Pc.indptr[j]:Pc.indptr[j + 1]] for j in sites]))
        return _region_columns(self.inst, self.mm, pts)

    def solve(self, x: np.ndarray, col_lo: np.ndarray, col_hi: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
        """The cheapest values of ``cols`` with every other column at ``x`` (bounds
        ``col_lo``/``col_hi``, the move's stations in them); None when HiGHS finds no optimum
        (the neighbourhood cannot hold its energy)."""
        mm, hs = self.mm, self._highspy
        sub = self.Acsc[:, cols]
        rows = np.unique(sub.indices)
        sub_r = sub.tocsr()[rows]
        fixed = self.A[rows] @ x - sub_r @ x[cols]
        lp = hs.HighsLp()
        lp.num_col_, lp.num_row_ = int(cols.size), int(rows.size)
        lp.col_cost_ = mm.c[cols].astype(np.float64)
        lp.col_lower_, lp.col_upper_ = col_lo[cols].astype(np.float64), col_hi[cols].astype(np.float64)
        lp.row_lower_, lp.row_upper_ = mm.row_lo[rows] - fixed, mm.row_hi[rows] - fixed
        set_matrix(lp, sub_r)
        self.h.clearModel()
        self.h.passModel(lp)
        self.h.run()
        if self.h.getModelStatus() != self._optimal:
            return None
        return np.asarray(self.h.getSolution().col_value, dtype=np.float64)


def _region_columns(inst: Instance, mm: MatrixModel, pts: np.ndarray) -> np.ndarray:
    """Columns of ``mm`` (a routing model of ``inst``) that the demand points ``pts`` touch: the
    flows of all their pairs, the ports of every site they reach and the stations of the new
    ones among those sites."""
    P = inst.pairs
    starts, ends = P.indptr[pts], P.indptr[pts + 1]
    lens = ends - starts
    pair = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
    ss = np.unique(P.indices[pair])
    ycol = np.full(inst.new.size, -1, dtype=np.int64)
    new_idx = np.flatnonzero(inst.new)
    ycol[new_idx] = np.arange(new_idx.size) + mm.blocks["y"].start
    yc = ycol[ss]
    return np.unique(np.concatenate([mm.blocks["w"].start + pair, mm.blocks["nd"].start + ss,
                                     mm.blocks["na"].start + ss, yc[yc >= 0]]).astype(np.int64))


def regions_of(inst: Instance, max_pairs: int, *, shift: float = 0.0) -> list[np.ndarray]:
    """Demand points of ``inst`` cut into regions of at most about ``max_pairs`` pairs each,
    neighbours together: the points in reverse Cuthill-McKee order of the point-site graph (a
    sweep in which points sharing a site come close together), cut where the pairs add up to
    ``max_pairs`` (``shift``: the cuts moved by that share of ``max_pairs``, so that a second
    round's regions straddle the first round's borders). One region when the instance has at
    most ``max_pairs`` pairs."""
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    P = inst.pairs
    n, m = P.shape
    if P.nnz <= max_pairs:
        return [np.arange(n)]
    B = P.copy().tocsr()
    B.data = np.ones_like(B.data)
    G = sp.bmat([[None, B], [B.T, None]], format="csr")
    order = reverse_cuthill_mckee(G, symmetric_mode=True)
    pts = order[order < n]
    per = np.diff(P.indptr)[pts]
    cut = np.floor(np.cumsum(per) / max_pairs + shift).astype(np.int64)
    return [pts[cut == r] for r in np.unique(cut)]


def _neighbours(inst: Instance) -> list[np.ndarray]:
    """For each new site (``y`` order), the new sites sharing a demand point with it."""
    new_idx = np.flatnonzero(inst.new)
    ycol = np.full(inst.new.size, -1, dtype=np.int64)
    ycol[new_idx] = np.arange(new_idx.size)
    B = inst.pairs.copy()
    B.data = np.ones_like(B.data)
    S = (B.T @ B).tocsr()
    S = S[new_idx][:, new_idx].tocsr()
    return [S.indices[S.indptr[j]:S.indptr[j + 1]] for j in range(new_idx.size)]


class _Enough(Exception):
    """The search reached its ``stop_at`` value."""


def _try(lp: RoutingLP, k: np.ndarray, cur: float, d: int, a: int) -> float | None:
    """Close a station at ``d`` and/or open one at ``a`` (-1 = none): the new LP value when it
    is lower than ``cur`` (``k`` updated), else None (the LP back at ``k`` and its basis)."""
    saved = lp.basis()
    for j, dv in ((d, -1.0), (a, 1.0)):
        if j >= 0:
            lp.set(j, k[j] + dv)
    val = lp.solve()
    if val < cur - MOVE_TOL_CNY:
        for j, dv in ((d, -1.0), (a, 1.0)):
            if j >= 0:
                k[j] += dv
        return val
    for j in (d, a):
        if j >= 0:
            lp.set(j, k[j])
    lp.restore(saved)
    return None


class _Search:
    """State of one :func:`station_search`: the routing LP, the stations ``k``, the current
    plan ``x`` of the routing LP and its value, the "don't look" bits (a move is tried again
    only after a kept move at a site sharing a demand point with its sites has changed the
    flows there) and the counts.

    ``local``: moves are re-routed on their neighbourhood (:class:`LocalRoute`), and the whole
    routing LP is re-solved once per pass (its value can only be lower; its reduced costs
    guide the next pass); otherwise every move re-solves the whole routing LP."""

    def __init__(self, inst: Instance, lp: RoutingLP, *, deadline: float, stop_at: float):
        self.inst, self.lp, self.k = inst, lp, lp.k.copy()
        self.cur = lp.solve()
        self.x = lp.x() if math.isfinite(self.cur) else None
        # a region's LP moves only the stations of the sites its points reach
        self.y_lo = np.where(lp.free, lp.y_lo, self.k)
        self.y_hi = np.where(lp.free, lp.y_hi, self.k)
        self.deadline, self.stop_at = deadline, stop_at
        self.nbr = _neighbours(inst)
        self.new_idx = np.flatnonzero(inst.new)
        ny = self.new_idx.size
        self.look = {kind: np.ones(ny, dtype=bool) for kind in ("drop", "add", "swap")}
        self.tries = self.moves = self.local_moves = 0
        self.local: LocalRoute | None = None
        self.mode_local = False
        self.col_lo, self.col_hi = lp.mm.col_lo.copy(), lp.mm.col_hi.copy()
        self.col_lo[lp.ys] = self.col_hi[lp.ys] = self.k
        self.dirty = False  # local moves kept since the whole LP was last solved
        self.rc = lp.reduced_costs() if math.isfinite(self.cur) else np.zeros(ny)

    def late(self) -> bool:
        """True once the search's deadline (``time.perf_counter()`` seconds) has passed."""
        return time.perf_counter() >= self.deadline

    def use_local(self, on: bool) -> None:
        """Re-route moves on their neighbourhood (True) or on the whole routing LP (False)."""
        if on and self.local is None:
            self.local = LocalRoute(self.inst, self.lp.mm)
        self.sync()
        self.mode_local = on
        for bits in self.look.values():
            bits[:] = True

    def sync(self) -> None:
        """Re-solve the whole routing LP at the current stations after local moves: its plan
        replaces ``x`` (its value is at most the current one) and its reduced costs guide the
        next pass."""
        if self.dirty:
            val = self.lp.solve()
            if math.isfinite(val) and val <= self.cur + MOVE_TOL_CNY:
                self.cur = val
                self.x = self.lp.x()
            self.dirty = False
        self.rc = self.lp.reduced_costs()

    def _kept(self, d: int, a: int, val: float) -> bool:
        self.cur = val
        self.moves += 1
        if val <= self.stop_at:
            raise _Enough
        for j in (d, a):
            if j >= 0:
                for bits in self.look.values():
                    bits[self.nbr[j]] = True
                    bits[j] = True
        return True

    def attempt(self, d: int, a: int) -> bool:
        """Try closing a station at ``d`` and/or opening one at ``a``; True when kept."""
        self.tries += 1
        moved = [(j, dv) for j, dv in ((d, -1.0), (a, 1.0)) if j >= 0]
        if not self.mode_local:
            val = _try(self.lp, self.k, self.cur, d, a)
            if val is None:
                return False
            self.x = self.lp.x()
            self.col_lo[self.lp.ys] = self.col_hi[self.lp.ys] = self.k
            return self._kept(d, a, val)
        ys = self.lp.ys.start
        for j, dv in moved:
            self.col_lo[ys + j] = self.col_hi[ys + j] = self.k[j] + dv
        cols = self.local.columns([j for j, _ in moved])
        xs = self.local.solve(self.x, self.col_lo, self.col_hi, cols)
        c = self.lp.mm.c[cols]
        if xs is None or not float(c @ xs) < float(c @ self.x[cols]) - MOVE_TOL_CNY:
            for j, _ in moved:
                self.col_lo[ys + j] = self.col_hi[ys + j] = self.k[j]
            return False
        val = self.cur + float(c @ xs) - float(c @ self.x[cols])
        self.x[cols] = xs
        for j, dv in moved:
            self.k[j] += dv
            self.lp.set(j, self.k[j])
        self.dirty = True
        self.local_moves += 1
        return self._kept(d, a, val)

    def drop_pass(self) -> bool:
        """Close one station, sites with the least load per station first."""
        lp, k = self.lp, self.k
        load = np.bincount(self.inst.pairs.indices, weights=self.x[lp.mm.blocks["w"]], minlength=self.inst.new.size)[self.new_idx]
        changed = False
        for d in np.argsort(load / np.maximum(k, 1.0), kind="stable"):
            if self.late():
                break
            if k[d] <= self.y_lo[d] + 0.5 or not self.look["drop"][d]:
                continue
            self.look["drop"][d] = False
            if self.rc[d] <= MOVE_TOL_CNY:  # value(k - e_d) >= value(k) - rc_d: cannot pay
                continue
            changed |= self.attempt(int(d), -1)
            if not self.mode_local:
                self.rc = lp.reduced_costs()
        return changed

    def add_pass(self) -> bool:
        """Open one station, most negative reduced cost first."""
        lp, k = self.lp, self.k
        rc = self.rc
        cand = np.flatnonzero((k < self.y_hi - 0.5) & (rc < -MOVE_TOL_CNY))
        changed = False
        for a in cand[np.argsort(rc[cand], kind="stable")]:
            if self.late():
                break
            if k[a] < self.y_hi[a] - 0.5 and self.look["add"][a] and self.rc[a] < -MOVE_TOL_CNY:
                self.look["add"][a] = False
                changed |= self.attempt(-1, int(a))
                if not self.mode_local:
                    self.rc = lp.reduced_costs()
        return changed

    def swap_pass(self, *, max_swaps: int, sources: int) -> bool:
        """Move one station to a site sharing a demand point: from the ``sources`` sites whose
        closing is estimated cheapest, to their ``max_swaps`` neighbours of best estimate."""
        lp, k = self.lp, self.k
        rc = self.rc
        src = np.flatnonzero((k > self.y_lo + 0.5) & self.look["swap"])
        changed = False
        for d in src[np.argsort(-rc[src], kind="stable")][:sources]:
            if self.late():
                break
            if k[d] <= self.y_lo[d] + 0.5:
                continue
            self.look["swap"][d] = False
            rc = self.rc
            nb = self.nbr[d]
            nb = nb[(k[nb] < self.y_hi[nb] - 0.5) & (nb != d)]
            for a in nb[np.argsort(rc[nb] - rc[d], kind="stable")][:max_swaps]:
                if rc[a] - rc[d] < -MOVE_TOL_CNY and self.attempt(int(d), int(a)):
                    changed = True
                    if not self.mode_local:
                        self.rc = lp.reduced_costs()
                    break
        return changed

    def run(self, *, max_swaps: int, sources: int) -> bool:
        """Passes until none changes anything (True) or the deadline (False)."""
        while not self.late() and self.cur > self.stop_at:
            self.sync()
            if self.drop_pass() | self.add_pass():
                continue
            self.sync()
            if not self.swap_pass(max_swaps=max_swaps, sources=sources):
                return not self.late()
        return self.cur <= self.stop_at


#: :func:`station_search` re-routes moves on their neighbourhood first (:class:`LocalRoute`),
#: then on the whole routing LP (or the regions' LPs) from that local optimum; False = not first
LOCAL_MOVES = True
#: on an instance of more than this many pairs, the moves after the local ones are re-solved on
#: the routing LP of one region at a time (:func:`regions_of`, regions of about this many
#: pairs), not on the whole LP: on the province with the power limit (99,330 pairs) a move on
#: the whole LP took 58 ms and the whole search did not end in 460 s (2 idle cores, 2026-12-07)
REGION_PAIRS = 15000
#: the region rounds' cuts, as shares of a region (repeated until a round keeps no move)
REGION_SHIFTS = (0.0, 0.5, 0.25, 0.75)


def station_search(inst: Instance, k0: np.ndarray, *, deadline: float, stop_at: float = -math.inf,
                   max_swaps: int = 5, swap_sources: int = 80, stats: dict | None = None) -> tuple[np.ndarray, float]:
    """Stations of each new site by local search on the routing LP (module doc, step 2).

    Passes, until none changes anything or the deadline: (1) close one station, sites with the
    least load per station first; (2) open one station, most negative reduced cost first; both
    repeated while they improve; then (3) move one station to a site sharing a demand point
    with it: from the ``swap_sources`` sites whose closing is estimated cheapest, to their
    ``max_swaps`` neighbours of best estimate. A move is tried only when its reduced-cost
    estimate is negative (see the module doc), and kept when it lowers the LP value; it is
    tried again only after a kept move at a site sharing a demand point with its sites.

    The passes run first with :data:`LOCAL_MOVES` each move re-routed on its neighbourhood
    (:class:`LocalRoute`, about 1 ms a move), then from where those ended on a larger LP: the
    whole routing LP on an instance of at most :data:`REGION_PAIRS` pairs (the result is then
    a local optimum of the whole LP unless the deadline came first); on a larger instance the
    routing LP of one region at a time (:func:`regions_of`, the rest of the plan held), in
    rounds whose cuts move by :data:`REGION_SHIFTS` (a move at one round's border is inside a
    region of the next) until a round keeps no move. Each kept move lowers the whole LP's
    value.

    Args:
        inst: the reduced instance (min-cost mode).
        k0: ``(ny,)`` start stations (a feasible plan's).
        deadline: ``time.perf_counter()`` value at which the search stops.
        stop_at: the search also stops as soon as the LP value is at most this (CNY).
        stats: if given, ``search_moves`` (kept), ``search_local_moves`` (kept on a
            neighbourhood), ``search_region_moves`` (kept on a region's LP), ``search_tries``
            and the seconds of each phase (``search_local_s``, ``search_region_s``,
            ``search_whole_s``) are added to it, and ``"station_search"`` to its
            ``time_limited_steps`` when the deadline ended it.

    Returns:
        ``(k, value)``: the best stations found and their routing-LP value (CNY, ports
        continuous; ``inf`` when even ``k0`` is infeasible, then ``k`` is ``k0``).
    """
    s = _Search(inst, RoutingLP(inst, k0), deadline=deadline, stop_at=stop_at)
    if not math.isfinite(s.cur):
        return s.k, s.cur
    region_moves = 0
    times: dict[str, float] = {}

    def timed(key: str, fn):
        ts = time.perf_counter()
        try:
            return fn()
        finally:
            times[key] = times.get(key, 0.0) + time.perf_counter() - ts

    def regions() -> bool:
        for shift in itertools.cycle(REGION_SHIFTS):
            before = s.moves
            if not region_round(shift):
                return s.cur <= stop_at
            if s.moves == before:
                return True  # a whole round kept no move
        return False  # (unreachable)

    def region_round(shift: float) -> bool:
        nonlocal region_moves
        for pts in regions_of(inst, REGION_PAIRS, shift=shift):
            if s.late():
                return False
            lp = RoutingLP(inst, s.k, mm=s.lp.mm, region=pts, x=s.x)
            r = _Search(inst, lp, deadline=deadline, stop_at=stop_at)
            if not math.isfinite(r.cur) or r.cur > s.cur + MOVE_TOL_CNY:
                continue  # (numerically off: leave the region as it is)
            try:
                ok = r.run(max_swaps=max_swaps, sources=swap_sources)
            except _Enough:
                ok = True
            changed = np.flatnonzero(r.k != s.k)
            for j in changed:
                s.lp.set(int(j), r.k[j])
            s.k, s.x, s.cur = r.k.copy(), r.x, r.cur
            s.col_lo[s.lp.ys] = s.col_hi[s.lp.ys] = s.k
            s.dirty = s.dirty or changed.size > 0
            s.tries += r.tries
            s.moves += r.moves
            region_moves += r.moves
            if not ok or s.cur <= stop_at:
                return s.cur <= stop_at
        return True

    done = False  # ended by itself (no move pays, or stop_at reached), not by the clock
    try:
        if LOCAL_MOVES:
            s.use_local(True)
            done = timed("search_local_s", lambda: s.run(max_swaps=max_swaps, sources=swap_sources))
        split = inst.pairs.nnz > REGION_PAIRS
        if (done or not LOCAL_MOVES) and s.cur > stop_at and split:
            s.use_local(False)
            done = timed("search_region_s", regions)
        if (done or not LOCAL_MOVES) and s.cur > stop_at and not split:
            s.use_local(False)
            done = timed("search_whole_s", lambda: s.run(max_swaps=max_swaps, sources=swap_sources))
        done = done or s.cur <= stop_at
    except _Enough:
        done = True
    s.sync()  # the whole LP's value at the stations found
    if stats is not None:
        stats["search_moves"] = stats.get("search_moves", 0) + s.moves
        stats["search_local_moves"] = stats.get("search_local_moves", 0) + s.local_moves
        stats["search_region_moves"] = stats.get("search_region_moves", 0) + region_moves
        stats["search_tries"] = stats.get("search_tries", 0) + s.tries
        for key, v in times.items():
            stats[key] = round(stats.get(key, 0.0) + v, 3)
        if not done:  # stopped by the clock: the plan may differ from run to run
            stats.setdefault("time_limited_steps", []).append("station_search")
    return s.k, s.cur


def port_plan(inst: Instance, mm: MatrixModel, k: np.ndarray, trimmed: Callable[[np.ndarray], np.ndarray], *,
              start: np.ndarray | None, time_limit: float | None, mip_gap: float = 1e-3,
              stats: dict | None = None) -> np.ndarray | None:
    """The best plan with ``k`` stations at each new site and integer ports (module doc, step
    3): HiGHS on ``mm`` with ``y`` fixed at ``k``, from ``start`` (a feasible point with those
    stations, or None), trimmed. None when HiGHS finds no plan in ``time_limit`` seconds; when
    the time limit stops it, ``"port_plan"`` is added to ``stats["time_limited_steps"]``."""
    fm = MatrixCopy(mm)
    ys = mm.blocks["y"]
    fm.col_lo[ys] = fm.col_hi[ys] = np.clip(np.round(k), mm.col_lo[ys], mm.col_hi[ys])
    out = solve_highs(fm, time_limit=time_limit, mip_gap=mip_gap, start=start)
    if stats is not None and out.status == "time_limit":  # the plan may differ from run to run
        stats.setdefault("time_limited_steps", []).append("port_plan")
    if out.x is None:
        return None
    return trimmed(out.x)


#: with a per-station power limit: share of the time left that :func:`improve_plan` gives the
#: station search, and then the integer ports (of the time left after the search)
SEARCH_TIME_SHARE = 0.8
PORT_TIME_SHARE = 0.5
#: the search stops once its LP value is within this share of the target gap of the LP bound
#: (the rest is left to whole ports: Anshun 0.05 % above the search's value)
SEARCH_GAP_SHARE = 0.8


def improve_plan(inst: Instance, mm: MatrixModel, x: np.ndarray, obj: float, trimmed: Callable[[np.ndarray], np.ndarray],
                 left: Callable[[], float | None], *, route: Callable, lp_bound: float = math.nan,
                 gap_target: float | None = None, stats: dict | None = None) -> tuple[np.ndarray, float]:
    """A plan at most as costly as the feasible plan ``x`` (objective ``obj``, CNY):
    :func:`station_search` from its stations (at most :data:`SEARCH_TIME_SHARE` of the time
    left; with ``lp_bound`` and ``gap_target`` it stops once within :data:`SEARCH_GAP_SHARE` of
    the target), then the routed plan of those stations and :func:`port_plan` (at most
    :data:`PORT_TIME_SHARE` of the time left). Min-cost mode only. ``route`` is
    :func:`evsiting.models._cflp_start.flow_plan` (passed in: that module calls this one).

    Returns:
        ``(x, objective)``, the cheapest of ``x`` and the plans found.
    """
    ys = mm.blocks["y"]
    t = left()
    t0 = time.perf_counter()
    deadline = t0 + (SEARCH_TIME_SHARE * t if t is not None else 600.0)
    stop = -math.inf
    if gap_target and math.isfinite(lp_bound):
        stop = lp_bound * (1 + SEARCH_GAP_SHARE * gap_target)
    k, val = station_search(inst, x[ys], deadline=deadline, stop_at=stop, stats=stats)
    if stats is not None:
        stats["search_s"] = round(time.perf_counter() - t0, 3)
        stats["search_cny"] = round(val, 2) if math.isfinite(val) else None
    if not val < obj - MOVE_TOL_CNY:
        return x, obj  # the stations' best plan with continuous ports is no cheaper
    k_all = np.zeros(inst.new.size)
    k_all[np.flatnonzero(inst.new)] = k
    best, best_obj = x, obj
    xs = route(inst, mm, k_all, trimmed, time_limit=left())
    if xs is not None:
        o = float(mm.c @ xs + mm.offset)
        if stats is not None:
            stats["search_routed_cny"] = round(o, 2)
        if o < best_obj:
            best, best_obj = xs, o
    t = left()
    xp = port_plan(inst, mm, k, trimmed, start=xs, time_limit=None if t is None else PORT_TIME_SHARE * t, stats=stats)
    if xp is not None:
        o = float(mm.c @ xp + mm.offset)
        if stats is not None:
            stats["port_plan_cny"] = round(o, 2)
        if o < best_obj:
            best, best_obj = xp, o
    return best, best_obj
