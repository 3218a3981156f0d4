"""The capacitated siting formulation in matrix form, and its HiGHS driver.

:class:`evsiting.models.capacitated.CapacitatedSiting` builds its integer program here, as one
sparse constraint matrix, so that the same formulation goes to HiGHS (through ``highspy``, in
memory) and, for the benchmark and for CBC, to pulp.

Notation (all arrays over the *reduced* instance; kWh/day, CNY, minutes):

- demand point ``i``: public charging energy ``E_i`` and its DC-only part ``D_i <= E_i``;
- candidate site ``j``: site cost ``F_j`` (new sites only), port costs ``cd_j``/``ca_j``, port
  bounds ``lo_dc_j <= nd_j <= hi_dc_j`` and ``lo_ac_j <= na_j <= hi_ac_j`` (existing ports
  are the lower bounds and cost nothing), capacities ``Kd``/``Ka`` kWh/day per DC/AC port;
- pair ``(i, j)`` within the service standard, travel minutes ``t_ij``.

Variables: ``y_j`` (integer stations at a new site, ``0..max_stations_j``), ``nd_j``, ``na_j``
(integer ports) and ``w_ij >= 0`` (kWh/day of ``i`` served at ``j``; it carries ``i``'s DC share
``s_i = D_i / E_i`` to every site). Rows::

    sum_j w_ij  = E_i   (min_cost; <= E_i for max_served)          demand
    sum_i s_i w_ij - Kd nd_j <= 0                                   DC ports take the DC part
    sum_i w_ij - Kd nd_j - Ka na_j <= 0                             all ports take all of it
    nd_j - hi_dc_j y_j <= 0,  na_j - hi_ac_j y_j <= 0               ports per station (new sites)
    w_ij - min(E_i, cap_j) y_j <= 0                                 strong linking (new sites)
    s_i w_ij - min(D_i, Kd) nd_j <= 0                               DC-port linking
    pd nd_j + pa na_j - P_j y_j <= 0  (existing: <= P_j)            optional power per station
    sum_j F_j y_j + (cd_j nd_j + ca_j na_j - existing) <= budget   optional budget

``cap_j`` is one station's capacity at the port maxima. Both linking rows are valid for integer
``y`` and ``nd`` (``min(a, b n) <= min(a, b) n``) and make the LP pay for a whole station and a
whole DC port where little energy is served. Objective: ``min sum F y + cd nd + ca na + alpha sum t w``
(min_cost), or ``max sum (1 - alpha t) w`` (max_served; the allocation term only orders plans of
equal energy). DC energy is thus served only by DC ports, and AC energy by AC or DC ports.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

INF = math.inf


@dataclass
class MatrixModel:
    """A mixed-integer program ``min/max c x  s.t. row_lo <= A x <= row_hi, col_lo <= x <= col_hi``.

    Attributes:
        c: ``(n_cols,)`` objective coefficients.
        A: ``(n_rows, n_cols)`` CSR constraint matrix.
        row_lo, row_hi, col_lo, col_hi: bounds (``-inf``/``inf`` for none).
        integer: ``(n_cols,)`` bool, integer columns.
        maximize: objective sense.
        offset: constant added to the objective.
        blocks: name -> slice of the columns (``y``, ``nd``, ``na``, ``u``, ``v``).
    """

    c: np.ndarray
    A: sp.csr_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integer: np.ndarray
    maximize: bool = False
    offset: float = 0.0
    blocks: dict[str, slice] = field(default_factory=dict)

    @property
    def n_cols(self) -> int:
        """Number of columns (variables)."""
        return int(self.c.shape[0])


@dataclass
class Instance:
    """A reduced capacitated siting instance (see module doc for the notation).

    ``pairs`` is a CSR ``(n, m)`` of travel minutes whose stored entries are the allowed pairs
    (an explicit 0.0 is a zero-minute pair). ``new`` marks sites that cost ``F`` to open
    (existing stations are open already).
    """

    pairs: sp.csr_matrix
    E: np.ndarray
    D: np.ndarray
    cap_dc: float
    cap_ac: float
    lo_dc: np.ndarray
    hi_dc: np.ndarray
    lo_ac: np.ndarray
    hi_ac: np.ndarray
    F: np.ndarray
    cd: np.ndarray
    ca: np.ndarray
    new: np.ndarray
    alpha: float = 0.0
    budget: float | None = None
    maximize: bool = False
    required: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: stations a new candidate site may hold (``y_j`` in 0..max_stations_j); ports per station
    #: are bounded by ``hi_dc``/``hi_ac``. None = 1 each.
    max_stations: np.ndarray | None = None
    #: ports a site may hold in all (over all its stations), e.g. what a later year of a staged
    #: plan holds there; None = its stations x ``hi_dc``/``hi_ac`` only.
    site_hi_dc: np.ndarray | None = None
    site_hi_ac: np.ndarray | None = None
    #: power limit: kW per DC / AC port and ``(m,)`` kW of grid connection per station (inf =
    #: none); None = no power rows
    dc_port_kw: float = 0.0
    ac_port_kw: float = 0.0
    station_kw: np.ndarray | None = None


def build(inst: Instance, *, port_links: bool = True, site_links: bool = True) -> MatrixModel:
    """The matrix form of ``inst`` (see module doc).

    Columns: ``y`` (one per new site, in site order), ``nd`` and ``na`` (one per site), ``w``
    (one per pair, in CSR order: kWh/day of the demand point served at the site).

    ``port_links=False`` leaves out the DC-port linking rows, ``site_links=False`` the strong
    linking rows: both are implied for integer ``y`` and ``nd`` (they only tighten the LP), so
    the model keeps the same integer points; without them a routing LP with the stations fixed
    is a fraction of the size (:mod:`evsiting.models._cflp_search`).
    """
    P = inst.pairs
    n, m = P.shape
    npair = P.nnz
    new_idx = np.flatnonzero(inst.new)
    ny = new_idx.size
    ycol = np.full(m, -1, dtype=np.int64)
    ycol[new_idx] = np.arange(ny)
    o_nd, o_na, o_w = ny, ny + m, ny + 2 * m
    ncol = o_w + npair
    prow = np.repeat(np.arange(n), np.diff(P.indptr))
    pcol = P.indices.astype(np.int64)
    k = np.arange(npair)
    share_dc = np.divide(inst.D, inst.E, out=np.zeros(n), where=inst.E > 0)
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add(rr, cc, vv):
        rows.append(np.asarray(rr, dtype=np.int64))
        cols.append(np.asarray(cc, dtype=np.int64))
        vals.append(np.asarray(vv, dtype=np.float64))

    # demand: sum_j w_ij = E_i (min_cost) or <= E_i (max_served)
    add(r + prow, o_w + k, np.ones(npair))
    lo.append(np.full(n, -INF) if inst.maximize else inst.E.copy())
    hi.append(inst.E.copy())
    r += n
    # DC ports take the DC part of every flow: sum_i s_i w_ij - Kd nd_j <= 0
    add(r + pcol, o_w + k, share_dc[prow])
    add(r + np.arange(m), o_nd + np.arange(m), np.full(m, -inst.cap_dc))
    lo.append(np.full(m, -INF))
    hi.append(np.zeros(m))
    r += m
    # all ports together take all of it: sum_i w_ij - Kd nd_j - Ka na_j <= 0
    add(r + pcol, o_w + k, np.ones(npair))
    add(r + np.arange(m), o_nd + np.arange(m), np.full(m, -inst.cap_dc))
    add(r + np.arange(m), o_na + np.arange(m), np.full(m, -inst.cap_ac))
    lo.append(np.full(m, -INF))
    hi.append(np.zeros(m))
    r += m
    # ports only at open new sites
    for off, hib in ((o_nd, inst.hi_dc), (o_na, inst.hi_ac)):
        add(r + np.arange(ny), off + new_idx, np.ones(ny))
        add(r + np.arange(ny), ycol[new_idx], -hib[new_idx])
        lo.append(np.full(ny, -INF))
        hi.append(np.zeros(ny))
        r += ny
    # strong linking on pairs with a new site: w_ij <= min(E_i, site capacity) y_j
    cap_site = inst.cap_dc * inst.hi_dc + inst.cap_ac * inst.hi_ac
    kk = k[inst.new[pcol]] if site_links else k[:0]
    nl = kk.size
    add(r + np.arange(nl), o_w + kk, np.ones(nl))
    add(r + np.arange(nl), ycol[pcol[kk]], -np.minimum(inst.E[prow[kk]], cap_site[pcol[kk]]))
    lo.append(np.full(nl, -INF))
    hi.append(np.zeros(nl))
    r += nl
    if port_links:
        # the DC part of a flow needs a DC port there: s_i w_ij <= min(D_i, Kd) nd_j (valid
        # for integer nd_j, since min(D, Kd n) <= min(D, Kd) n); it makes the LP pay for a
        # whole DC port at a site serving little energy
        kd = k[share_dc[prow] > 0]
        add(r + np.arange(kd.size), o_w + kd, share_dc[prow[kd]])
        add(r + np.arange(kd.size), o_nd + pcol[kd], -np.minimum(inst.D[prow[kd]], inst.cap_dc))
        lo.append(np.full(kd.size, -INF))
        hi.append(np.zeros(kd.size))
        r += kd.size
    if inst.station_kw is not None:
        r = _power_rows(inst, add, lo, hi, r, o_nd=o_nd, o_na=o_na, ycol=ycol)
    cost = np.zeros(ncol)
    cost[:ny] = inst.F[new_idx]
    cost[o_nd:o_nd + m] = inst.cd
    cost[o_na:o_na + m] = inst.ca
    const = -float((inst.cd * inst.lo_dc * ~inst.new).sum() + (inst.ca * inst.lo_ac * ~inst.new).sum())
    if inst.budget is not None:
        nz = np.flatnonzero(cost)
        add(np.full(nz.size, r), nz, cost[nz])
        lo.append(np.array([-INF]))
        hi.append(np.array([inst.budget - const]))
        r += 1
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, ncol))
    col_lo = np.zeros(ncol)
    col_hi = np.full(ncol, INF)
    col_hi[:ny] = 1.0 if inst.max_stations is None else inst.max_stations[new_idx]
    kst = np.ones(m) if inst.max_stations is None else np.where(inst.new, inst.max_stations, 1.0)
    col_lo[o_nd:o_nd + m] = inst.lo_dc
    col_hi[o_nd:o_nd + m] = inst.hi_dc * kst if inst.site_hi_dc is None else np.minimum(inst.hi_dc * kst, inst.site_hi_dc)
    col_lo[o_na:o_na + m] = inst.lo_ac
    col_hi[o_na:o_na + m] = inst.hi_ac * kst if inst.site_hi_ac is None else np.minimum(inst.hi_ac * kst, inst.site_hi_ac)
    if inst.required.size:
        req_new = inst.required[inst.new[inst.required]]
        col_lo[ycol[req_new]] = 1.0
    integer = np.zeros(ncol, dtype=bool)
    integer[:o_w] = True
    travel = P.data.astype(np.float64)
    if inst.maximize:
        c = np.zeros(ncol)
        c[o_w:] = 1.0 - inst.alpha * travel
        offset = 0.0
    else:
        c = cost
        c[o_w:] += inst.alpha * travel
        offset = const
    blocks = {"y": slice(0, ny), "nd": slice(o_nd, o_nd + m), "na": slice(o_na, o_na + m), "w": slice(o_w, ncol)}
    return MatrixModel(c, A, np.concatenate(lo), np.concatenate(hi), col_lo, col_hi, integer,
                       inst.maximize, offset, blocks)


def _power_rows(inst: Instance, add, lo: list, hi: list, r: int, *, o_nd: int, o_na: int, ycol: np.ndarray) -> int:
    """Power per station: ``pd nd_j + pa na_j <= P_j y_j`` at new sites, ``<= P_j`` at existing
    ones (one station); sites with ``P_j = inf`` get no row. Returns the next row index."""
    lim = np.flatnonzero(np.isfinite(inst.station_kw))
    nl = lim.size
    add(r + np.arange(nl), o_nd + lim, np.full(nl, float(inst.dc_port_kw)))
    add(r + np.arange(nl), o_na + lim, np.full(nl, float(inst.ac_port_kw)))
    ln = inst.new[lim]
    add(r + np.arange(nl)[ln], ycol[lim[ln]], -inst.station_kw[lim[ln]])
    lo.append(np.full(nl, -INF))
    hi.append(np.where(ln, 0.0, inst.station_kw[lim]))
    return r + nl


@contextlib.contextmanager
def _interruptible(h):
    """Let Ctrl-C and SIGTERM stop a HiGHS run (HiGHS holds the interpreter while it solves, so
    Python's own handlers would only run after it): while ``h`` runs, those signals set a flag
    that HiGHS's interrupt callbacks read; afterwards the previous handler gets the signal
    (KeyboardInterrupt for Ctrl-C, the CLI's exit 143 for SIGTERM). Outside the main thread
    (where handlers cannot be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def _note(signum, frame):  # noqa: ARG001
        caught.append(signum)

    def _check(e) -> None:
        if caught:
            e.interrupt()

    for cb in (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt):
        cb.subscribe(_check)
    old = {sig: signal.signal(sig, _note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if caught:
        handler = old.get(caught[0])
        if callable(handler):
            handler(caught[0], None)
        raise KeyboardInterrupt


@dataclass
class HighsOutcome:
    """What HiGHS reported for one :class:`MatrixModel`."""

    x: np.ndarray | None
    objective: float
    bound: float
    status: str  # "optimal", "gap" (stopped at mip_rel_gap), "time_limit", "infeasible", "error"
    seconds: float
    nodes: int
    #: ``(n_rows,)`` row duals of an LP (``duals=True``), else None
    row_dual: np.ndarray | None = None


def set_matrix(lp, A) -> None:
    """Put the sparse constraint matrix ``A`` (rows x columns, scipy) into the highspy
    ``HighsLp`` ``lp``, column-wise with sorted indices."""
    import highspy

    Acsc = A.tocsc()
    Acsc.sort_indices()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = Acsc.indptr.astype(np.int32)
    lp.a_matrix_.index_ = Acsc.indices.astype(np.int32)
    lp.a_matrix_.value_ = Acsc.data.astype(np.float64)


def solve_highs(mm: MatrixModel, *, time_limit: float | None = None, mip_gap: float = 0.0,
                start: np.ndarray | None = None, threads: int | None = None,
                log: bool = False, stop_at: float | None = None, duals: bool = False,
                heuristic_effort: float | None = None, lp_method: str | None = None,
                options: dict | None = None) -> HighsOutcome:
    """Solve ``mm`` with HiGHS in memory (highspy).

    Args:
        time_limit: seconds (None = none).
        mip_gap: relative gap at which HiGHS may stop (``mip_rel_gap``).
        start: ``(n_cols,)`` a feasible point handed to HiGHS as its first incumbent.
        threads: HiGHS threads (None = HiGHS's default).
        log: print HiGHS's log.
        stop_at: stop as soon as an incumbent is at least this good (objective sense): used
            when a bound proven elsewhere already makes such a plan close enough.
        duals: also return the row duals (an LP: no integer columns).
        heuristic_effort: HiGHS's ``mip_heuristic_effort`` (None = its default, 0.05).
        lp_method: HiGHS's ``solver`` option for an LP (``"ipm"``, ``"simplex"``; None =
            HiGHS's choice). The interior point method runs with crossover, so the solution is
            a vertex and its duals are valid.
        options: further HiGHS options by name (e.g. ``{"presolve": "off"}``).

    Returns:
        :class:`HighsOutcome`; ``bound`` is HiGHS's dual bound in the model's sense.
    """
    import highspy

    from evsiting.models._core import _quiet_stdout

    t0 = time.perf_counter()
    with _quiet_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", bool(log))
    if time_limit is not None:
        h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("random_seed", 0)
    if lp_method is not None and not mm.integer.any():
        h.setOptionValue("solver", lp_method)
    if threads:
        h.setOptionValue("threads", int(threads))
    if heuristic_effort is not None:
        h.setOptionValue("mip_heuristic_effort", float(heuristic_effort))
    for name, value in (options or {}).items():
        h.setOptionValue(name, value)
    lp = highspy.HighsLp()
    lp.num_col_ = mm.n_cols
    lp.num_row_ = mm.A.shape[0]
    lp.col_cost_ = mm.c.astype(np.float64)
    lp.col_lower_ = mm.col_lo
    lp.col_upper_ = mm.col_hi
    lp.row_lower_ = mm.row_lo
    lp.row_upper_ = mm.row_hi
    lp.offset_ = float(mm.offset)
    lp.sense_ = highspy.ObjSense.kMaximize if mm.maximize else highspy.ObjSense.kMinimize
    set_matrix(lp, mm.A)
    lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                       for b in mm.integer]
    h.passModel(lp)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(map(float, start))
        sol.value_valid = True
        h.setSolution(sol)
    reached = False
    if stop_at is not None:
        def _enough(e) -> None:
            nonlocal reached
            val = e.data_out.mip_primal_bound
            if np.isfinite(val) and (val >= stop_at if mm.maximize else val <= stop_at):
                reached = True
                e.interrupt()

        h.cbMipInterrupt.subscribe(_enough)
    with _interruptible(h):
        h.run()
    st = h.getModelStatus()
    info = h.getInfo()
    S = highspy.HighsModelStatus
    secs = time.perf_counter() - t0
    if st in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return HighsOutcome(None, math.nan, math.nan, "infeasible", secs, int(info.mip_node_count))
    has = info.primal_solution_status == 2
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has else None
    obj = float(info.objective_function_value) if has else math.nan
    bound = float(info.mip_dual_bound)
    if st == S.kOptimal:
        status = "optimal" if mip_gap == 0 else "gap"
    elif st == S.kTimeLimit:
        status = "time_limit"
    elif reached and has:
        status = "gap"  # stopped at stop_at
    else:
        status = "error" if not has else "time_limit"
    rd = None
    if duals and has and info.dual_solution_status == 2:
        rd = np.asarray(h.getSolution().row_dual, dtype=np.float64)
    return HighsOutcome(x, obj, bound, status, secs, int(info.mip_node_count), rd)


def MatrixCopy(mm):
    """A copy of a :class:`~evsiting.models._cflp.MatrixModel` whose bounds and integrality
    can be changed (the matrix is shared)."""
    from dataclasses import replace

    return replace(mm, col_lo=mm.col_lo.copy(), col_hi=mm.col_hi.copy(), integer=mm.integer.copy(), c=mm.c.copy())
