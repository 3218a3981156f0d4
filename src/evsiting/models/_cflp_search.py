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

import math
import time
from typing import Callable

import numpy as np

from evsiting.models._cflp import Instance, MatrixCopy, MatrixModel, build, set_matrix, solve_highs

#: a move is kept when it lowers the routing LP's value by more than this (CNY)
MOVE_TOL_CNY = 1.0


class RoutingLP:
    """The capacitated model with each new site's stations fixed, ports and flows continuous
    (min-cost mode), as one persistent HiGHS LP.

    Args:
        inst: the reduced instance (min-cost mode, no budget row needed).
        k: ``(ny,)`` stations of each new site, in the order of ``build``'s ``y`` columns.
    """

    def __init__(self, inst: Instance, k: np.ndarray):
        import highspy

        from evsiting.models._core import _quiet_stdout

        mm = build(inst, port_links=False, site_links=False)
        self.mm = mm
        self.ys = mm.blocks["y"]
        self.y_lo = mm.col_lo[self.ys].copy()
        self.y_hi = mm.col_hi[self.ys].copy()
        self.k = np.clip(np.round(np.asarray(k, dtype=np.float64)), self.y_lo, self.y_hi)
        with _quiet_stdout():
            h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("random_seed", 0)
        lp = highspy.HighsLp()
        lp.num_col_ = mm.n_cols
        lp.num_row_ = mm.A.shape[0]
        lp.col_cost_ = mm.c.astype(np.float64)
        lo, hi = mm.col_lo.copy(), mm.col_hi.copy()
        lo[self.ys] = hi[self.ys] = self.k
        lp.col_lower_, lp.col_upper_ = lo, hi
        lp.row_lower_, lp.row_upper_ = mm.row_lo, mm.row_hi
        lp.offset_ = float(mm.offset)
        set_matrix(lp, mm.A)
        h.passModel(lp)
        self.h = h
        self._optimal = highspy.HighsModelStatus.kOptimal

    def set(self, j: int, v: float) -> None:
        """Fix ``y_j`` (new-site index ``j``) at ``v`` stations (not solved yet)."""
        self.h.changeColBounds(int(self.ys.start + j), float(v), float(v))

    def solve(self) -> float:
        """The LP value (CNY) at the current stations; ``inf`` when infeasible (too little
        capacity within reach of some demand point)."""
        self.h.run()
        if self.h.getModelStatus() != self._optimal:
            return math.inf
        return float(self.h.getInfo().objective_function_value)

    def reduced_costs(self) -> np.ndarray:
        """``(ny,)`` reduced cost of each ``y`` column at the last optimal basis (CNY per station)."""
        return np.asarray(self.h.getSolution().col_dual, dtype=np.float64)[self.ys]

    def basis(self):
        """The current basis (to restore after a rejected move)."""
        return self.h.getBasis()

    def restore(self, basis) -> None:
        """Go back to ``basis`` (the bounds must be those it was optimal for)."""
        self.h.setBasis(basis)


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
    """State of one :func:`station_search`: the routing LP, the stations ``k``, the LP value,
    the "don't look" bits (a move is tried again only after a kept move at a site sharing a
    demand point with its sites has changed the flows there) and the counts."""

    def __init__(self, inst: Instance, lp: RoutingLP, *, deadline: float, stop_at: float):
        self.inst, self.lp, self.k = inst, lp, lp.k.copy()
        self.cur = lp.solve()
        self.deadline, self.stop_at = deadline, stop_at
        self.nbr = _neighbours(inst)
        self.new_idx = np.flatnonzero(inst.new)
        ny = self.new_idx.size
        self.look = {kind: np.ones(ny, dtype=bool) for kind in ("drop", "add", "swap")}
        self.tries = self.moves = 0

    def late(self) -> bool:
        """True once the search's deadline (``time.perf_counter()`` seconds) has passed."""
        return time.perf_counter() >= self.deadline

    def attempt(self, d: int, a: int) -> bool:
        """Try closing a station at ``d`` and/or opening one at ``a``; True when kept."""
        self.tries += 1
        val = _try(self.lp, self.k, self.cur, d, a)
        if val is None:
            return False
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

    def drop_pass(self) -> bool:
        """Close one station, sites with the least load per station first."""
        lp, k = self.lp, self.k
        x = np.asarray(lp.h.getSolution().col_value)
        load = np.bincount(self.inst.pairs.indices, weights=x[lp.mm.blocks["w"]], minlength=self.inst.new.size)[self.new_idx]
        changed = False
        for d in np.argsort(load / np.maximum(k, 1.0), kind="stable"):
            if self.late():
                break
            if k[d] <= lp.y_lo[d] + 0.5 or not self.look["drop"][d]:
                continue
            self.look["drop"][d] = False
            if lp.reduced_costs()[d] <= MOVE_TOL_CNY:  # value(k - e_d) >= value(k) - rc_d: cannot pay
                continue
            changed |= self.attempt(int(d), -1)
        return changed

    def add_pass(self) -> bool:
        """Open one station, most negative reduced cost first."""
        lp, k = self.lp, self.k
        rc = lp.reduced_costs()
        cand = np.flatnonzero((k < lp.y_hi - 0.5) & (rc < -MOVE_TOL_CNY))
        changed = False
        for a in cand[np.argsort(rc[cand], kind="stable")]:
            if self.late():
                break
            if k[a] < lp.y_hi[a] - 0.5 and self.look["add"][a] and lp.reduced_costs()[a] < -MOVE_TOL_CNY:
                self.look["add"][a] = False
                changed |= self.attempt(-1, int(a))
        return changed

    def swap_pass(self, *, max_swaps: int, sources: int) -> bool:
        """Move one station to a site sharing a demand point: from the ``sources`` sites whose
        closing is estimated cheapest, to their ``max_swaps`` neighbours of best estimate."""
        lp, k = self.lp, self.k
        rc = lp.reduced_costs()
        src = np.flatnonzero((k > lp.y_lo + 0.5) & self.look["swap"])
        changed = False
        for d in src[np.argsort(-rc[src], kind="stable")][:sources]:
            if self.late():
                break
            if k[d] <= lp.y_lo[d] + 0.5:
                continue
            self.look["swap"][d] = False
            rc = lp.reduced_costs()
            nb = self.nbr[d]
            nb = nb[(k[nb] < lp.y_hi[nb] - 0.5) & (nb != d)]
            for a in nb[np.argsort(rc[nb] - rc[d], kind="stable")][:max_swaps]:
                if rc[a] - rc[d] < -MOVE_TOL_CNY and self.attempt(int(d), int(a)):
                    changed = True
                    break
        return changed


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

    Args:
        inst: the reduced instance (min-cost mode).
        k0: ``(ny,)`` start stations (a feasible plan's).
        deadline: ``time.perf_counter()`` value at which the search stops.
        stop_at: the search also stops as soon as the LP value is at most this (CNY).
        stats: if given, ``search_moves`` (kept) and ``search_tries`` are added to it, and
            ``"station_search"`` to its ``time_limited_steps`` when the deadline ended it.

    Returns:
        ``(k, value)``: the best stations found and their routing-LP value (CNY, ports
        continuous; ``inf`` when even ``k0`` is infeasible, then ``k`` is ``k0``).
    """
    s = _Search(inst, RoutingLP(inst, k0), deadline=deadline, stop_at=stop_at)
    if not math.isfinite(s.cur):
        return s.k, s.cur
    done = False  # ended by itself (no move pays, or stop_at reached), not by the clock
    try:
        while not s.late() and s.cur > stop_at:
            if s.drop_pass() | s.add_pass():
                continue
            if not s.swap_pass(max_swaps=max_swaps, sources=swap_sources):
                done = not s.late()
                break
        done = done or s.cur <= stop_at
    except _Enough:
        done = True
    if stats is not None:
        stats["search_moves"] = stats.get("search_moves", 0) + s.moves
        stats["search_tries"] = stats.get("search_tries", 0) + s.tries
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
    if not val < obj - MOVE_TOL_CNY:
        return x, obj  # the stations' best plan with continuous ports is no cheaper
    k_all = np.zeros(inst.new.size)
    k_all[np.flatnonzero(inst.new)] = k
    best, best_obj = x, obj
    xs = route(inst, mm, k_all, trimmed, time_limit=left())
    if xs is not None:
        o = float(mm.c @ xs + mm.offset)
        if o < best_obj:
            best, best_obj = xs, o
    t = left()
    xp = port_plan(inst, mm, k, trimmed, start=xs, time_limit=None if t is None else PORT_TIME_SHARE * t, stats=stats)
    if xp is not None:
        o = float(mm.c @ xp + mm.offset)
        if o < best_obj:
            best, best_obj = xp, o
    return best, best_obj
