"""A staged build-out that holds under every adoption scenario (``evsiting plan --robust``).

The nested staged plan (:mod:`evsiting.models.nested`) of one scenario spends, over the whole
plan, the capital of its last year's network (a station, once open, stays open; ports are only
added; costs are not discounted). Its objective is that network's capital plus its drivers'
access cost (CNY). The robust plan chooses the network of the **early years** (up to
``early_until``, the last of them ``k_e``) once for all scenarios ``s`` (weights ``p_s``), and
each scenario's later years on its own:

    min  sum_s p_s cost_s(X_s)          (criterion "expected")
    or   max_s cost_s(X_s)              (criterion "worst_case")
    s.t. X_e serves every scenario's energy of year k_e   (within the service standard)
         X_s serves scenario s's energy of the last year
         X_e <= X_s  site by site: stations, DC ports, AC ports

where a network ``X`` is the stations and integer DC/AC ports at each candidate site, with the
rows of the capacitated model (:mod:`evsiting.models._cflp`, built from the same reduced
instances as :class:`~evsiting.models.capacitated.CapacitatedSiting`). ``X_e`` serves the
elementwise largest energy (and DC energy) of year ``k_e`` over the scenarios; as every cell
keeps one DC share in all scenarios (the plan's construction), a network serving it serves each
scenario's energy (scale the flows down).

**What is exact.** Every two-stage solution completes to a full plan (the earlier years the
least-cost part of ``X_e`` serving their largest energy; the years between ``k_e`` and the last
the least-cost networks between ``X_e`` and the next year's network), and the plan's total
spend does not depend on those years (undiscounted). So the two-stage model above IS the robust
plan problem for the nested method's objective. It is solved as one extensive-form MIP (the
first stage, then one copy per scenario) by HiGHS from the best of the start plans below, with
a proven bound: the larger of HiGHS's bound and the bound of the scenarios' own optima
(``sum_s p_s B_s`` or ``max_s B_s``, each ``B_s`` the proven bound of scenario ``s``'s own
nested plan: no plan serving a scenario costs less). The gap reported is against that bound.

**Start plans (a heuristic, only a start).** For each scenario ``s'``, its own nested plan's
network of year ``k_e`` as ``X_e`` (when it serves the largest energy of that year), with every
scenario's best completion: the best of these is handed to HiGHS and kept if HiGHS does not
improve on it in time.

**Regret.** Against each scenario's own nested plan on the same instance: robust cost minus own
cost (CNY; can be slightly negative when the robust solve finds a better last-year network than
the own solve, both being within their gaps) and robust cost minus the own proven bound (an upper
bound of the true regret). The cost of robustness is the robust objective minus the same
criterion over the own plans' costs; it is at most the robust objective minus the criterion over
the own bounds.

After the extensive form (none of these raises a scenario's cost): the shared network is solved
again as the least-cost one within every scenario's last network (the first stage has no cost
of its own in the model, so HiGHS may leave more in it than the early years need); each
scenario's last year is solved again with it fixed, to a quarter of ``mip_gap``; the years other
than ``k_e`` and the last are filled in, each a MIP on the sites of the next year's network
(HiGHS, within ``mip_gap``, from that network). They do not change the total.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from evsiting.core.errors import InputError, SolverError
from evsiting.models._cflp import MatrixModel, build, solve_highs
from evsiting.models.capacitated import CapacitatedSiting, _trimmed
from evsiting.models.nested import StagedResult, _binding, _sub, staged_capacitated

#: The criteria of the robust plan (``buildout.robust.criterion``).
CRITERIA = ("expected", "worst_case")
#: Shares of the time limit: the scenarios' own plans, the start plans' LPs, the extensive form
#: and the years filled in (each of those solves starts from a plan, so it ends with one)
TIME_SHARES = {"own": 0.35, "starts": 0.1, "extensive": 0.35, "fill": 0.2}


@dataclass
class RobustResult:
    """Result of :func:`robust_staged` (``S`` scenarios, ``T`` years, ``m`` candidates).

    Attributes:
        scenarios: ``(S,)`` names; weights: their normalised weights (sum 1).
        criterion: ``expected`` or ``worst_case``.
        years: ``(T,)``; early_years: the years whose network is shared (up to ``early_until``).
        plans: scenario -> :class:`~evsiting.models.nested.StagedResult` of the robust plan
            (years up to ``early_until`` the same in every scenario).
        own: scenario -> the scenario's own nested plan (same instance).
        cost_cny / own_cost_cny / own_bound_cny: scenario -> CNY (capital of the last year's
            network + its drivers' access cost) of the robust plan, the own plan, and the own
            plan's proven lower bound.
        objective, bound, gap: the robust criterion's value (CNY), a proven lower bound of the
            best robust plan's, and the relative gap between them.
        status: ``optimal`` only when the gap is proven zero, else ``feasible``.
        source: which plan won: ``extensive form`` or ``start from <scenario>``.
        regret: one dict per scenario (see :func:`regret_rows`).
        cost_of_robustness_cny, cost_of_robustness_max_cny: the robust objective minus the
            criterion over the own costs, and minus the criterion over the own bounds.
        runtime_s, message, stats.
    """

    scenarios: list[str]
    weights: list[float]
    criterion: str
    years: list[int]
    early_years: list[int]
    plans: dict[str, StagedResult]
    own: dict[str, StagedResult]
    cost_cny: dict[str, float]
    own_cost_cny: dict[str, float]
    own_bound_cny: dict[str, float]
    objective: float
    bound: float
    gap: float
    status: str
    source: str
    regret: list[dict] = field(default_factory=list)
    cost_of_robustness_cny: float = 0.0
    cost_of_robustness_max_cny: float = 0.0
    runtime_s: float = 0.0
    message: str = ""
    stats: dict = field(default_factory=dict)


def combine(costs: Sequence[float], weights: Sequence[float], criterion: str) -> float:
    """The criterion over per-scenario costs: ``sum p_s c_s`` (expected) or ``max_s c_s``
    (worst_case; the weights do not matter).

    Raises:
        InputError: unknown criterion.
    """
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}", field="criterion")
    c = np.asarray(costs, dtype=float)
    return float(np.dot(np.asarray(weights, dtype=float), c)) if criterion == "expected" else float(c.max())


@dataclass
class _Block:
    """One year's capacitated instance in original site indices: ``mdl`` on sites ``cols``
    (after :meth:`CapacitatedSiting.reduce`), its matrix model ``mm`` and where its station /
    port columns sit (``site`` = original index of each reduced site)."""

    mdl: CapacitatedSiting
    red: Any
    mm: MatrixModel
    site: np.ndarray
    cand: np.ndarray  #: original index of each of ``mdl``'s candidates

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(sites with a station column, their y columns, nd columns, na columns) in block order."""
        b = self.mm.blocks
        new = self.red.instance.new
        ycols = np.full(self.site.size, -1, dtype=np.int64)
        ycols[np.flatnonzero(new)] = np.arange(b["y"].start, b["y"].stop)
        nd = np.arange(b["nd"].start, b["nd"].stop)
        na = np.arange(b["na"].start, b["na"].stop)
        return self.site, ycols, nd, na


def _block(cost: sp.csr_matrix, energy: np.ndarray, dc_energy: np.ndarray, standard, site_args: dict,
           cols: np.ndarray | None = None, caps: tuple | None = None) -> _Block:
    """The reduced instance of one year on sites ``cols`` (default all), optionally capped at a
    later year's network ``caps = (stations, dc, ac)`` (``(m,)`` each, original indices)."""
    m = cost.shape[1]
    cols = np.arange(m) if cols is None else cols
    args = {k: _sub(v, cols) for k, v in site_args.items() if k != "required"}
    if caps is not None:
        args.update(max_stations=np.maximum(caps[0][cols], 1), max_site_dc_ports=caps[1][cols],
                    max_site_ac_ports=caps[2][cols])
    req_all = site_args.get("required")
    req = None if req_all is None else np.flatnonzero(np.isin(cols, np.asarray(req_all)))
    mdl = CapacitatedSiting.from_cost_matrix(cost[:, cols], energy, dc_energy, standard,
                                             required=req if req is not None and req.size else None, **args)
    red = mdl.reduce()
    return _Block(mdl, red, build(red.instance), cols[red.cols], cols)


def _network(blk: _Block, x: np.ndarray, m: int):
    """``(result, stations, dc, ac, site_served)`` of block solution ``x``: the
    :class:`~evsiting.models.capacitated.CapacitatedResult` on the block's candidates and the
    ``(m,)`` arrays in original site indices (ports, kWh/day served at each site)."""
    r = blk.mdl._result(blk.red.instance, blk.mm.blocks, blk.red.rows, blk.red.cols, x, bound=-math.inf,
                        lp_bound=-math.inf, proven=False, message="-", stats={}, unreachable=blk.red.unreachable,
                        short=blk.red.short, seconds=0.0)
    out = [np.zeros(m, dtype=np.int64) for _ in range(3)]
    for arr, val in zip(out, (r.stations, r.dc_ports, r.ac_ports)):
        arr[blk.cand] = val
    served = np.zeros(m)
    if r.flows is not None:
        served[blk.cand] = np.asarray(r.flows.sum(axis=0)).ravel()
    return r, out[0], out[1], out[2], served


def _floor_of(blk: _Block, net: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and lower bounds of ``blk`` that keep network ``net`` (stations, dc, ac)."""
    site, ycols, nd, na = blk.columns()
    idx, lo = [], []
    has_y = ycols >= 0
    idx += [ycols[has_y], nd, na]
    lo += [net[0][site[has_y]], net[1][site], net[2][site]]
    return np.concatenate(idx), np.concatenate(lo).astype(float)


def _stack(blocks: list[_Block]) -> tuple[sp.csr_matrix, list[int]]:
    """Block-diagonal matrix of the blocks and each block's column offset."""
    offs = np.cumsum([0] + [b.mm.n_cols for b in blocks]).tolist()
    return sp.block_diag([b.mm.A for b in blocks], format="csr"), offs


def _extensive(first: _Block, scen: list[_Block], weights: np.ndarray, criterion: str,
               fixed: list[tuple] | None = None) -> MatrixModel:
    """The extensive form: ``first`` (the shared network, no cost of its own), one block per
    scenario, linking rows ``X_s >= X_e`` site by site; objective the criterion over the
    scenario blocks' costs (worst_case: one more column ``z >= cost_s``). ``fixed`` = one
    network (stations, dc, ac) per block at which every station and port is held: what is
    left is the LP of the flows (a start plan)."""
    blocks = [first] + scen
    A, offs = _stack(blocks)
    ncol = offs[-1]
    c = np.zeros(ncol)
    offset = 0.0
    if criterion == "expected":
        for b, o, p in zip(scen, offs[1:], weights):
            c[o:o + b.mm.n_cols] = p * b.mm.c
            offset += p * b.mm.offset
    col_lo = np.concatenate([b.mm.col_lo for b in blocks])
    col_hi = np.concatenate([b.mm.col_hi for b in blocks])
    integer = np.concatenate([b.mm.integer for b in blocks])
    row_lo = [np.concatenate([b.mm.row_lo for b in blocks])]
    row_hi = [np.concatenate([b.mm.row_hi for b in blocks])]
    rows, cols, vals = [], [], []
    r = A.shape[0]
    s0, y0, nd0, na0 = first.columns()
    pos0 = {int(j): k for k, j in enumerate(s0)}
    for b, o in zip(scen, offs[1:]):
        s1, y1, nd1, na1 = b.columns()
        pos1 = {int(j): k for k, j in enumerate(s1)}
        for j, k0 in pos0.items():
            k1 = pos1.get(j)
            pairs = []
            if k1 is None:  # a site reaching no energy in this scenario: keep it closed in the first stage
                for col in (y0[k0], nd0[k0], na0[k0]):
                    if col >= 0:
                        col_hi[col] = 0.0
                continue
            if y0[k0] >= 0:
                pairs.append((y0[k0], y1[k1] + o if y1[k1] >= 0 else -1))
            pairs += [(nd0[k0], nd1[k1] + o), (na0[k0], na1[k1] + o)]
            for a, bcol in pairs:
                if bcol < 0:  # an existing station in the scenario block: open already
                    continue
                rows += [r, r]
                cols += [bcol, a]
                vals += [1.0, -1.0]
                r += 1
    nlink = r - A.shape[0]
    row_lo.append(np.zeros(nlink))
    row_hi.append(np.full(nlink, math.inf))
    if criterion == "worst_case":
        z = ncol
        ncol += 1
        c = np.append(c, 1.0)
        col_lo, col_hi = np.append(col_lo, -math.inf), np.append(col_hi, math.inf)
        integer = np.append(integer, False)
        for b, o in zip(scen, offs[1:]):  # z - c_s x_s >= offset_s
            nz = np.flatnonzero(b.mm.c)
            rows += [r] * (nz.size + 1)
            cols += (nz + o).tolist() + [z]
            vals += (-b.mm.c[nz]).tolist() + [1.0]
            row_lo.append(np.array([b.mm.offset]))
            row_hi.append(np.array([math.inf]))
            r += 1
    link = sp.csr_matrix((vals, (rows, cols)), shape=(r, ncol))
    A = sp.vstack([sp.hstack([A, sp.csr_matrix((A.shape[0], ncol - A.shape[1]))]), link[A.shape[0]:]], format="csr")
    if fixed is not None:
        for b, o, net in zip(blocks, offs, fixed):
            idx, lo = _floor_of(b, net)
            col_lo[idx + o] = lo
            col_hi[idx + o] = lo
        integer = np.zeros_like(integer)
    blocks_map = {f"b{k}": slice(offs[k], offs[k + 1]) for k in range(len(blocks))}
    return MatrixModel(c, A, np.concatenate(row_lo), np.concatenate(row_hi), col_lo, col_hi, integer,
                       False, offset, blocks_map)


def _represents(blk: _Block, net: tuple) -> bool:
    """Whether every station of ``net`` stands at a site of ``blk`` (else it cannot be a start)."""
    inside = np.zeros(net[0].size, dtype=bool)
    inside[blk.site] = True
    return not (net[0][~inside] > 0).any()


def _fixed_start(blk: _Block, net: tuple, tl) -> np.ndarray | None:
    """A feasible point of ``blk`` with network ``net`` held (the LP of its flows), or None."""
    if not _represents(blk, net):
        return None
    mm = blk.mm
    idx, lo = _floor_of(blk, net)
    col_lo, col_hi = mm.col_lo.copy(), mm.col_hi.copy()
    col_lo[idx] = lo
    col_hi[idx] = lo
    out = solve_highs(MatrixModel(mm.c, mm.A, mm.row_lo, mm.row_hi, col_lo, col_hi, np.zeros_like(mm.integer),
                                  mm.maximize, mm.offset, mm.blocks), time_limit=tl)
    return out.x


def _scenario_costs(scen: list[_Block], offs: list[int], x: np.ndarray) -> list[float]:
    """Each scenario block's cost (CNY, capital + access) at ``x``."""
    return [float(b.mm.c @ x[o:o + b.mm.n_cols] + b.mm.offset) for b, o in zip(scen, offs[1:])]


def _check(energy: Mapping[str, np.ndarray], dc_energy: Mapping[str, np.ndarray], years: list[int], weights, criterion: str,
           early_until: int) -> tuple[list[str], np.ndarray, int]:
    """Validated scenarios, normalised weights and the index of the last early year."""
    scenarios = list(energy)
    if not scenarios:
        raise InputError("no scenario given", field="scenarios")
    if set(dc_energy) != set(scenarios):
        raise InputError("energy and dc_energy must name the same scenarios", field="dc_energy_kwh_day")
    w = np.array([float(weights.get(s, 0.0)) if weights is not None else 1.0 for s in scenarios])
    if weights is not None and set(weights) - set(scenarios):
        raise InputError(f"weights name unknown scenarios {sorted(set(weights) - set(scenarios))}", field="weights")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise InputError("weights must be non-negative numbers, not all zero", field="weights")
    if criterion not in CRITERIA:
        raise InputError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}", field="criterion")
    if not years[0] <= early_until < years[-1]:
        raise InputError(f"early_until {early_until} must lie in {years[0]}..{years[-1] - 1}, the plan years but the last "
                         "(before the first no year is shared; from the last on every year is, and the plan is one plan "
                         "for the largest scenario)", field="early_until")
    k_e = int(np.searchsorted(np.asarray(years), early_until, side="right") - 1)
    return scenarios, w / w.sum(), k_e


def robust_staged(
    cost: sp.csr_matrix,
    energy_kwh_day: Mapping[str, np.ndarray],
    dc_energy_kwh_day: Mapping[str, np.ndarray],
    years: Sequence[int],
    service_standard_min,
    *,
    early_until: int,
    site_args: dict[str, Any],
    weights: Mapping[str, float] | None = None,
    criterion: str = "expected",
    county_of: Sequence[str] | None = None,
    time_limit: float | None = None,
    mip_gap: float | None = 0.005,
    progress: Callable[[str], None] = lambda msg: None,
) -> RobustResult:
    """Solve the robust staged plan (see the module doc).

    Args:
        cost: ``(n, m)`` travel minutes, scipy.sparse (absent = unreachable) or dense.
        energy_kwh_day, dc_energy_kwh_day: scenario -> ``(T, n)`` public charging energy of
            each year and its DC-only part, kWh/day (never falling from year to year).
        years: ``(T,)`` increasing calendar years.
        service_standard_min: minutes, one value or ``(n,)``.
        early_until: the last calendar year whose network is shared by all scenarios
            (``years[0] <= early_until < years[-1]``).
        site_args: as :func:`~evsiting.models.nested.staged_capacitated`'s.
        weights: scenario -> weight (normalised; None = equal weights). Unused by worst_case.
        criterion: ``expected`` or ``worst_case``.
        county_of: ``(n,)`` county label of each demand point (for ``binding``).
        time_limit: seconds for the whole robust plan (shares: :data:`TIME_SHARES`).
        mip_gap: relative gap at which each solve may stop.
        progress: called with one line per step.

    Returns:
        :class:`RobustResult`.

    Raises:
        InputError: shapes, weights, criterion, ``early_until``. SolverError: no robust plan
        found in the time limit. InfeasibleError: as :meth:`CapacitatedSiting.solve`.
    """
    t0 = time.perf_counter()
    years = [int(y) for y in years]
    T = len(years)
    scenarios, w, k_e = _check(energy_kwh_day, dc_energy_kwh_day, years, weights, criterion, early_until)
    cost = sp.csr_matrix(cost)
    n, m = cost.shape
    E = {s: np.atleast_2d(np.asarray(energy_kwh_day[s], dtype=float)) for s in scenarios}
    D = {s: np.atleast_2d(np.asarray(dc_energy_kwh_day[s], dtype=float)) for s in scenarios}
    for s in scenarios:
        if E[s].shape != (T, n) or D[s].shape != (T, n):
            raise InputError(f"scenario {s}: energy must be ({T}, {n}), got {E[s].shape} and {D[s].shape}",
                             field="energy_kwh_day")
    gap = 0.005 if mip_gap is None else float(mip_gap)

    def share(key: str, parts: int = 1) -> float | None:
        return None if time_limit is None else max(float(time_limit) * TIME_SHARES[key] / parts, 1.0)

    own = {}
    for s in scenarios:
        progress(f"{s}: the scenario's own nested plan")
        tl_own = share("own", len(scenarios))
        try:
            own[s] = staged_capacitated(cost, E[s], D[s], years, service_standard_min, site_args=site_args, county_of=county_of,
                                        time_limit=tl_own, mip_gap=gap, progress=lambda msg: progress(f"  {msg}"))
        except SolverError as exc:
            raise SolverError(f"robust plan: the {s} scenario's own nested plan failed in its {tl_own or 0:.0f} s "
                              f"({TIME_SHARES['own']:.0%} of the time limit shared by {len(scenarios)} scenarios): {exc}; "
                              "raise --time-limit (or buildout.time_limit_s)") from exc
    first = _block(cost, np.max([E[s][k_e] for s in scenarios], axis=0), np.max([D[s][k_e] for s in scenarios], axis=0),
                   service_standard_min, site_args)
    scen = [_block(cost, E[s][-1], D[s][-1], service_standard_min, site_args) for s in scenarios]
    x, obj, hb, source, info = _solve_two_stage(first, scen, w, criterion, own, scenarios, k_e, gap=gap,
                                                tl_starts=share("starts", len(scenarios)), tl_full=share("extensive"),
                                                progress=progress)
    own_bound = {s: float(own[s].bound) for s in scenarios}
    lb_own = combine([own_bound[s] for s in scenarios], w, criterion)
    plans = _fill_years(first, scen, x, scenarios, E, D, years, k_e, cost=cost, standard=service_standard_min,
                        site_args=site_args, county_of=county_of, gap=gap, progress=progress,
                        tl=share("fill", k_e + 1 + len(scenarios) * (T - 1 - k_e)))  # every solve of the fill starts from a plan
    cost_cny = {s: float(plans[s].objective) for s in scenarios}
    obj = combine([cost_cny[s] for s in scenarios], w, criterion)  # the plans as reported (each completion re-solved)
    bound = min(max(hb, lb_own) if math.isfinite(hb) else lb_own, obj)
    rel = max(obj - bound, 0.0) / max(abs(obj), 1e-10)
    status = "optimal" if rel <= 1e-9 else "feasible"
    own_cost = {s: float(own[s].objective) for s in scenarios}
    res = RobustResult(scenarios, w.tolist(), criterion, years, years[:k_e + 1], plans, own, cost_cny, own_cost, own_bound,
                       float(obj), float(bound), float(rel), status, source, runtime_s=time.perf_counter() - t0, stats=info)
    res.regret = regret_rows(res)
    res.cost_of_robustness_cny = obj - combine([own_cost[s] for s in scenarios], w, criterion)
    res.cost_of_robustness_max_cny = obj - lb_own
    res.message = (f"{criterion} cost {obj:,.0f} CNY from the {source}, proven within {rel:.3%} of the best robust plan "
                   f"(bound {bound:,.0f} CNY: " + ("HiGHS on the extensive form" if math.isfinite(hb) and hb > lb_own
                                                   else "the scenarios' own bounds") + ")")
    return res


def _solve_two_stage(first: _Block, scen: list[_Block], w: np.ndarray, criterion: str, own: dict, scenarios: list[str],
                     k_e: int, *, gap: float, tl_starts, tl_full, progress) -> tuple:
    """The start plans (each scenario's own year-``k_e`` network as the shared one, completed
    best in every scenario), then the extensive form from the best of them. Returns ``(x,
    objective, HiGHS bound (-inf if none), source, stats)``."""
    best = None
    info: dict = {"starts": {}}
    offs = np.cumsum([0] + [b.mm.n_cols for b in [first] + scen]).tolist()
    for s2 in scenarios:
        net = (own[s2].stations[k_e], own[s2].dc_ports[k_e], own[s2].ac_ports[k_e])
        finals = [tuple(np.maximum(getattr(own[s], a)[-1], v) for a, v in zip(("stations", "dc_ports", "ac_ports"), net))
                  for s in scenarios]  # each scenario's own last network, raised to hold the shared one
        if not all(_represents(b, x) for b, x in zip([first] + scen, [net] + finals)):
            continue
        mm = _extensive(first, scen, w, criterion, fixed=[net] + finals)
        out = solve_highs(mm, time_limit=tl_starts)
        if out.x is None:
            info["starts"][s2] = None
            progress(f"start from {s2}'s own network: {'does not serve every scenario' if out.status == 'infeasible' else 'no plan in time'}")
            continue
        val = combine(_scenario_costs(scen, offs, out.x), w, criterion)  # not z: HiGHS's tolerance may leave it below
        info["starts"][s2] = round(val, 2)
        progress(f"start from {s2}'s own network: {criterion} cost {val:,.0f} CNY ({out.seconds:.0f} s)")
        if best is None or val < best[1] - 1e-6:
            best = (out.x, val, f"start from {s2}'s own plan")
    mm = _extensive(first, scen, w, criterion)
    info.update(extensive_rows=int(mm.A.shape[0]), extensive_cols=int(mm.n_cols))
    full = solve_highs(mm, time_limit=tl_full, mip_gap=gap, start=None if best is None else best[0])
    info.update(extensive_status=full.status, extensive_s=round(full.seconds, 3), extensive_nodes=full.nodes)
    hb = float(full.bound) if math.isfinite(full.bound) else -math.inf
    if full.x is not None:
        val = combine(_scenario_costs(scen, offs, full.x), w, criterion)
        if best is None or val < best[1] - 1e-6:
            best = (full.x, val, "extensive form")
    progress(f"extensive form ({mm.A.shape[0]:,} rows, {mm.n_cols:,} columns): {full.status}, "
             f"bound {hb:,.0f} CNY, {full.seconds:.0f} s")
    if best is None:
        raise SolverError("robust plan: no plan found within the time limit; raise buildout.time_limit_s (or --time-limit)")
    return best[0], best[1], hb, best[2], info


def _solve_fill(blk: _Block, floor: tuple | None, tl, gap: float, start: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """A year between the stages (or a scenario's last year again): the least-cost network on
    ``blk`` (e.g. the next year's sites, capped at its ports) that keeps ``floor`` (the shared
    network), from ``start`` if given. Returns ``(x, info)``."""
    mm = blk.mm
    if floor is not None:
        mm = MatrixModel(mm.c, mm.A, mm.row_lo, mm.row_hi, mm.col_lo.copy(), mm.col_hi.copy(), mm.integer, mm.maximize,
                         mm.offset, mm.blocks)
        idx, lo = _floor_of(blk, floor)
        mm.col_lo[idx] = np.minimum(lo, mm.col_hi[idx])
    out = solve_highs(mm, time_limit=tl, mip_gap=gap, start=start)
    if out.x is None:
        raise SolverError(f"robust plan: a year between the stages found no plan ({out.status}); raise the time limit")
    x = out.x if floor is not None else _trimmed(blk.red.instance, mm, out.x)  # trimming could cut below the floor
    obj = float(mm.c @ x + mm.offset)
    g = max(obj - out.bound, 0.0) / max(abs(obj), 1e-10) if math.isfinite(out.bound) else math.inf
    return x, {"status": "optimal" if g <= 1e-9 else "feasible", "objective_cny": round(obj, 2),
               "bound_cny": round(float(out.bound), 2), "gap": g, "runtime_s": round(out.seconds, 3),
               "candidates": int(blk.cand.size), "message": "" if out.status != "time_limit" else "time limit reached"}


def _fill_years(first: _Block, scen: list[_Block], x: np.ndarray, scenarios: list[str], E: dict, D: dict,
                years: list[int], k_e: int, *, cost, standard, site_args: dict, county_of, gap: float, tl,
                progress) -> dict[str, StagedResult]:
    """Every year of every scenario's robust plan from the two-stage solution ``x``."""
    m = cost.shape[1]
    T = len(years)
    offs = np.cumsum([0] + [b.mm.n_cols for b in [first] + scen]).tolist()
    e_max = np.max([E[s] for s in scenarios], axis=0)
    d_max = np.max([D[s] for s in scenarios], axis=0)
    # the shared network again: the least-cost one within every scenario's last network (the
    # two-stage model gives the first stage no cost of its own, so HiGHS may have left stations
    # or DC ports in it that are needed only later); the scenarios' costs do not change
    x0 = _trimmed(first.red.instance, first.mm, x[offs[0]:offs[1]])
    net_x0 = _network(first, x0, m)[1:4]
    finals = [_network(b, x[o:o + b.mm.n_cols], m)[1:4] for b, o in zip(scen, offs[1:])]
    caps = tuple(np.min([f[q] for f in finals], axis=0) for q in range(3))
    blk0 = _block(cost, e_max[k_e], d_max[k_e], standard, site_args, cols=np.flatnonzero(caps[0] > 0), caps=caps)
    xe, info0 = _solve_fill(blk0, None, tl, gap, start=_fixed_start(blk0, net_x0, tl))
    early = {k_e: (_network(blk0, xe, m), blk0.cand,
                   {**info0, "message": "the shared network: the least-cost one within every scenario's last network"})}
    net0 = early[k_e][0][1:4]
    nxt = net0
    for k in range(k_e - 1, -1, -1):
        blk = _block(cost, e_max[k], d_max[k], standard, site_args, cols=np.flatnonzero(nxt[0] > 0), caps=nxt)
        xk, info = _solve_fill(blk, None, tl, gap, start=_fixed_start(blk, nxt, tl))
        early[k] = (_network(blk, xk, m), blk.cand, info)
        nxt = early[k][0][1:4]
        progress(f"{years[k]} (shared): {int(nxt[0].sum()):,} stations, {int(nxt[1].sum()):,} DC + {int(nxt[2].sum()):,} AC ports")
    progress(f"{years[k_e]} (shared): {int(net0[0].sum()):,} stations, {int(net0[1].sum()):,} DC + {int(net0[2].sum()):,} AC ports")
    plans = {}
    for i, s in enumerate(scenarios):
        # the last year again with the shared network fixed: the least cost of this scenario given
        # it (under worst_case, or a weight of 0, the two-stage model does not price it)
        # (a quarter of the gap target: this solve sets the scenario's cost, and with its start it
        # would otherwise stop at once)
        xs, info = _solve_fill(scen[i], net0, tl, gap / 4, start=x[offs[i + 1]:offs[i + 2]])
        later = {T - 1: (_network(scen[i], xs, m), scen[i].cand,
                         {**info, "message": "the scenario's last year, given the shared network"})}
        nxt = later[T - 1][0][1:4]
        for k in range(T - 2, k_e, -1):
            blk = _block(cost, E[s][k], D[s][k], standard, site_args, cols=np.flatnonzero(nxt[0] > 0), caps=nxt)
            xk, info = _solve_fill(blk, net0, tl, gap, start=_fixed_start(blk, nxt, tl))
            later[k] = (_network(blk, xk, m), blk.cand, info)
            nxt = later[k][0][1:4]
        plans[s] = _assemble(years, k_e, early, later, E[s], e_max, site_args=site_args, county_of=county_of,
                             unreachable=scen[i].red.unreachable)
        st = plans[s].stations
        if (np.diff(st, axis=0) < 0).any() or (np.diff(plans[s].dc_ports, axis=0) < 0).any() \
                or (np.diff(plans[s].ac_ports, axis=0) < 0).any():
            raise SolverError(f"robust plan of {s}: a year holds less than the year before (a bug)")
        progress(f"{s}: {int(st[-1].sum()):,} stations in {years[-1]}, total spend {plans[s].total_cost:,.0f} CNY")
    return plans


def _capital(net: tuple, site_args: dict, existing: np.ndarray) -> float:
    """CNY of network ``net`` = (stations, dc, ac) ``(m,)``: new stations and new ports
    (existing stations and their ports cost nothing)."""
    m = existing.size

    def per_site(key: str) -> np.ndarray:
        v = site_args.get(key)
        return np.broadcast_to(np.asarray(0.0 if v is None else v, dtype=float), (m,))

    ex_dc = per_site("existing_dc")
    ex_ac = per_site("existing_ac")
    st, dc, ac = (np.asarray(a, dtype=float) for a in net)
    new_st = np.where(existing, 0.0, st)
    return float((per_site("site_cost_cny") * new_st).sum() + (per_site("dc_port_cost_cny") * (dc - np.where(existing, ex_dc, 0))).sum()
                 + (per_site("ac_port_cost_cny") * (ac - np.where(existing, ex_ac, 0))).sum())


def _assemble(years: list[int], k_e: int, early: dict, later: dict, E: np.ndarray, e_max: np.ndarray, *,
              site_args: dict, county_of, unreachable: np.ndarray) -> StagedResult:
    """One scenario's robust plan as a :class:`StagedResult`: the shared years' network with
    its flows scaled to the scenario's energy (each cell's flows x its energy / the largest
    energy: a feasible routing of the scenario's energy on the shared network), then its own."""
    T, n = E.shape
    m = early[k_e][0][1].size
    stations, dc, ac = (np.zeros((T, m), dtype=np.int64) for _ in range(3))
    served, short, site_served = np.zeros((T, n)), np.zeros((T, n)), np.zeros((T, m))
    year_results = []
    for k in range(T):
        (r, st, d, a, _), cand, info = early[k] if k <= k_e else later[k]
        ratio = np.ones(n) if k > k_e else np.divide(E[k], e_max[k], out=np.zeros(n), where=e_max[k] > 0)
        stations[k], dc[k], ac[k] = st, d, a
        served[k] = r.served * ratio
        short[k] = r.short * ratio
        lost = np.setdiff1d(r.unreachable, unreachable)
        short[k, lost] += E[k, lost]
        if r.flows is not None:
            site_served[k, cand] = r.flows.T @ ratio
        year_results.append({"year": years[k], **info, "shared": k <= k_e})
    ex = np.zeros(m)
    for key in ("existing_dc", "existing_ac"):
        if site_args.get(key) is not None:
            ex = ex + np.broadcast_to(np.asarray(site_args[key], dtype=float), (m,))
    existing = ex > 0
    cum = np.array([_capital((stations[k], dc[k], ac[k]), site_args, existing) for k in range(T)])
    last = later[T - 1][0][0]
    open_any = stations > 0
    first = np.where(open_any.any(axis=0), open_any.argmax(axis=0), -1)
    open_year = np.where(existing, years[0], np.where(first >= 0, np.asarray(years)[np.maximum(first, 0)], -1))
    demand_total = E.sum(axis=1)
    served_total = served.sum(axis=1)
    share = np.divide(served_total, demand_total, out=np.zeros(T), where=demand_total > 0)
    obj = float(cum[-1] + last.travel_cny)
    return StagedResult(
        "RobustStaged", "feasible", obj, -math.inf, math.inf, np.flatnonzero(stations[-1] > 0).astype(np.int64),
        last.assignment, 0.0, "highs", None, "", {"method": "robust staged"},
        years=np.asarray(years, dtype=np.int64), open_year=open_year.astype(np.int64), existing=existing,
        dc_ports=dc, ac_ports=ac, served=served, served_total=served_total, demand_total=demand_total,
        served_share=share, spend=np.diff(np.concatenate([[0.0], cum])), site_served=site_served, total_cost=float(cum[-1]),
        unreachable=unreachable, stations=stations, short=short, year_results=year_results,
        binding=_binding(years, E, short, unreachable, county_of),
    )


def regret_rows(res: RobustResult) -> list[dict]:
    """One row per scenario: its weight, own and robust cost (CNY), regret (robust - own) and
    its proven maximum (robust - own bound), and the stations of the shared year and of the
    last year in the own and the robust plan, and how many of the robust shared stations'
    sites the own plan also opens by then."""
    k_e = len(res.early_years) - 1
    rows = []
    for s, p in zip(res.scenarios, res.weights):
        own, rob = res.own[s], res.plans[s]
        c, oc, ob = res.cost_cny[s], res.own_cost_cny[s], res.own_bound_cny[s]
        shared = rob.stations[k_e] > 0
        rows.append({
            "scenario": s, "weight": round(p, 6),
            "own_cost_cny": round(oc, 2), "own_bound_cny": round(ob, 2), "robust_cost_cny": round(c, 2),
            "regret_cny": round(c - oc, 2), "regret_share": round((c - oc) / oc, 6) if oc else 0.0,
            "regret_max_cny": round(c - ob, 2),
            "own_capital_cny": round(float(own.total_cost), 2), "robust_capital_cny": round(float(rob.total_cost), 2),
            f"own_stations_{res.years[k_e]}": int(own.stations[k_e].sum()),
            f"robust_stations_{res.years[k_e]}": int(rob.stations[k_e].sum()),
            "shared_sites_also_in_own": int((shared & (own.stations[k_e] > 0)).sum()),
            "shared_sites": int(shared.sum()),
            f"own_stations_{res.years[-1]}": int(own.stations[-1].sum()),
            f"robust_stations_{res.years[-1]}": int(rob.stations[-1].sum()),
            "robust_served_share_min": round(float(rob.served_share.min()), 6),
        })
    return rows
