"""Lagrangian bound, site fixing and primal guidance for the capacitated siting model (numba).

The relaxation of Görtz and Klose ("A simple but usually fast branch-and-bound algorithm for
the capacitated facility location problem", INFORMS Journal on Computing 24(4), 2012, and
their 2009 Aarhus working paper), adapted to :mod:`evsiting.models._cflp`'s model with
several stations per site and integer DC/AC ports. Notation of that module (reduced instance;
kWh/day, CNY, minutes).

**Relaxation.** Relax the demand rows ``sum_j w_ij = E_i`` with free multipliers ``u_i``.
What is kept is a relaxation of the model, so every value below is a valid lower bound:

- a site ``j`` with ``k`` stations holds at most ``cap_j(k) = min(k Q_j, Csite_j)`` kWh/day,
  where ``Q_j`` is one station's most energy (``Kd nd + Ka na`` over its port maxima and, with
  a power limit, ``pd nd + pa na <= P_j``, ports continuous) and ``Csite_j`` its per-site port
  caps (a staged plan's later year);
- ``0 <= w_ij <= min(E_i, Q_j k)`` (strong linking), and ``w_ij = 0`` where a point with a DC
  share has no DC port possible;
- ports are paid per kWh at their cheapest continuous rate: ``s_i cd_j / Kd + (1 - s_i)
  min(cd_j / Kd, ca_j / Ka)`` per kWh/day at a new site (0 at an existing one, whose installed
  ports are free), which never exceeds the integer ports' cost;
- the aggregate capacity row ``sum_j cap_j(k_j) >= sum_i E_i`` (all energy is served: the
  feasibility step capped it at what the sites can hold).

For given ``u`` the relaxation separates: each site's value ``v_j(k) = F_j k + min sum_i
(a_ij - u_i) w_ij`` over the kept rows is a continuous knapsack (greedy), convex in ``k``;
the stations then solve a 0-1 covering knapsack over the increments ``v_j(k) - v_j(k-1)``
(exactly, by depth-first branch-and-bound, or by its LP bound when a node limit is hit: still
valid, only weaker). ``L(u) = sum_i u_i E_i + that minimum``. Unlike the LP relaxation, the
knapsack's integrality makes ``L`` exceed the LP bound (Görtz and Klose's observation).

**Use** (:meth:`~evsiting.models.capacitated.CapacitatedSiting.solve` with allocation
cost): subgradient optimisation of ``u`` from the LP's duals; penalty tests that close a site
(``L`` with it forced open exceeds the threshold) or force it open (``L`` with it closed
exceeds it), so that every plan better than the threshold satisfies the fixings; the sites
open in the relaxed solutions guide the incumbent.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numba
import numpy as np

from evsiting.models._cflp import Instance

#: knapsack branch-and-bound nodes before falling back to its LP bound
KNAP_NODES = 20000
#: pairs of free sites beyond which HiGHS on the fixed model is skipped (its strong LP alone
#: takes minutes: 153 s for 100,000 pairs here)
MIP_PAIRS_MAX = 30000


@dataclass
class LRData:
    """The relaxation's arrays (see the module doc). Pairs are in site-major order.

    Attributes:
        sptr: ``(m+1,)`` offsets of each site's pairs; pi, a, ub: ``(npair,)`` point index,
            cost per kWh/day (allocation + port rate) and flow bound per station.
        E: ``(n,)`` energy; Q: ``(m,)`` one station's kWh/day; C: ``(m,)`` the site's cap;
        F: ``(m,)`` station cost; klo, khi: ``(m,)`` stations bounds; order: pair index in the
            instance's CSR order of each site-major pair.
        pp: ``(m, 11)`` each site's integer ports and its mode (see :func:`port_table`; mode 1:
            integer ports inside the site's subproblem, 0: ports at continuous rates in ``a``);
            pg: ``(5,)`` kWh/day per DC / AC port, kW per DC / AC port, 1 if any site has mode 1.
        port: ``(npair,)`` the continuous port rate per kWh/day of each pair (CNY) at a site of
            mode 1 (kept apart, for the start multipliers; at a site of mode 0 it is in ``a``
            and zero here).
    """

    sptr: np.ndarray
    pi: np.ndarray
    a: np.ndarray
    ub: np.ndarray
    E: np.ndarray
    Q: np.ndarray
    C: np.ndarray
    F: np.ndarray
    klo: np.ndarray
    khi: np.ndarray
    order: np.ndarray
    pp: np.ndarray
    pg: np.ndarray
    port: np.ndarray


def station_capacity(inst: Instance) -> np.ndarray:
    """``(m,)`` the most kWh/day one station of each site holds (ports continuous, within the
    per-station port maxima and, with a power limit, its kW)."""
    q = inst.cap_dc * inst.hi_dc + inst.cap_ac * inst.hi_ac
    pk = getattr(inst, "station_kw", None)
    if pk is None:
        return q
    pd, pa = float(inst.dc_port_kw), float(inst.ac_port_kw)
    best = np.zeros_like(q)
    # LP over the box [0, hi_dc] x [0, hi_ac] cut by pd nd + pa na <= P: the optimum is at a
    # vertex; try each corner and each intersection of the power line with the box's edges
    cands = []
    for nd in (np.zeros_like(q), inst.hi_dc):
        na = inst.hi_ac if pa <= 0 else np.clip((pk - pd * nd) / pa, 0, inst.hi_ac)
        cands.append((nd, na))
    for na in (np.zeros_like(q), inst.hi_ac):
        nd = inst.hi_dc if pd <= 0 else np.clip((pk - pa * na) / pd, 0, inst.hi_dc)
        cands.append((nd, na))
    for nd, na in cands:
        ok = pd * nd + pa * na <= pk * (1 + 1e-9) + 1e-9
        best = np.maximum(best, np.where(ok, inst.cap_dc * nd + inst.cap_ac * na, 0.0))
    return best


#: a site keeps its ports integer (mode 1) when the DC shares of the points within reach of it
#: spread by at most this much: its subproblem knows only their least share (smin), so with
#: widely spread shares the continuous per-point rates of mode 0 can be the stronger bound
SHARE_SPREAD_MAX = 0.05


#: integer ports inside the sites' subproblems where ports are priced (False: the continuous
#: rates everywhere, the method before; ``benchmarks/bench_cflp.py --before`` compares both)
INTEGER_PORTS = True


def integer_ports(inst: Instance) -> bool:
    """Whether the relaxation may keep sites' ports integer (mode 1 of :class:`LRData`):
    whenever a port costs something (and :data:`INTEGER_PORTS`). Where no port costs anything
    the continuous rates are zero and exact for fixed stations, and every site stays in mode 0
    (classic CFLP)."""
    return INTEGER_PORTS and bool((np.asarray(inst.cd) > 0).any() or (np.asarray(inst.ca) > 0).any())


def port_table(inst: Instance, smin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(m, 11)`` per site: installed DC ports (the lower bound), DC ports per station, DC
    ports per site (inf = none), the same three for AC, CNY per DC / AC port, the least DC
    share ``smin`` of a point that can use the site, kW per station (inf = no limit), and the
    mode (set 1 here); and ``(5,)``: kWh/day per DC / AC port, kW per DC / AC port, 1."""
    m = inst.new.size
    pp = np.empty((m, 11))
    pp[:, 0] = np.where(inst.new, 0.0, inst.lo_dc)
    pp[:, 1] = inst.hi_dc
    pp[:, 2] = np.inf if inst.site_hi_dc is None else inst.site_hi_dc
    pp[:, 3] = np.where(inst.new, 0.0, inst.lo_ac)
    pp[:, 4] = inst.hi_ac
    pp[:, 5] = np.inf if inst.site_hi_ac is None else inst.site_hi_ac
    pp[:, 6] = inst.cd
    pp[:, 7] = inst.ca
    pp[:, 8] = smin
    pk = getattr(inst, "station_kw", None)
    pp[:, 9] = np.inf if pk is None else np.where(np.isfinite(pk), pk, np.inf)
    pp[:, 10] = 1.0
    pg = np.array([inst.cap_dc, inst.cap_ac, float(inst.dc_port_kw), float(inst.ac_port_kw), 1.0])
    return pp, pg


def lr_data(inst: Instance, ports: bool | None = None) -> LRData:
    """The relaxation of ``inst`` (min-cost mode; see the module doc). ``ports``: keep every
    site's ports integer in its subproblem (True), none (False), or (None) where
    :func:`integer_ports` and the site's DC shares spread by at most :data:`SHARE_SPREAD_MAX`."""
    P = inst.pairs
    n, m = P.shape
    prow = np.repeat(np.arange(n), np.diff(P.indptr))
    pcol = P.indices.astype(np.int64)
    s = np.divide(inst.D, inst.E, out=np.zeros(n), where=inst.E > 0)
    Q = station_capacity(inst)
    kst = np.ones(m) if inst.max_stations is None else np.where(inst.new, inst.max_stations, 1.0)
    hd_site = inst.hi_dc * kst if inst.site_hi_dc is None else np.minimum(inst.hi_dc * kst, inst.site_hi_dc)
    ha_site = inst.hi_ac * kst if inst.site_hi_ac is None else np.minimum(inst.hi_ac * kst, inst.site_hi_ac)
    C = inst.cap_dc * hd_site + inst.cap_ac * ha_site
    with np.errstate(divide="ignore", invalid="ignore"):
        rd = np.where(inst.cap_dc > 0, inst.cd / inst.cap_dc, np.inf)
        ra = np.where(inst.cap_ac > 0, inst.ca / inst.cap_ac, np.inf)
    rmin = np.minimum(rd, ra)
    rmin = np.where(np.isfinite(rmin), rmin, 0.0)
    rd = np.where(np.isfinite(rd), rd, 0.0)
    port = np.where(inst.new[pcol], s[prow] * rd[pcol] + (1 - s[prow]) * rmin[pcol], 0.0)
    ub = np.minimum(inst.E[prow], Q[pcol])
    no_dc = (s[prow] > 0) & ((hd_site[pcol] <= 0) | (inst.cap_dc <= 0))
    ub[no_dc] = 0.0
    mode = integer_ports(inst) if ports is None else bool(ports)
    # the least DC share of a point that can use each site: a site's flows need at least
    # smin x their kWh/day on DC ports (sum_i s_i w_ij <= Kd nd_j implies smin sum_i w_ij <= Kd nd_j)
    smin = np.ones(m)
    np.minimum.at(smin, pcol[ub > 0], s[prow][ub > 0])
    smax = np.zeros(m)
    np.maximum.at(smax, pcol[ub > 0], s[prow][ub > 0])
    site_mode = np.full(m, mode) if ports is not None else mode & (smax - smin <= SHARE_SPREAD_MAX)
    # so a station holds at most Kd hi_dc / smin kWh/day, and the site Kd hd_site / smin: with
    # DC shares above the DC ports' share of a station's capacity (Guiyang: 0.92 against 0.89)
    # the capacity row counts the stations the DC energy needs
    with np.errstate(divide="ignore", invalid="ignore"):
        q_dc = np.where(smin > 0, inst.cap_dc * inst.hi_dc / smin, np.inf)
        c_dc = np.where(smin > 0, inst.cap_dc * hd_site / smin, np.inf)
    Q = np.minimum(Q, q_dc)
    C = np.minimum(C, c_dc)
    ub = np.minimum(ub, Q[pcol])
    pp, pg = port_table(inst, smin)
    pp[:, 10] = site_mode
    pg[4] = 1.0 if site_mode.any() else 0.0
    port_mode1 = np.where(site_mode[pcol], port, 0.0)
    a = inst.alpha * P.data.astype(np.float64) + port - port_mode1
    order = np.argsort(pcol, kind="stable")
    sptr = np.zeros(m + 1, dtype=np.int64)
    sptr[1:] = np.cumsum(np.bincount(pcol, minlength=m))
    F = np.where(inst.new, inst.F, 0.0)
    khi = kst.astype(np.int64)
    klo = np.zeros(m, dtype=np.int64)
    klo[~inst.new] = 1
    klo[inst.required] = 1
    return LRData(sptr, prow[order].astype(np.int64), a[order], ub[order], inst.E.astype(np.float64),
                  Q.astype(np.float64), C.astype(np.float64), F.astype(np.float64), klo, khi, order,
                  pp, pg, port_mode1[order])


@numba.njit(cache=True)
def _attractive(lo, hi, pi, a, ub, u):
    """The pairs ``lo..hi-1`` of one site (CSR by site) with a negative reduced cost
    ``a[e] - u[pi[e]]`` and room (``ub[e] > 0``): (reduced costs, pair indices), most negative
    first (the order in which the site's relaxed subproblem fills its capacity)."""
    cnt = 0
    r = np.empty(hi - lo)
    idx = np.empty(hi - lo, dtype=np.int64)
    for e in range(lo, hi):
        re = a[e] - u[pi[e]]
        if re < 0 and ub[e] > 0:
            r[cnt] = re
            idx[cnt] = e
            cnt += 1
    o = np.argsort(r[:cnt])
    return r[:cnt][o], idx[:cnt][o]


@numba.njit(cache=True)
def value_space(khi):
    """The arrays of every site's values ``v_j(k)``, k = 0..khi[j]: ``voff`` ``(m+1,)`` int64
    offsets (site ``j``'s values at ``voff[j]..voff[j+1]-1``), and ``v`` (CNY), ``vcap``
    (kWh/day, the capacity row's) and ``vflow`` (kWh/day the relaxed flows fill), all
    ``(voff[m],)`` and unfilled (see :func:`fill_site`)."""
    m = khi.size
    voff = np.zeros(m + 1, dtype=np.int64)
    for j in range(m):
        voff[j + 1] = voff[j] + khi[j] + 1
    return voff, np.empty(voff[m]), np.empty(voff[m]), np.empty(voff[m])


@numba.njit(cache=True)
def _fill_value(W, R, r, cnt, c):
    """The least cost of ``c`` kWh/day over the items ``0..cnt-1`` (reduced costs ``r``
    ascending, cumulative bounds ``W`` and costs ``R``, ``(cnt+1,)``): a continuous knapsack."""
    if c <= 0:
        return 0.0
    if c >= W[cnt]:
        return R[cnt]
    lo, hi = 0, cnt  # the last t with W[t] <= c
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if W[mid] <= c:
            lo = mid
        else:
            hi = mid
    return R[lo] + r[lo] * (c - W[lo])


@numba.njit(cache=True)
def _ac_cost(W, R, r, cnt, c_dc, c_room, Ka, ca, na, lo_a):
    """CNY of ``na`` AC ports in all (those above the installed ``lo_a`` paid) and of the flows
    they and ``c_dc`` kWh/day of DC ports hold, up to ``c_room`` (:func:`_port_value`)."""
    return ca * (na - lo_a) + _fill_value(W, R, r, cnt, min(c_room, c_dc + Ka * na))


@numba.njit(cache=True)
def _port_value(W, R, r, cnt, capk, k, pp, pg):
    """The least cost of a site's ports and flows with ``k`` stations (mode 1 of
    :class:`LRData`): over integer DC ports ``nd`` (installed ``<= nd <= min(k x per station,
    per site)``, within the kW of ``k`` stations) and, for each, the best integer AC ports
    (the cost is convex in them: a binary search on its differences), the ports' CNY above
    the installed ones plus the continuous knapsack of the site's attractive pairs with
    capacity ``min(Kd nd / smin, Kd nd + Ka na, capk)``. Returns (CNY, kWh/day filled)."""
    Kd, Ka, pd, pa = pg[0], pg[1], pg[2], pg[3]
    lo_d, lo_a, cd, ca, smin = pp[0], pp[3], pp[6], pp[7], pp[8]
    nd_hi = min(pp[1] * k, pp[2])
    na_hi = min(pp[4] * k, pp[5])
    pkw = pp[9] * k
    need = min(W[cnt], capk)  # more capacity than the attractive pairs' bounds never pays
    top = nd_hi
    if Kd > 0:
        top = min(nd_hi, max(lo_d, float(math.ceil(need / Kd - 1e-9))))
    best = np.inf
    best_c = 0.0
    nd = lo_d
    while nd <= top + 1e-9:
        a_hi = na_hi
        if np.isfinite(pkw):
            if pd * nd + pa * lo_a > pkw * (1 + 1e-12) + 1e-9:
                break
            if pa > 0:
                a_hi = min(a_hi, float(math.floor((pkw - pd * nd) / pa + 1e-9)))
        c_dc = Kd * nd
        room = min(c_dc / smin if smin > 0 else np.inf, need)
        if Ka > 0 and room > c_dc:
            a_hi = min(a_hi, max(lo_a, float(math.ceil((room - c_dc) / Ka - 1e-9))))
        else:
            a_hi = lo_a
        lo = lo_a
        hi = max(a_hi, lo_a)
        while hi > lo:
            mid = (lo + hi) // 2
            if _ac_cost(W, R, r, cnt, c_dc, room, Ka, ca, mid + 1, lo_a) < _ac_cost(W, R, r, cnt, c_dc, room, Ka, ca, mid, lo_a):
                lo = mid + 1
            else:
                hi = mid
        val = cd * (nd - lo_d) + _ac_cost(W, R, r, cnt, c_dc, room, Ka, ca, lo, lo_a)
        if val < best:
            best = val
            best_c = max(min(room, c_dc + Ka * lo), 0.0)
        nd += 1
    return best, min(best_c, need)


@numba.njit(cache=True)
def fill_site(j, idx, cnt, a, ub, pi, u, Q, C, F, khi, voff, v, vcap, vflow, pp, pg):
    """Fill ``v[voff[j] + k]`` = ``v_j(k)``, ``vcap[...]`` = ``cap_j(k)`` and ``vflow[...]``
    (the kWh/day its relaxed flows fill) for k = 0..khi[j], from the site's attractive pairs
    ``idx[0:cnt]`` (most negative reduced cost ``a[e] - u[pi[e]]`` first). Mode 0: ports at
    continuous rates (in ``a``), flows fill the stations' capacity greedily; mode 1: integer
    ports (:func:`_port_value`)."""
    v[voff[j]] = 0.0
    vcap[voff[j]] = 0.0
    vflow[voff[j]] = 0.0
    integer = pp[j, 10] > 0.5
    W = np.empty(cnt + 1)
    R = np.empty(cnt + 1)
    r = np.empty(max(cnt, 1))
    for t in range(cnt):
        r[t] = a[idx[t]] - u[pi[idx[t]]]
    for k in range(1, khi[j] + 1):
        cap = min(k * Q[j], C[j])
        vcap[voff[j] + k] = cap
        if not integer:
            tot = 0.0
            left = cap
            for t in range(cnt):
                if left <= 0:
                    break
                w = min(ub[idx[t]] * k, left)
                tot += r[t] * w
                left -= w
            v[voff[j] + k] = F[j] * k + tot
            vflow[voff[j] + k] = cap
            continue
        W[0] = 0.0
        R[0] = 0.0
        for t in range(cnt):
            b = ub[idx[t]] * k
            W[t + 1] = W[t] + b
            R[t + 1] = R[t] + r[t] * b
        val, fl = _port_value(W, R, r, cnt, cap, k, pp[j], pg)
        v[voff[j] + k] = F[j] * k + val
        vflow[voff[j] + k] = fl


@numba.njit(cache=True)
def _site_values(sptr, pi, a, ub, Q, C, F, khi, u, voff, v, vcap, vflow, pp, pg):
    """Fill every site's values (:func:`fill_site`)."""
    m = Q.size
    for j in range(m):
        r, idx = _attractive(sptr[j], sptr[j + 1], pi, a, ub, u)
        fill_site(j, idx, idx.size, a, ub, pi, u, Q, C, F, khi, voff, v, vcap, vflow, pp, pg)


@numba.njit(cache=True)
def _dantzig(p, wt, lo, left, skip):
    """Dantzig's bound of the max knapsack on items ``lo..`` (ratio order) without item ``skip``
    with capacity ``left``."""
    b = 0.0
    for t in range(lo, p.size):
        if t == skip:
            continue
        if wt[t] <= left:
            left -= wt[t]
            b += p[t]
        else:
            b += p[t] * left / wt[t]
            break
    return b


@numba.njit(cache=True)
def _cover_knapsack(cost, q, need, node_limit):
    """min sum cost x s.t. sum q x >= need, x binary (cost >= 0, q > 0). Returns (lower bound,
    x as bool, exact). Solved as its complement (a 0-1 max knapsack of capacity sum q - need,
    items in decreasing cost / q): a greedy start, then the reduction of Martello and Toth
    (an item whose flip cannot beat the greedy value by Dantzig's bound is fixed), then
    depth-first branch-and-bound over the items left, with Dantzig's bound. At the node limit
    the root's Dantzig bound is returned (valid, not exact)."""
    nit = cost.size
    x = np.zeros(nit, dtype=np.bool_)
    if need <= 0:
        return 0.0, x, True
    tq = q.sum()
    if tq < need * (1 - 1e-12):
        return np.inf, x, True
    cap = tq - need
    ratio = np.empty(nit)
    for t in range(nit):
        ratio[t] = -cost[t] / q[t]
    o = np.argsort(ratio)  # descending cost / q
    p = cost[o]
    wt = q[o]
    total = cost.sum()
    # typed ints, not literals, for _dantzig's item arguments: one compiled version of it
    first = np.int64(0)
    rootb = _dantzig(p, wt, first, cap, np.int64(-1))
    bestx = np.zeros(nit, dtype=np.bool_)
    best = 0.0
    gl = cap
    for t in range(nit):  # greedy (skipping what does not fit)
        if wt[t] <= gl:
            gl -= wt[t]
            best += p[t]
            bestx[t] = True
    # reduction: the LP solution's items whose removal, and the others whose insertion, cannot
    # beat the greedy value are fixed
    crit = nit
    left = cap
    for t in range(nit):
        if wt[t] > left:
            crit = t
            break
        left -= wt[t]
    fix = np.zeros(nit, dtype=np.int8)  # 1 in, -1 out, 0 free
    tol = 1e-9 * max(1.0, abs(best))
    for t in range(nit):
        if t < crit:
            if _dantzig(p, wt, first, cap, t) <= best + tol:
                fix[t] = 1
        elif wt[t] > cap or p[t] + _dantzig(p, wt, first, cap - wt[t], t) <= best + tol:
            fix[t] = -1
    prof0 = 0.0
    cap0 = cap
    for t in range(nit):
        if fix[t] == 1:
            prof0 += p[t]
            cap0 -= wt[t]
    free = np.flatnonzero(fix == 0)
    exact = True
    if cap0 >= 0 and free.size:
        exact = _knap_dfs(p[free], wt[free], prof0, cap0, best, bestx, free, fix, node_limit)
        best = 0.0
        for t in range(nit):
            if bestx[t]:
                best += p[t]
    for t in range(nit):
        x[o[t]] = not bestx[t]
    if exact:
        return total - best, x, True
    return total - rootb, x, False


@numba.njit(cache=True)
def _knap_dfs(p, wt, prof0, cap0, best, bestx, free, fix, node_limit):
    """Depth-first branch-and-bound of the max knapsack on the free items ``p``/``wt`` (ratio
    order) with ``prof0`` profit and ``cap0`` capacity already fixed; improves ``bestx`` (over
    all items: the fixed-in items plus the free ones taken) when it beats ``best``. Returns
    whether it finished within ``node_limit`` nodes."""
    nit = p.size
    cur = np.zeros(nit, dtype=np.bool_)
    stack_i = np.empty(nit + 1, dtype=np.int64)
    stack_take = np.empty(nit + 1, dtype=np.int64)
    depth = 0
    prof = prof0
    left = cap0
    i = np.int64(0)  # typed from the start: a literal 0 compiles a version of _dantzig of its own
    nodes = 0
    while True:
        nodes += 1
        if nodes > node_limit:
            return False
        b = prof + _dantzig(p, wt, i, left, np.int64(-1))
        if b > best + 1e-9 * max(1.0, abs(best)) and i < nit:
            if wt[i] <= left:
                cur[i] = True
                prof += p[i]
                left -= wt[i]
                stack_take[depth] = 1
            else:
                cur[i] = False
                stack_take[depth] = 0
            stack_i[depth] = i
            depth += 1
            i += 1
            continue
        if i >= nit and prof > best:
            best = prof
            for t in range(fix.size):
                bestx[t] = fix[t] == 1
            for t in range(nit):
                if cur[t]:
                    bestx[free[t]] = True
        found = False
        while depth > 0:  # backtrack: the last item taken is left out
            depth -= 1
            t = stack_i[depth]
            if stack_take[depth] == 1:
                cur[t] = False
                prof -= p[t]
                left += wt[t]
                stack_take[depth] = 0
                depth += 1
                i = t + 1
                found = True
                break
            cur[t] = False
        if not found:
            return True


@numba.njit(cache=True)
def _bound(E, u, klo, khi, voff, v, vcap, k_out, node_limit):
    """``L(u)`` from the site values with each site's stations within ``klo..khi``, the
    stations of the relaxed solution in ``k_out``, and whether its knapsack was exact
    (``inf`` when some ``khi < klo``). Callers force a site open or closed through its bounds,
    so that this kernel compiles once (a literal argument compiles a version of its own)."""
    m = klo.size
    base = 0.0
    for i in range(E.size):
        base += u[i] * E[i]
    need = 0.0
    for i in range(E.size):
        need += E[i]
    nit = 0
    for j in range(m):
        nit += khi[j]
    cost = np.empty(nit)
    q = np.empty(nit)
    own = np.empty(nit, dtype=np.int64)
    c = 0
    for j in range(m):
        lo = klo[j]
        hi = khi[j]
        if hi < lo:
            return np.inf, False
        base += v[voff[j] + lo]
        need -= vcap[voff[j] + lo]
        k_out[j] = lo
        for k in range(lo + 1, hi + 1):
            d = v[voff[j] + k] - v[voff[j] + k - 1]
            dq = vcap[voff[j] + k] - vcap[voff[j] + k - 1]
            if d < 0:
                base += d
                need -= dq
                k_out[j] = k
            elif dq > 0:
                cost[c] = d
                q[c] = dq
                own[c] = j
                c += 1
    if need <= 1e-9 * max(1.0, abs(need)):
        return base, True
    kb, x, exact = _cover_knapsack(cost[:c], q[:c], need, node_limit)
    for t in range(c):
        if x[t]:
            k_out[own[t]] += 1
    return base + kb, exact


@numba.njit(cache=True)
def _flows_at(sptr, pi, a, ub, u, k, n, voff, vflow):
    """Each point's energy served in the relaxed solution with ``k`` stations per site (each
    site's attractive pairs fill ``vflow`` of its ``k``)."""
    served = np.zeros(n)
    for j in range(k.size):
        if k[j] == 0:
            continue
        r, idx = _attractive(sptr[j], sptr[j + 1], pi, a, ub, u)
        left = vflow[voff[j] + k[j]]
        for t in range(idx.size):
            if left <= 0:
                break
            e = idx[t]
            w = min(ub[e] * k[j], left)
            served[pi[e]] += w
            left -= w
    return served


@numba.njit(cache=True)
def keep_best(L, best, since, lam, u, k, best_u, kbest, rel_tol, patience):
    """One subgradient iteration's bookkeeping: when ``L`` beats ``best`` by more than
    ``rel_tol`` x max(1, |L|), keep it with its multipliers ``u`` (into ``best_u``) and stations
    ``k`` (into ``kbest``); else count the miss and halve the step factor ``lam`` after
    ``patience`` misses in a row. Returns ``(best, since, lam)``."""
    if L > best + rel_tol * max(1.0, abs(L)):
        for i in range(u.size):  # element loops, not best_u[:] = u: a slice copy compiles numba's
            best_u[i] = u[i]  # shape-mismatch message (string formatting), seconds on a fresh clone
        for j in range(k.size):
            kbest[j] = k[j]
        return L, 0, lam
    since += 1
    if since >= patience:
        return best, 0, lam * 0.5
    return best, since, lam


@numba.njit(cache=True)
def subgradient(sptr, pi, a, ub, E, Q, C, F, klo, khi, pp, pg, u0, ub_obj, max_iter, lam0, node_limit):
    """Subgradient optimisation of ``L(u)`` (Polyak steps toward ``ub_obj``, halving the step
    after 20 iterations without improvement). Returns (best bound, best u, the union of
    stations of the relaxed solutions near the best (max k per site), the stations of the
    best relaxed solution, iterations)."""
    m = Q.size
    n = E.size
    voff, v, vcap, vflow = value_space(khi)
    u = u0.copy()
    best_u = u0.copy()
    best = -np.inf
    k = np.zeros(m, dtype=np.int64)
    kunion = np.zeros(m, dtype=np.int64)
    kbest = np.zeros(m, dtype=np.int64)
    lam = lam0
    since = np.int64(0)  # not a literal: keep_best compiles once
    it = 0
    for it in range(max_iter):
        _site_values(sptr, pi, a, ub, Q, C, F, khi, u, voff, v, vcap, vflow, pp, pg)
        L, exact = _bound(E, u, klo, khi, voff, v, vcap, k, node_limit)
        best, since, lam = keep_best(L, best, since, lam, u, k, best_u, kbest, 1e-9, np.int64(20))
        if best >= ub_obj * (1 - 1e-7) - 1e-9 or lam < 1e-4:
            break
        # union of the relaxed solutions' stations once near the best bound
        if L >= best - 0.01 * abs(best):
            for j in range(m):
                if k[j] > kunion[j]:
                    kunion[j] = k[j]
        served = _flows_at(sptr, pi, a, ub, u, k, n, voff, vflow)
        g = E - served
        nrm = 0.0
        for i in range(n):
            nrm += g[i] * g[i]
        if nrm <= 1e-12:
            break
        step = lam * max(ub_obj - L, 1e-6 * abs(ub_obj)) / nrm
        for i in range(n):
            u[i] += step * g[i]
    return best, best_u, kunion, kbest, it + 1


@numba.njit(cache=True)
def _penalty_values(sptr, pi, a, ub, E, Q, C, F, klo, khi, pp, pg, u, node_limit):
    """The site-value tables at ``u`` and the free bound ``L(u)`` with its stations ``k0``:
    what :func:`_penalty_range` needs."""
    m = Q.size
    voff, v, vcap, vflow = value_space(khi)
    _site_values(sptr, pi, a, ub, Q, C, F, khi, u, voff, v, vcap, vflow, pp, pg)
    k = np.zeros(m, dtype=np.int64)
    L, _ = _bound(E, u, klo, khi, voff, v, vcap, k, node_limit)
    return L, k.copy(), voff, v, vcap


@numba.njit(cache=True)
def _penalty_range(E, u, klo, khi, voff, v, vcap, k0, node_limit, j0, j1, lo0, lo1):
    """Sites ``j0 <= j < j1`` of :func:`penalties`, written into ``lo0`` / ``lo1``: each forced
    closed where the free solution opens it (impossible, inf, where the site must stay open),
    else forced open, through copies of the station bounds."""
    kk = np.zeros(k0.size, dtype=np.int64)
    lo = klo.copy()
    hi = khi.copy()
    for j in range(j0, j1):
        if k0[j] > 0:
            hi[j] = 0
            lo0[j], _ = _bound(E, u, lo, hi, voff, v, vcap, kk, node_limit)
            hi[j] = khi[j]
        else:
            lo[j] = max(klo[j], 1)
            lo1[j], _ = _bound(E, u, lo, hi, voff, v, vcap, kk, node_limit)
            lo[j] = klo[j]


#: share of the time left that the site tests of :func:`penalties` may take in
#: :func:`_fix_and_prove` (the rest goes to HiGHS on the fixed model)
PENALTY_TIME_SHARE = 0.25
#: sites per call of :func:`_penalty_range` between two looks at the clock in :func:`penalties`
PENALTY_CHUNK = 256


def penalties(sptr, pi, a, ub, E, Q, C, F, klo, khi, pp, pg, u, node_limit, *, deadline: float | None = None,
              stats: dict | None = None):
    """For each site: ``L(u)`` with it forced closed (``lo0``) and forced open (``lo1``), and the
    free bound ``L`` itself. Where the relaxed solution already closes (opens) a site, its
    forced-closed (forced-open) value is ``L``.

    ``deadline`` (a ``time.perf_counter()`` value, None = none): the sites are evaluated in
    chunks of :data:`PENALTY_CHUNK` and the rest keep ``L`` (nothing fixed there, which is
    always valid) once it has passed; then ``"penalties"`` is added to
    ``stats["time_limited_steps"]``. Each site's test is one covering knapsack over all sites,
    so the whole loop is quadratic in the sites: the province with the power limit (8,688
    sites) spent more than 10 minutes here before this limit (2026-12-07).

    Returns:
        ``(L, lo0, lo1, k0)``: the bound, ``(m,)`` forced-closed and forced-open bounds, and the
        ``(m,)`` stations of the free bound's solution.
    """
    import time

    L, k0, voff, v, vcap = _penalty_values(sptr, pi, a, ub, E, Q, C, F, klo, khi, pp, pg, u, node_limit)
    m = Q.size
    lo0 = np.full(m, L)
    lo1 = np.full(m, L)
    for j0 in range(0, m, PENALTY_CHUNK):
        if deadline is not None and time.perf_counter() >= deadline:
            if stats is not None:
                stats.setdefault("time_limited_steps", []).append("penalties")
                stats["penalty_sites_tested"] = j0
            break
        _penalty_range(E, u, klo, khi, voff, v, vcap, k0, node_limit, j0, min(m, j0 + PENALTY_CHUNK), lo0, lo1)
    return L, lo0, lo1, k0


def _with_capacity_row(mm, inst: Instance, d: LRData):
    """``mm`` plus the aggregate capacity row ``sum_{new j} min(Q_j, C_j) y_j >= sum E - sum
    over existing sites of their capacity`` (valid: a site's k stations hold at most
    ``k Q_j``): a knapsack row from which HiGHS derives cover cuts."""
    import scipy.sparse as sp

    from evsiting.models._cflp import MatrixModel

    new_idx = np.flatnonzero(inst.new)
    qy = np.minimum(d.Q, d.C)[new_idx]
    rhs = float(inst.E.sum() - np.minimum(d.Q, d.C)[~inst.new].sum())
    row = sp.csr_matrix((qy, (np.zeros(new_idx.size, dtype=np.int64), np.arange(new_idx.size))),
                        shape=(1, mm.n_cols))
    return MatrixModel(mm.c.copy(), sp.vstack([mm.A, row]).tocsr(), np.append(mm.row_lo, rhs * (1 - 1e-9)),
                       np.append(mm.row_hi, np.inf), mm.col_lo.copy(), mm.col_hi.copy(), mm.integer.copy(),
                       mm.maximize, mm.offset, mm.blocks)


def start_multipliers(d: LRData, n: int) -> np.ndarray:
    """``(n,)`` multipliers to start from without an LP: each point's cheapest cost per kWh/day
    at a site including its station cost spread over a full station (an estimate of the price
    of serving it)."""
    per = d.a + d.port + d.F[np.repeat(np.arange(d.Q.size), np.diff(d.sptr))] / np.maximum(d.Q, 1e-9)[
        np.repeat(np.arange(d.Q.size), np.diff(d.sptr))]
    per = np.where(d.ub > 0, per, np.inf)
    u = np.full(n, np.inf)
    np.minimum.at(u, d.pi, per)
    return np.where(np.isfinite(u), u, 0.0)


def _site_subset(inst: Instance, cols: np.ndarray):
    """``inst`` on the sites ``cols`` only (all points kept), and the index in ``inst``'s
    pairs of each of the subset's pairs."""
    from dataclasses import replace

    P = inst.pairs
    idx = sp_csr_like(P)
    Pi = idx[:, cols].tocsr()
    Pi.sort_indices()
    Ps = P[:, cols].tocsr()
    Ps.sort_indices()
    pos = np.full(inst.new.size, -1, dtype=np.int64)
    pos[cols] = np.arange(cols.size)
    req = pos[inst.required]
    req = req[req >= 0]

    def cut(a):
        return None if a is None else np.asarray(a)[cols]

    sub = replace(inst, pairs=Ps, lo_dc=inst.lo_dc[cols], hi_dc=inst.hi_dc[cols], lo_ac=inst.lo_ac[cols],
                  hi_ac=inst.hi_ac[cols], F=inst.F[cols], cd=inst.cd[cols], ca=inst.ca[cols], new=inst.new[cols],
                  required=req, max_stations=cut(inst.max_stations), site_hi_dc=cut(inst.site_hi_dc),
                  site_hi_ac=cut(inst.site_hi_ac), station_kw=cut(getattr(inst, "station_kw", None)))
    return sub, (Pi.data - 1).astype(np.int64)


def sp_csr_like(P):
    """A CSR with ``P``'s structure whose values are 1 + each entry's position."""
    import scipy.sparse as sp

    return sp.csr_matrix((np.arange(1, P.nnz + 1, dtype=np.float64), P.indices.copy(), P.indptr.copy()), shape=P.shape)


#: seconds kept back from HiGHS's last step for trimming and reporting the plan (HiGHS itself
#: returns a little after its limit on a city's model)
FINISH_MARGIN_S = 1.0


def _margin(t):
    """``t`` seconds less :data:`FINISH_MARGIN_S` (at least a twentieth of ``t``); None stays None."""
    return None if t is None else max(t - FINISH_MARGIN_S, 0.05 * t, 0.01)


def _subset_plan(mm, inst: Instance, k: np.ndarray, *, exact_k: bool, seconds, gap: float, start=None,
                 outcome: dict | None = None):
    """The best plan (in ``mm``'s columns) using only the sites with ``k > 0`` (and the
    existing ones): with ``exact_k`` exactly ``k`` stations at each (ports and flows free),
    else at most ``k`` (closing allowed). HiGHS on the subset's model, from ``start`` (a plan in
    ``mm``'s columns using only those sites) if given; None if infeasible or no plan found in
    time. ``seconds``: HiGHS's limit, or a callable giving it once the model is built.
    ``outcome`` (if given) receives HiGHS's ``status``."""
    from evsiting.models._cflp import build, solve_highs

    cols = np.flatnonzero((k > 0) | ~inst.new)
    sub, pmap = _site_subset(inst, cols)
    sm = build(sub)
    ys = sm.blocks["y"]
    kn = k[cols][np.flatnonzero(sub.new)].astype(np.float64)
    sm.col_hi[ys] = np.maximum(kn, sm.col_lo[ys])
    if exact_k:
        sm.col_lo[ys] = sm.col_hi[ys]
    b, sb = mm.blocks, sm.blocks
    ycol = np.full(inst.new.size, -1, dtype=np.int64)
    ycol[np.flatnonzero(inst.new)] = np.arange(int(inst.new.sum()))
    s0 = None
    if start is not None:
        s0 = np.zeros(sm.n_cols)
        s0[sb["y"]] = start[b["y"].start + ycol[cols[sub.new]]]
        s0[sb["nd"]], s0[sb["na"]] = start[b["nd"]][cols], start[b["na"]][cols]
        s0[sb["w"]] = start[b["w"].start + pmap]
        if (s0 < sm.col_lo - 1e-9).any() or (s0 > sm.col_hi + 1e-9).any():
            s0 = None  # uses sites or stations outside the subset
    if callable(seconds):  # the time left once the subset's model is built (seconds on a city)
        seconds = seconds()
    out = solve_highs(sm, time_limit=seconds, mip_gap=gap, start=s0, heuristic_effort=0.3)
    if outcome is not None:
        outcome["status"] = out.status
    if out.x is None:
        return None
    x = np.zeros(mm.n_cols)
    x[b["y"].start + ycol[cols[sub.new]]] = out.x[sb["y"]]
    nd = mm.col_lo[b["nd"]].copy()
    na = mm.col_lo[b["na"]].copy()
    nd[cols], na[cols] = out.x[sb["nd"]], out.x[sb["na"]]
    x[b["nd"]], x[b["na"]] = nd, na
    x[b["w"].start + pmap] = out.x[sb["w"]]
    return x


def _stations(x, mm, inst: Instance) -> np.ndarray:
    """``(m,)`` stations of plan ``x`` at each site (new sites; 0 elsewhere or without a plan)."""
    k = np.zeros(inst.new.size, dtype=np.int64)
    if x is not None:
        k[np.flatnonzero(inst.new)] = np.round(x[mm.blocks["y"]]).astype(np.int64)
    return k


def _rounds(inst: Instance, mm, u0, x, obj: float, *, lp_bound: float, gap_target: float, left, stats: dict, trimmed):
    """Subgradient rounds, each followed by the Lagrangian heuristic, then the incumbent MIP on
    the relaxed solutions' sites. Returns (data, plan, objective, bound, multipliers, union of
    the relaxed solutions' stations, knapsack node limit)."""
    import math
    import time

    ts = time.perf_counter()
    n = inst.pairs.shape[0]
    d = lr_data(inst)
    u = start_multipliers(d, n) if u0 is None else u0.astype(np.float64)
    lb, lam, iters, seen = -math.inf, 2.0, 0, set()
    kall = np.zeros(inst.new.size, dtype=np.int64)

    def budget(frac):
        t = left()
        return None if t is None else max(frac * t, 0.05)

    items = int(d.khi.sum())
    # knapsack nodes x items per bound kept near 2e6 operations (each node scans the items)
    nodes = int(min(KNAP_NODES, 2_000_000 // max(items, 1)))
    per_it = math.nan
    for rnd in range(8):  # subgradient rounds, each followed by the Lagrangian heuristic
        if not math.isfinite(lb):  # the bound at the start multipliers sets the first step's target
            t1 = time.perf_counter()
            lb, _, _, _, _ = subgradient(d.sptr, d.pi, d.a, d.ub, d.E, d.Q, d.C, d.F, d.klo, d.khi, d.pp, d.pg, u, math.inf, 1, lam,
                                         nodes)
            per_it = time.perf_counter() - t1
        target = obj if math.isfinite(obj) else abs(lb) * 1.05 + 1.0
        want = 200 if rnd else 400
        if left() is not None and per_it > 0:  # at most a tenth of the time left per round
            want = max(5, min(want, int(0.1 * left() / per_it)))
        t1 = time.perf_counter()
        b, u, kunion, kbest, it = subgradient(d.sptr, d.pi, d.a, d.ub, d.E, d.Q, d.C, d.F, d.klo, d.khi, d.pp, d.pg,
                                              u, target, want, lam, nodes)
        per_it = (time.perf_counter() - t1) / max(it, 1)
        iters += it
        lam = max(lam * 0.5, 0.05) if b <= lb else lam
        lb = max(lb, b)
        kall = np.maximum(kall, kunion)
        for k in (kbest, kunion):
            key = k.tobytes()
            if key in seen:
                continue
            seen.add(key)
            cand = _subset_plan(mm, inst, k, exact_k=True, seconds=budget(0.05), gap=gap_target / 4)
            if cand is not None:
                cx = trimmed(cand)
                cobj = float(mm.c @ cx + mm.offset)
                if cobj < obj:
                    x, obj = cx, cobj
        if math.isfinite(obj) and (obj - max(lb, lp_bound)) <= gap_target * abs(obj):
            break
        if left() is not None and time.perf_counter() - ts > 0.3 * (left() + time.perf_counter() - ts):
            break
    if kall.any() and not (math.isfinite(obj) and (obj - max(lb, lp_bound)) <= gap_target * abs(obj)):
        # the incumbent MIP on the sites the relaxed solutions open (closing allowed)
        cand = _subset_plan(mm, inst, np.maximum(kall, _stations(x, mm, inst)), exact_k=False, seconds=budget(0.2),
                            gap=gap_target / 2, start=x)
        if cand is not None:
            cx = trimmed(cand)
            cobj = float(mm.c @ cx + mm.offset)
            if cobj < obj:
                x, obj = cx, cobj
    stats["lagrangian_s"] = round(time.perf_counter() - ts, 3)
    stats["lagrangian_iterations"] = int(iters)
    stats["lagrangian_bound"] = float(lb)
    stats["lagrangian_heuristic"] = float(obj) if math.isfinite(obj) else None
    return d, x, obj, lb, u, kall, nodes


def _fix_and_prove(inst: Instance, mm, d: LRData, u, x, *, obj: float, bound: float, kall, nodes: int,
                   gap_target: float, left, stats: dict, trimmed):
    """Penalty fixing against the incumbent less the target gap, then HiGHS on the fixed model
    (or, when it is still too large, the incumbent MIP on the relaxed solutions' sites).
    Returns what :func:`lagrangian_solve` returns."""
    import math
    import time

    from evsiting.models._cflp import solve_highs

    items = int(d.khi.sum())
    # penalty fixing against the threshold T: every plan cheaper than T satisfies the fixings
    T = obj - max(gap_target, 0.5e-9) * abs(obj) if math.isfinite(obj) else math.inf
    t1 = time.perf_counter()
    # m knapsacks: exact ones only while small, else their LP bounds (valid, weaker)
    t_left = left()
    L, lo0, lo1, k0 = penalties(d.sptr, d.pi, d.a, d.ub, d.E, d.Q, d.C, d.F, d.klo, d.khi, d.pp, d.pg, u,
                                nodes // 10 if items * d.Q.size <= 200_000 else 0,
                                deadline=None if t_left is None else t1 + PENALTY_TIME_SHARE * t_left, stats=stats)
    if not (np.isfinite(L) and np.isfinite(T)) or L >= T:
        lo0 = lo1 = np.full(inst.new.size, -np.inf)  # nothing to fix
    close = (lo1 >= T) & inst.new
    force = (lo0 >= T) & inst.new & ~close
    stats["fixed_closed"], stats["fixed_open"] = int(close.sum()), int(force.sum())
    stats["fixing_s"] = round(time.perf_counter() - t1, 3)
    left_pairs = int((np.diff(d.sptr) * ~close).sum())
    stats["pairs_after_fixing"] = left_pairs
    if left_pairs > MIP_PAIRS_MAX and kall.any():
        # the fixed model is still too large for HiGHS to make progress in time (a 100 x 1,000
        # CFLP: no node in 60 s); the time goes to the incumbent MIP on the relaxed solutions'
        # sites instead, and the bound stays the Lagrangian one
        ks = np.where(close, 0, np.maximum(np.maximum(kall, force.astype(np.int64)), _stations(x, mm, inst)))
        t2 = time.perf_counter()
        cand = _subset_plan(mm, inst, ks, exact_k=False, seconds=lambda: _margin(left()), gap=gap_target,
                            start=x if x is not None and not (_stations(x, mm, inst)[close] > 0).any() else None)
        stats["mip_s"] = round(time.perf_counter() - t2, 3)
        if cand is not None:
            cx = trimmed(cand)
            cobj = float(mm.c @ cx + mm.offset)
            if cobj < obj:
                x, obj = cx, cobj
        stats.setdefault("time_limited_steps", []).append("incumbent")
        return x, obj, (min(bound, obj) if x is not None else bound), False
    fm = _with_capacity_row(mm, inst, d)
    ycol = np.full(inst.new.size, -1, dtype=np.int64)
    ycol[np.flatnonzero(inst.new)] = np.arange(int(inst.new.sum()))
    ys = mm.blocks["y"].start
    fm.col_hi[ys + ycol[close]] = 0.0
    fm.col_lo[ys + ycol[force]] = np.maximum(fm.col_lo[ys + ycol[force]], 1.0)
    start = x
    if start is not None and (np.round(start[ys + ycol[close]]) > 0).any():
        start = None  # the incumbent is outside the fixed model (it cost more than T, only with a gap)
    t2 = time.perf_counter()
    out = solve_highs(fm, time_limit=_margin(left()), mip_gap=gap_target, start=start)
    stats["mip_s"] = round(time.perf_counter() - t2, 3)
    stats["mip_nodes"] = out.nodes
    if out.status == "time_limit":
        stats.setdefault("time_limited_steps", []).append("branch_and_bound")
    if out.x is not None:
        fx = trimmed(out.x)
        f_obj = float(mm.c @ fx + mm.offset)
        if x is None or f_obj < obj:
            x, obj = fx, f_obj
    rb = out.bound if math.isfinite(out.bound) else -math.inf
    if out.status == "infeasible":
        rb = math.inf  # no plan cheaper than T: the incumbent is within the target
    bound = max(bound, min(T, rb))
    return x, obj, (min(bound, obj) if x is not None else bound), out.status == "optimal"


def lagrangian_solve(inst: Instance, mm, u0: np.ndarray | None, best_x, best_obj: float, *, lp_bound: float,
                     gap_target: float, left, stats: dict, trimmed, polish=None):
    """Lagrangian bound, Lagrangian heuristic, site fixing and HiGHS on the fixed model
    (min-cost mode with allocation cost; see the module doc).

    Args:
        inst, mm: the reduced instance and its matrix model.
        u0: ``(n,)`` start multipliers (the LP's demand-row duals), None = :func:`start_multipliers`.
        best_x, best_obj: the incumbent (None / nan if none).
        lp_bound: the LP bound (-inf if not solved); gap_target: relative gap to stop at.
        left: callable, seconds left (None = no limit); stats: dict updated in place.
        trimmed: ``trimmed(x)`` drops unused stations and ports of a feasible point.
        polish: ``polish(x, objective, bound)`` -> ``(x, objective)``, a plan at most as
            costly (e.g. the station search), run after the subgradient rounds; None = none.

    Returns:
        ``(x, objective, bound, optimal)``: the best plan (None if none), its objective, a
        proven lower bound, and whether HiGHS proved the fixed model optimal.
    """
    import math

    x, obj = best_x, (best_obj if best_x is not None else math.inf)
    d, x, obj, lb, u, kall, nodes = _rounds(inst, mm, u0, x, obj, lp_bound=lp_bound, gap_target=gap_target, left=left, stats=stats, trimmed=trimmed)
    bound = max(lp_bound, lb)
    if x is not None and (obj - bound) <= gap_target * abs(obj):
        return x, obj, min(bound, obj), bound >= obj * (1 - 1e-9)
    if polish is not None and x is not None:
        # the station search from the incumbent, once the bound is known (it stops within the
        # target of it): a cheaper incumbent also lowers the fixing threshold below
        x, obj = polish(x, obj, bound)
        if (obj - bound) <= gap_target * abs(obj):
            return x, obj, min(bound, obj), bound >= obj * (1 - 1e-9)
    return _fix_and_prove(inst, mm, d, u, x, obj=obj, bound=bound, kall=kall, nodes=nodes, gap_target=gap_target, left=left, stats=stats, trimmed=trimmed)
