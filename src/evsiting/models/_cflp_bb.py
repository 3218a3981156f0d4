"""Lagrangian branch-and-bound for the capacitated siting model with allocation cost (numba).

The method of Görtz and Klose ("A simple but usually fast branch-and-bound algorithm for the
capacitated facility location problem", INFORMS Journal on Computing 24(4), 2012) on the
relaxation of :mod:`evsiting.models._cflp_lr` (demand rows relaxed with multipliers ``u``;
per-site continuous knapsacks; a 0-1 covering knapsack over stations with the aggregate
capacity row). Notation of :mod:`evsiting.models._cflp` (reduced instance; kWh/day, CNY).

- **Root**: subgradient optimisation of ``u`` from :func:`~evsiting.models._cflp_lr.start_multipliers`
  (Polyak steps toward the incumbent); the stations of the relaxed solutions (the best one and
  the rounded average of the recent ones) are routed exactly (the Lagrangian heuristic).
- **Nodes**: each node bounds the stations of every site (``klo <= k_j <= khi``). Its bound is
  re-optimised from the parent's multipliers in a few subgradient steps; the node is pruned
  when it reaches the incumbent less the target gap. Penalty tests then tighten the station
  bounds (a site whose next station, or whose last one, alone lifts the bound above that
  threshold is fixed). A node with every site fixed is a leaf: its plan is evaluated exactly
  (the routing LP when ports cost nothing, else HiGHS's MIP on the fixed stations).
- **Branching**: on the free site whose averaged relaxed stations (an estimate of the primal
  solution of the Lagrangian dual, Görtz and Klose's rule) are most fractional; depth-first,
  the child nearer that average first.

Every bound is that of a relaxation of the full model (ports priced at their continuous
rates, see :mod:`evsiting.models._cflp_lr`), so pruning is valid; the plan returned is always
a feasible plan of the full model (routed by HiGHS, then trimmed). When the relaxation is
exact in the ports (ports cost nothing: classic capacitated facility location) the tree is
as strong as Görtz and Klose's; with priced integer ports it is weaker, and the LP path of
:mod:`evsiting.models.capacitated` is the default there.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np
import scipy.sparse as sp

from evsiting.models._cflp import Instance, MatrixModel, solve_highs
from evsiting.models._cflp_lr import _bound, _subset_plan, fill_site, keep_best, lr_data, start_multipliers, value_space
from evsiting.models._cflp_start import max_ports

#: subgradient iterations at the root (per round) and at a node
ROOT_ITERS = 600
NODE_ITERS = 40
#: a node's first step parameter (Polyak's lambda), and the target's margin above the incumbent
NODE_LAM = 0.5
TARGET_MARGIN = 1e-3
#: iterations without improvement before a node halves its step
NODE_PATIENCE = 5
#: knapsack nodes in a node's penalty tests (0: the knapsacks' LP bounds). With the capacity
#: row binding (capacity ratio 3) the bound's gain over the LP is the knapsack's integrality,
#: which LP-bound penalties miss: 50 x 1,000 CST ratio 3, 241 nodes against 351 with 0
FIX_KNAP = 2000
#: the first pass's cutoff above the root bound (relative), times CUTOFF_GROWTH each pass
CUTOFF_START = 0.002
CUTOFF_GROWTH = 2.0
#: the relaxed solution of every this many nodes is routed (the Lagrangian heuristic)
OFFER_EVERY = 10
#: seconds before the time limit at which the search stops
TIME_MARGIN = 0.5
#: knapsack branch-and-bound nodes per bound (beyond it the knapsack's LP bound is used)
KNAP_NODES = 5000


@numba.njit(cache=True)
def _values(sptr, pi, a, ub, Q, C, F, pp, pg, khi, u, voff, v, vcap, vflow, att, natt):
    """:func:`~evsiting.models._cflp_lr._site_values` for pairs sorted by cost ``a`` within each
    site: a site's scan stops at the first pair costing at least the largest multiplier (no
    later pair can have a negative reduced cost). Also keeps each site's attractive pairs, most
    negative reduced cost first, in ``att[sptr[j]:sptr[j] + natt[j]]`` for :func:`_served`."""
    umax = -np.inf
    for i in range(u.size):
        if u[i] > umax:
            umax = u[i]
    m = Q.size
    for j in range(m):
        lo = sptr[j]
        cnt = 0
        for e in range(lo, sptr[j + 1]):
            if a[e] >= umax:
                break
            if a[e] - u[pi[e]] < 0 and ub[e] > 0:
                att[lo + cnt] = e
                cnt += 1
        natt[j] = cnt
        if cnt > 1:
            r = np.empty(cnt)
            for t in range(cnt):
                e = att[lo + t]
                r[t] = a[e] - u[pi[e]]
            o = np.argsort(r)
            tmp = att[lo:lo + cnt].copy()
            for t in range(cnt):
                att[lo + t] = tmp[o[t]]
        fill_site(j, att[lo:lo + cnt], cnt, a, ub, pi, u, Q, C, F, khi, voff, v, vcap, vflow, pp, pg)


@numba.njit(cache=True)
def _served(sptr, pi, ub, k, n, att, natt, voff, vflow):
    """Each point's kWh/day served in the relaxed solution with ``k`` stations per site (the
    attractive pairs of :func:`_values` fill ``vflow`` of each site's ``k``)."""
    served = np.zeros(n)
    for j in range(k.size):
        if k[j] == 0:
            continue
        left = vflow[voff[j] + k[j]]
        for t in range(natt[j]):
            if left <= 0:
                break
            e = att[sptr[j] + t]
            w = min(ub[e] * k[j], left)
            served[pi[e]] += w
            left -= w
    return served


@numba.njit(cache=True)
def node_bound(sptr, pi, a, ub, E, Q, C, F, pp, pg, att, natt, klo, khi, u, lam, target, prune_at, max_iter, patience,
               node_limit, voff, v, vcap, vflow, kbest, kavg):
    """Subgradient optimisation of ``L(u)`` at a node (stations within ``klo..khi``).

    ``u`` (in/out) starts at the parent's multipliers and ends at the best ones; ``kbest``
    receives the relaxed stations at the best bound, ``kavg`` the average of the relaxed
    stations over the iterations (weight 0.1 per iteration, the volume algorithm's). Stops at
    ``prune_at`` (the node is pruned), after ``max_iter`` iterations, or when the step is tiny.
    ``lam`` halves after ``patience`` iterations without improvement. Polyak steps toward
    ``target``. Returns (best bound, last lam, iterations)."""
    m = Q.size
    n = E.size
    k = np.zeros(m, dtype=np.int64)
    best = -np.inf
    bu = u.copy()
    since = np.int64(0)  # not a literal: keep_best compiles once
    it = 0
    for it in range(max_iter):
        _values(sptr, pi, a, ub, Q, C, F, pp, pg, khi, u, voff, v, vcap, vflow, att, natt)
        L, _ = _bound(E, u, klo, khi, voff, v, vcap, k, node_limit)
        if not np.isfinite(L):
            return np.inf, lam, it + 1
        if it == 0:
            for j in range(m):
                kavg[j] = k[j]
        else:
            for j in range(m):
                kavg[j] = 0.9 * kavg[j] + 0.1 * k[j]
        best, since, lam = keep_best(L, best, since, lam, u, k, bu, kbest, 1e-12, patience)
        if best >= prune_at or lam < 1e-5:
            break
        served = _served(sptr, pi, ub, k, n, att, natt, voff, vflow)
        nrm = 0.0
        for i in range(n):
            g = E[i] - served[i]
            nrm += g * g
        if nrm <= 1e-12:
            break
        step = lam * max(target - L, 1e-7 * max(1.0, abs(target))) / nrm
        for i in range(n):
            u[i] += step * (E[i] - served[i])
    for i in range(n):
        u[i] = bu[i]
    return best, lam, it + 1


@numba.njit(cache=True)
def penalty_fix(sptr, pi, a, ub, E, Q, C, F, pp, pg, att, natt, klo, khi, u, threshold, node_limit, voff, v, vcap, vflow):
    """Tighten the station bounds ``klo``/``khi`` (in place) by penalty tests at ``u``: for a
    free site, if ``L`` with ``k_j = klo_j`` reaches ``threshold`` then ``k_j >= klo_j + 1``;
    if ``L`` with ``k_j >= klo_j + 1`` reaches it then ``k_j = klo_j``. Every plan cheaper than
    ``threshold`` keeps the tightened bounds. Returns (``L`` at ``u``, sites tightened);
    ``L = inf`` when the node holds no plan."""
    m = Q.size
    _values(sptr, pi, a, ub, Q, C, F, pp, pg, khi, u, voff, v, vcap, vflow, att, natt)
    k = np.zeros(m, dtype=np.int64)
    L, _ = _bound(E, u, klo, khi, voff, v, vcap, k, node_limit)
    if not np.isfinite(L) or L >= threshold:
        return L, 0
    kk = np.zeros(m, dtype=np.int64)
    fixed = 0
    for j in range(m):
        if klo[j] >= khi[j]:
            continue
        lo, hi = klo[j], khi[j]
        if k[j] > lo:  # relaxed solution above the minimum: test the minimum
            khi[j] = lo
            Ld, _ = _bound(E, u, klo, khi, voff, v, vcap, kk, node_limit)
            khi[j] = hi
            if Ld >= threshold:
                klo[j] = lo + 1
                fixed += 1
        else:  # relaxed solution at the minimum: test one more station
            klo[j] = lo + 1
            Lu, _ = _bound(E, u, klo, khi, voff, v, vcap, kk, node_limit)
            klo[j] = lo
            if Lu >= threshold:
                khi[j] = lo
                fixed += 1
    return L, fixed


@numba.njit(cache=True)
def fixed_bound(sptr, pi, a, ub, E, Q, C, F, pp, pg, att, natt, k, u, node_limit, voff, v, vcap, vflow):
    """``L(u)`` with every site's stations fixed at ``k``: a lower bound on any plan with those
    stations (the routing's Lagrangian bound)."""
    _values(sptr, pi, a, ub, Q, C, F, pp, pg, k, u, voff, v, vcap, vflow, att, natt)
    kk = np.zeros(k.size, dtype=np.int64)
    L, _ = _bound(E, u, k, k, voff, v, vcap, kk, node_limit)
    return L


def ports_free(inst: Instance) -> bool:
    """Whether the relaxation is exact in the ports: no port costs anything and there is no
    power limit (then the most ports every station holds are optimal for fixed stations, and
    the routing LP values a plan exactly). True for classic capacitated facility location."""
    return bool((inst.cd == 0).all() and (inst.ca == 0).all() and inst.station_kw is None)


class _Router:
    """Plans for fixed stations ``k`` (in ``mm``'s columns), trimmed: the routing LP with the
    most ports (exact when :func:`ports_free`), else HiGHS's MIP on the fixed stations."""

    def __init__(self, inst: Instance, mm: MatrixModel, trimmed, exact_lp: bool):
        self.inst, self.mm, self.trimmed, self.exact_lp = inst, mm, trimmed, exact_lp
        P = inst.pairs
        n, m = P.shape
        self.prow = np.repeat(np.arange(n), np.diff(P.indptr))
        self.pcol = P.indices.astype(np.int64)
        self.share = np.divide(inst.D, inst.E, out=np.zeros(n), where=inst.E > 0)
        self.calls = 0
        self.seconds = 0.0

    def plan(self, k: np.ndarray, seconds: float | None):
        """(x, objective, exact) for stations ``k`` (new sites; existing ones open), or
        (None, inf, exact) if none exists (exact: proven that none does) or none in time."""
        t0 = time.perf_counter()
        self.calls += 1
        try:
            if self.exact_lp:
                return self._lp(k, seconds)
            out: dict = {}
            x = _subset_plan(self.mm, self.inst, k, exact_k=True, seconds=seconds, gap=0.0, outcome=out)
            if x is None:
                return None, math.inf, out.get("status") == "infeasible"
            obj = float(self.mm.c @ x + self.mm.offset)  # the MIP's value for exactly k stations
            x = self.trimmed(x)
            return x, min(obj, float(self.mm.c @ x + self.mm.offset)), out.get("status") == "optimal"
        finally:
            self.seconds += time.perf_counter() - t0

    def _lp(self, k: np.ndarray, seconds):
        """The routing LP for stations ``k``: flows on the pairs of open sites only (HiGHS)."""
        inst, mm = self.inst, self.mm
        n, m = inst.pairs.shape
        kk = np.where(inst.new, k, 1)
        nd, na = max_ports(inst, kk)
        nd = np.where(kk > 0, nd, 0.0)
        na = np.where(kk > 0, na, 0.0)
        sel = np.flatnonzero(kk[self.pcol] > 0)
        r, c = self.prow[sel], self.pcol[sel]
        ns = sel.size
        cols = np.arange(ns)
        A = sp.csr_matrix((np.concatenate([np.ones(ns), self.share[r], np.ones(ns)]),
                           (np.concatenate([r, n + c, n + m + c]), np.concatenate([cols, cols, cols]))),
                          shape=(n + 2 * m, ns))
        lo = np.concatenate([inst.E, np.full(2 * m, -np.inf)])
        hi = np.concatenate([inst.E, inst.cap_dc * nd, inst.cap_dc * nd + inst.cap_ac * na])
        cost = inst.alpha * inst.pairs.data[sel].astype(np.float64)
        lp = MatrixModel(cost, A, lo, hi, np.zeros(ns), np.full(ns, np.inf), np.zeros(ns, dtype=bool))
        # without presolve: 0.12 s against 0.18 s for 25 sites x 1,000 points (a transportation
        # problem, which presolve does not shrink)
        out = solve_highs(lp, time_limit=seconds, options={"presolve": "off"})
        if out.x is None:
            return None, math.inf, out.status == "infeasible"
        b = mm.blocks
        x = np.zeros(mm.n_cols)
        x[b["y"]] = kk[np.flatnonzero(inst.new)]
        x[b["nd"]] = np.maximum(nd, mm.col_lo[b["nd"]])
        x[b["na"]] = np.maximum(na, mm.col_lo[b["na"]])
        x[b["w"].start + sel] = np.maximum(out.x, 0.0)
        x = self.trimmed(x)
        return x, float(mm.c @ x + mm.offset), out.status == "optimal"


class _Tree:
    """The state of one branch-and-bound run (see :func:`branch_and_bound`)."""

    def __init__(self, inst: Instance, mm: MatrixModel, x0, obj0: float, *, gap_target: float, left, trimmed):
        self.inst, self.mm, self.left = inst, mm, left
        self.d = d = lr_data(inst)
        # pairs by cost within each site (the scans of _values stop early)
        site = np.repeat(np.arange(d.Q.size), np.diff(d.sptr))
        o = np.lexsort((d.a, site))
        self.args = (d.sptr, d.pi[o], d.a[o], d.ub[o], d.E, d.Q, d.C, d.F, d.pp, d.pg,
                     np.zeros(d.a.size, dtype=np.int64), np.zeros(d.Q.size, dtype=np.int64))
        self.space = value_space(d.khi)
        self.router = _Router(inst, mm, trimmed, ports_free(inst))
        self.x, self.ub = (x0, float(obj0)) if x0 is not None else (None, math.inf)
        self.gap = max(float(gap_target), 1e-9)
        self.seen: dict[bytes, tuple[float, bool]] = {}
        items = int(d.khi.sum())
        self.knap = int(min(KNAP_NODES, 2_000_000 // max(items, 1)))
        self.skipped = 0
        self.per_it = 0.0  # seconds per subgradient iteration (moving estimate)
        self.cap = math.inf  # the cutoff of the current pass
        self.closed_all = math.inf

    def prune_at(self) -> float:
        """Nodes with a bound of at least this are closed: the incumbent less the target gap,
        or the cutoff of the current pass if lower."""
        ub = min(self.ub, self.cap)
        return ub - self.gap * abs(ub) if math.isfinite(ub) else math.inf

    def out_of_time(self) -> bool:
        """True when at most ``TIME_MARGIN`` seconds of the time limit are left (never without one)."""
        t = self.left()
        return t is not None and t <= TIME_MARGIN

    def offer(self, k: np.ndarray, u=None, *, leaf: bool = False) -> tuple[float, bool]:
        """Route stations ``k`` (not when their Lagrangian bound at ``u`` shows they cannot
        beat the incumbent); keep the plan if it is the best. Returns (its objective or a lower
        bound on it, whether that value is exact for those stations). Each distinct ``k`` is
        routed once: a repeated leaf (a later cutoff pass) gets its value back, a repeated
        heuristic offer ``(inf, False)``."""
        k = np.where(self.inst.new, k, 1).astype(np.int64)
        key = k.tobytes()
        if key in self.seen:
            return self.seen[key] if leaf else (math.inf, False)
        if u is not None and math.isfinite(self.ub):
            lb = fixed_bound(*self.args, np.minimum(k, self.d.khi), u, 0, *self.space)
            if lb >= self.ub:
                self.skipped += 1
                self.seen[key] = (lb, True)
                return lb, True
        t = self.left()
        x, obj, exact = self.router.plan(k, None if t is None else max(min(0.5 * t, 30.0), 0.05))
        if x is not None and obj < self.ub:
            self.x, self.ub = x, obj
        if exact or x is not None:  # (a routing stopped by the clock is not kept)
            self.seen[key] = (obj, exact)
        return obj, exact

    def bound(self, klo, khi, u, lam, iters, patience):
        """``node_bound`` at the node; returns (bound, lam, kbest, kavg)."""
        m = klo.size
        kbest = np.zeros(m, dtype=np.int64)
        kavg = np.zeros(m)
        ub = min(self.ub, self.cap)
        target = ub + TARGET_MARGIN * abs(ub) if math.isfinite(ub) else math.inf
        if not math.isfinite(target):  # no plan yet: aim 5 % above the bound at u
            L0, _, _ = node_bound(*self.args, klo, khi, u.copy(), lam, 0.0, -math.inf, 1, 1, self.knap,
                                  *self.space, kbest, kavg)
            target = abs(L0) * 1.05 + 1.0 if math.isfinite(L0) else 1.0
        t = self.left()
        if t is not None:  # the clock is not read inside the kernel: iterations within half the time left
            if self.per_it == 0.0:  # first call: 10 iterations measure the seconds per iteration
                t0 = time.perf_counter()
                L, lam, it = node_bound(*self.args, klo, khi, u, lam, target, self.prune_at(), min(iters, 10),
                                        patience, self.knap, *self.space, kbest, kavg)
                self.per_it = (time.perf_counter() - t0) / max(it, 1)
                iters -= it
                if iters <= 0 or L >= self.prune_at():
                    return L, lam, kbest, kavg
            iters = max(1, min(iters, int(0.5 * max(t - TIME_MARGIN, 0.0) / self.per_it)))
        t0 = time.perf_counter()
        L, lam, it = node_bound(*self.args, klo, khi, u, lam, target, self.prune_at(), iters, patience, self.knap,
                                *self.space, kbest, kavg)
        if t is not None:
            self.per_it = 0.8 * self.per_it + 0.2 * (time.perf_counter() - t0) / max(it, 1)
        return L, lam, kbest, kavg

    def fix(self, klo, khi, u, knap: int = 0) -> float:
        """Penalty tests until nothing more is fixed (at most 3 passes), each with knapsacks of
        at most ``knap`` nodes (0: their LP bounds, valid and fast); returns ``L`` at ``u``."""
        L = -math.inf
        for _ in range(3):
            L, nfix = penalty_fix(*self.args, klo, khi, u, self.prune_at(), knap, *self.space)
            if nfix == 0 or not np.isfinite(L) or L >= self.prune_at():
                break
        return L


def _branch_site(klo, khi, kavg) -> tuple[int, int, bool]:
    """(site, t, up first): branch ``k_j <= t`` / ``k_j >= t + 1`` on the free site whose
    averaged relaxed stations are most fractional (ties: the larger average)."""
    free = np.flatnonzero(klo < khi)
    ka = np.clip(kavg[free], klo[free], khi[free])
    t = np.clip(np.floor(ka), klo[free], khi[free] - 1)
    frac = ka - t
    score = np.minimum(frac, 1.0 - frac) + 1e-6 * ka
    i = int(np.argmax(score))
    return int(free[i]), int(t[i]), bool(frac[i] >= 0.5)


def branch_and_bound(inst: Instance, mm: MatrixModel, x0, obj0: float, *, gap_target: float, left, stats: dict,
                     trimmed, u0=None):
    """Lagrangian branch-and-bound (see the module doc) on a reduced min-cost instance.

    Args:
        inst, mm: the reduced instance and its matrix model (:func:`evsiting.models._cflp.build`).
        x0, obj0: a feasible plan in ``mm``'s columns and its objective (None / nan if none).
        gap_target: relative gap at which a node is pruned (0: prove the optimum).
        left: callable, seconds left (None = no limit); stats: dict updated in place.
        trimmed: ``trimmed(x)`` drops unused stations and ports of a feasible point.
        u0: ``(n,)`` start multipliers (None: :func:`~evsiting.models._cflp_lr.start_multipliers`).

    Returns:
        ``(x, objective, bound, optimal)``: the best plan (None if none found), its CNY, a
        proven lower bound, and whether the search finished (the bound then is within
        ``gap_target`` of the objective).
    """
    ts = time.perf_counter()
    tr = _Tree(inst, mm, x0, obj0, gap_target=gap_target, left=left, trimmed=trimmed)
    d = tr.d
    u = start_multipliers(d, inst.pairs.shape[0]) if u0 is None else np.asarray(u0, dtype=np.float64).copy()
    klo, khi = d.klo.copy(), d.khi.copy()
    root, kbest, kavg = _root(tr, klo, khi, u, stats)
    bound, finished, passes, delta = root, False, 0, CUTOFF_START
    nodes = leaves = 0
    while not tr.out_of_time() and math.isfinite(root) and not finished:
        # a pass with the cutoff root (1 + delta), below the incumbent: the tree is small, and
        # either holds a plan below the cutoff (the incumbent then is proven within the target)
        # or proves the cutoff a lower bound
        passes += 1
        cap = root + delta * abs(root)
        tr.cap = cap if cap < tr.prune_at() else math.inf
        done, pass_bound, nn, nl = _search(tr, klo.copy(), khi.copy(), u.copy(), root)
        nodes, leaves = nodes + nn, leaves + nl
        bound = max(bound, pass_bound)
        finished = done and not math.isfinite(tr.cap)
        if done and math.isfinite(tr.cap) and tr.ub <= tr.cap:
            finished = True  # a plan below the cutoff: every node was pruned against it
        delta *= CUTOFF_GROWTH
    stats.update(bb_passes=passes, bb_nodes=nodes, bb_leaves=leaves, bb_routes=tr.router.calls,
                 bb_routes_skipped=tr.skipped, bb_route_s=round(tr.router.seconds, 3),
                 bb_s=round(time.perf_counter() - ts, 3), bb_finished=finished)
    if tr.x is None:
        return None, math.inf, bound, False
    if finished:
        bound = max(bound, min(tr.closed_all, tr.ub))
    return tr.x, tr.ub, min(bound, tr.ub), finished


def _root(tr: "_Tree", klo, khi, u, stats: dict):
    """The root: subgradient rounds, each followed by the Lagrangian heuristic, then the penalty
    tests (``klo``, ``khi``, ``u`` updated in place). Returns (bound, the
    best relaxed stations, the averaged ones)."""
    t0 = time.perf_counter()
    lam, root, rounds = 2.0, -math.inf, 0
    kbest = kavg = tr.d.khi
    for rounds in range(1, 9):
        L, lam, kbest, kavg = tr.bound(klo, khi, u, lam, ROOT_ITERS, 20)
        better = L > root + 1e-6 * abs(L)
        root = max(root, L)
        for k in (kbest, np.round(kavg)):
            if tr.out_of_time():
                break
            tr.offer(k, u)
        if root >= tr.prune_at() or tr.out_of_time() or (not better and rounds > 1) or lam < 1e-3:
            break
        lam = max(lam, 0.1)
    if tr.x is None and not tr.out_of_time():  # every station open: the feasibility step's plan
        tr.offer(tr.d.khi)
    if math.isfinite(root) and root < tr.prune_at():
        tr.fix(klo, khi, u, tr.knap)
    stats.update(bb_root_bound=float(root), bb_root_incumbent=float(tr.ub), bb_root_rounds=rounds,
                 bb_root_s=round(time.perf_counter() - t0, 3),
                 bb_root_fixed=int((klo == khi).sum() - (tr.d.klo == tr.d.khi).sum()))
    return root, kbest, kavg


def _search(tr: "_Tree", klo, khi, u, root: float):
    """Depth-first search from the node (``klo``, ``khi``) with multipliers ``u``, pruning at
    :meth:`_Tree.prune_at`. Returns (finished, a lower bound from this search, nodes, leaves):
    finished, every node was closed with a bound of at least the pruning level at that time."""
    stack = [(klo, khi, u, NODE_LAM, root)]
    closed = math.inf  # least bound of the nodes closed so far
    nodes = leaves = 0
    while stack and not tr.out_of_time():
        klo, khi, u, lam, pb = stack.pop()
        if pb >= tr.prune_at():
            closed = min(closed, pb)
            continue
        nodes += 1
        L, lam, kbest, kavg = tr.bound(klo, khi, u, lam, NODE_ITERS if nodes > 1 else 5, NODE_PATIENCE)
        L = max(L, pb)
        if L < tr.prune_at():
            L = max(L, tr.fix(klo, khi, u, FIX_KNAP))
        if L >= tr.prune_at():
            closed = min(closed, L)
            continue
        if (klo == khi).all():
            leaves += 1
            val, exact = tr.offer(klo, u, leaf=True)
            closed = min(closed, val if exact else L)
            continue
        if nodes % OFFER_EVERY == 1:
            tr.offer(kbest, u)
        j, t, up_first = _branch_site(klo, khi, kavg)
        down = (klo, khi.copy(), u, NODE_LAM, L)
        down[1][j] = t
        up = (klo.copy(), khi, u.copy(), NODE_LAM, L)
        up[0][j] = t + 1
        stack.extend([down, up] if up_first else [up, down])
    # every node is closed (bound ``closed``) or waits on the stack (its parent's bound)
    bound = max(min([closed, tr.ub] + [s[4] for s in stack]), root)
    if not stack:
        tr.closed_all = min(tr.closed_all, closed)
    return not stack, bound, nodes, leaves
