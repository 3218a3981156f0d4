"""Multi-period (staged) charger siting: which stations to open and how many ports to add each year.

Site opening, integer DC/AC ports per site, port capacities and budgets over years
``t = 0..T-1`` (cost matrix in minutes, demand in kWh/day, capacities in kWh/day per port,
costs in CNY). With one year it is the single-period capacitated siting model with a budget
(max energy served) or a least-cost target. Existing stations (``existing_dc``/``existing_ac``
> 0) are open from the first year with their ports fixed (or kept as a minimum with
``allow_expansion=True``) and cost nothing:

- ``y[j,t]`` binary "site ``j`` is open by year ``t``", non-decreasing in ``t`` (a station is
  never closed); existing stations are open in every year;
- ``nd[j,t]``, ``na[j,t]`` integer DC / AC ports installed by year ``t``, non-decreasing (ports
  are added, never removed), ``nd <= max_dc * y``, ``na <= max_ac * y`` and ``y <= nd + na``
  (an open site has a port);
- ``x[i,j,t] >= 0`` kWh/day of demand point ``i`` served at ``j`` in year ``t``, only within the
  service standard, ``sum_i x[i,j,t] <= dc_capacity_kwh * nd[j,t] + ac_capacity_kwh * na[j,t]``
  and ``sum_j x[i,j,t] <= demand[t, i]``;
- spending in year ``t`` (CNY) = site cost of the sites opened in ``t`` + port cost of the ports
  added in ``t``; at most ``budget[t]`` (or, with ``carry_over``, cumulative spending at most the
  cumulative budget: unspent money stays available later).

Objectives:

- ``"max_served"``: maximise ``sum_t w_t * served_t`` (kWh/day), ``w_t = (1 + r)^-(year_t -
  year_0)`` with ``discount_rate`` r (0 = undiscounted);
- ``"min_cost"``: minimise ``sum_t w_t * spend_t`` (CNY) subject to served_t >=
  ``target_share[t]`` x the year's TOTAL demand (and the budgets, if given); without
  ``target_share`` each year must get all the demand the candidates could serve at their port
  maxima (:meth:`MultiPeriodSiting.servable`).

Coverage rules (:class:`CoverageRule`): every place of a class (county seats, township seats)
must be within the rule's radius of a station open by the rule's year. A place with no
candidate within the radius makes the rule unmeetable; :meth:`MultiPeriodSiting.solve` then
raises :class:`~evsiting.core.errors.InfeasibleError` naming those places.

Warm start (CBC only, pulp ``warmStart=True``; HiGHS runs without a start): a feasible plan
from each year's single-period LP (every site at its port maxima, flows rounded up to ports,
ports never fewer than the year before); when that breaks a budget, the myopic plan (each
year's single-period MIP optimum given what is already built, solved year by year). Its
objective is ``stats["start_objective"]``; the returned plan is never worse. The start is given
to CBC only for models up to :data:`WARM_START_MAX_COLUMNS` columns. With one year the
multi-period model is the single-period model and is solved once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pulp
import scipy.sparse as sp

from evsiting.core.errors import InfeasibleError, InputError, SolverError
from evsiting.models._core import (
    LocationResult,
    SolveOutcome,
    _Model,
    as_cost_csr,
    check_per_site,
    coverage_csr,
    finish_status,
    merge_identical_rows,
    run_solver,
    var_values,
)
from evsiting.models.coverage import _check_radius

OBJECTIVES = ("max_served", "min_cost")

#: Largest model (columns) whose start is passed to CBC. CBC 2.10 does not bound its MIP-start
#: processing by the time limit: on the 7-year province plan (63,210 columns) it ran 346 s
#: against a 57 s limit (measured here, 2 shared cores); larger models keep the start only as
#: the fallback incumbent (the returned plan is never worse than it).
WARM_START_MAX_COLUMNS = 20_000
_MAX_NAMES = 20


@dataclass
class CoverageRule:
    """Every place of a class must be within ``radius`` minutes of a station open by ``year``.

    Attributes:
        label: class name for messages, e.g. ``"county seats"``.
        names: ``(k,)`` place names (reported when unreachable).
        cost: ``(k, n_candidates)`` minutes from each place to each candidate (dense with
            ``np.inf`` or sparse with absent = unreachable).
        year: calendar year by which the rule must hold (a year before the first planning
            year means the first year; after the last, the rule is not enforced and is reported
            in ``stats["coverage_rules"]``).
        radius: minutes; None = the model's service standard.
    """

    label: str
    names: Sequence[str]
    cost: Any
    year: int
    radius: float | None = None


@dataclass
class BuildoutResult(LocationResult):
    """Result of :class:`MultiPeriodSiting` (arrays in original indices; ``T`` = len(years)).

    ``objective``/``bound``/``gap``/``status`` as in :class:`LocationResult` (objective =
    discounted kWh/day served summed over years, or discounted CNY). ``selected`` = stations
    open in the last year.

    Extra attributes:
        years: ``(T,)`` calendar years.
        open_year: ``(n_candidates,)`` first year the site is open (existing stations: the
            first planning year), -1 if never.
        existing: ``(n_candidates,)`` bool, existing stations.
        dc_ports, ac_ports: ``(T, n_candidates)`` int ports installed by each year.
        served: ``(T, n_clients)`` kWh/day served per year.
        served_total, demand_total: ``(T,)`` kWh/day per year; served_share = their ratio.
        spend: ``(T,)`` CNY spent in each year (new sites + new ports).
        site_served: ``(T, n_candidates)`` kWh/day delivered at each site (the flows).
        total_cost: CNY over all years (undiscounted).
        unreachable: demand points with no candidate within the service standard.
    """

    years: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    open_year: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    existing: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    dc_ports: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    ac_ports: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    served: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    served_total: np.ndarray = field(default_factory=lambda: np.zeros(0))
    demand_total: np.ndarray = field(default_factory=lambda: np.zeros(0))
    served_share: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spend: np.ndarray = field(default_factory=lambda: np.zeros(0))
    site_served: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    total_cost: float = 0.0
    unreachable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _per_year(value: Any, T: int, name: str, lo: float = 0.0, hi: float = math.inf) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(T, float(arr))
    arr = arr.reshape(-1)
    if arr.shape[0] != T:
        raise InputError(f"{name} must be a scalar or have one value per year ({T})", field=name)
    if np.isnan(arr).any() or (arr < lo).any() or (arr > hi).any():
        raise InputError(f"{name} must lie in [{lo:g}, {hi:g}]", field=name)
    return arr


def _set_port_args(mdl: Any, m: int, *, max_dc: Any, max_ac: Any, dc_capacity_kwh: float, ac_capacity_kwh: float,
                   site_cost: Any, dc_port_cost: Any, ac_port_cost: Any, existing_dc: Any, existing_ac: Any,
                   allow_expansion: bool) -> None:
    """Check and set on ``mdl`` the per-site port maxima and installed ports (scalar or
    ``(m,)``, whole numbers; None = 0 installed), the port capacities (kWh/day per port) and the
    costs (CNY per new site and per new port, scalar or ``(m,)``).

    Raises:
        InputError: a value that is not a scalar or one per candidate, negative, or not whole
            where ports are counted.
    """
    mdl.max_dc = check_per_site(max_dc, m, "max_dc", integer=True)
    mdl.max_ac = check_per_site(max_ac, m, "max_ac", integer=True)
    mdl.cap_dc = float(dc_capacity_kwh)
    mdl.cap_ac = float(ac_capacity_kwh)
    if not (mdl.cap_dc >= 0 and mdl.cap_ac >= 0):
        raise InputError("port capacities must be non-negative kWh/day")
    mdl.site_cost = check_per_site(site_cost, m, "site_cost")
    mdl.dc_cost = check_per_site(dc_port_cost, m, "dc_port_cost")
    mdl.ac_cost = check_per_site(ac_port_cost, m, "ac_port_cost")
    mdl.ex_dc = check_per_site(existing_dc, m, "existing_dc", integer=True)
    mdl.ex_ac = check_per_site(existing_ac, m, "existing_ac", integer=True)
    mdl.allow_expansion = bool(allow_expansion)


def _names(names: Sequence[str], idx: np.ndarray) -> str:
    sel = [str(names[i]) for i in idx[:_MAX_NAMES]]
    more = f" and {len(idx) - _MAX_NAMES} more" if len(idx) > _MAX_NAMES else ""
    return ", ".join(sel) + more


class MultiPeriodSiting(_Model):
    """Staged capacitated charger siting over several years (see the module doc).

    Args:
        service_radius: service standard, minutes.
        years: increasing calendar years of the plan.
        objective: ``"max_served"`` or ``"min_cost"``.
        budget: CNY per year, scalar or ``(T,)``; None = unlimited.
        carry_over: unspent budget stays available in later years.
        discount_rate: per year, >= 0 (weights of the objective).
        target_share: for ``min_cost``: share of each year's total demand to serve, scalar or
            ``(T,)`` in [0, 1]; None = the servable maximum of each year.
    """

    name = "MultiPeriodSiting"

    def __init__(self, service_radius: float, years: Sequence[int], objective: str = "max_served",
                 budget: Any = None, carry_over: bool = False, *, discount_rate: float = 0.0,
                 target_share: Any = None):
        super().__init__()
        self.service_radius = _check_radius(service_radius)
        yrs = np.asarray(list(years), dtype=np.int64).reshape(-1)
        if yrs.size == 0 or (np.diff(yrs) <= 0).any():
            raise InputError("years must be a non-empty increasing sequence", field="years")
        self.years = yrs
        T = yrs.size
        if objective not in OBJECTIVES:
            raise InputError(f"objective must be one of {OBJECTIVES}, got {objective!r}", field="objective")
        self.objective = objective
        self.budget = _per_year(budget, T, "budget")
        self.carry_over = bool(carry_over)
        if not (np.isfinite(discount_rate) and discount_rate >= 0):
            raise InputError("discount_rate must be a non-negative number per year", field="discount_rate")
        self.discount_rate = float(discount_rate)
        self.target_share = _per_year(target_share, T, "target_share", 0.0, 1.0)
        self.rules: list[CoverageRule] = []

    @property
    def weights_t(self) -> np.ndarray:
        """Objective weight of each year, ``(1 + r)^-(year - first year)``."""
        return (1.0 + self.discount_rate) ** (-(self.years - self.years[0]).astype(float))

    @classmethod
    def from_cost_matrix(cls, cost: Any, demand_kwh: Any, years: Sequence[int], service_radius: float = 15.0, *,
                         objective: str = "max_served", budget: Any = None, carry_over: bool = False,
                         discount_rate: float = 0.0, target_share: Any = None,
                         max_dc: Any = 10, max_ac: Any = 10,
                         dc_capacity_kwh: float = 600.0, ac_capacity_kwh: float = 80.0,
                         site_cost: Any = 0.0, dc_port_cost: Any = 0.0, ac_port_cost: Any = 0.0,
                         existing_dc: Any = None, existing_ac: Any = None, allow_expansion: bool = False,
                         coverage: Sequence[CoverageRule] = ()) -> "MultiPeriodSiting":
        """Build the model.

        Args:
            cost: ``(n_clients, n_candidates)`` minutes (dense ``np.inf`` or sparse absent =
                unreachable).
            demand_kwh: ``(T, n_clients)`` kWh/day per year (or ``(n_clients,)`` when T = 1).
            years: ``(T,)`` increasing calendar years.
            service_radius, objective, budget, carry_over, discount_rate, target_share: see the
                class doc.
            max_dc, max_ac: most DC / AC ports per site (scalar or ``(n_candidates,)``).
            dc_capacity_kwh, ac_capacity_kwh: energy one port delivers per day, kWh/day.
            site_cost: CNY to open a new site (scalar or per site).
            dc_port_cost, ac_port_cost: CNY per new port (scalar or per site).
            existing_dc, existing_ac: ``(n_candidates,)`` ports already installed; a site with
                any is an existing station: open in every year, cost-free, ports fixed.
            allow_expansion: let existing stations add ports (existing ones stay, new ones cost).
            coverage: :class:`CoverageRule` list.

        Raises:
            InputError: malformed inputs.
        """
        mdl = cls(service_radius, years, objective, budget, carry_over, discount_rate=discount_rate, target_share=target_share)
        T = mdl.years.size
        d = np.asarray(demand_kwh, dtype=np.float64)
        if d.ndim == 1 and T == 1:
            d = d.reshape(1, -1)
        if d.ndim != 2 or d.shape[0] != T:
            raise InputError(f"demand_kwh must have shape (years={T}, demand points)", field="demand_kwh")
        if not np.isfinite(d).all() or (d < 0).any():
            raise InputError("demand_kwh must be finite and non-negative", field="demand_kwh")
        mdl._attach(cost, d.max(axis=0), None)
        if mdl.cost.shape[0] != d.shape[1]:
            raise InputError(f"demand_kwh has {d.shape[1]} points, the cost matrix {mdl.cost.shape[0]}",
                             field="demand_kwh")
        mdl.demand = d
        m = mdl.n_candidates
        _set_port_args(mdl, m, max_dc=max_dc, max_ac=max_ac, dc_capacity_kwh=dc_capacity_kwh,
                       ac_capacity_kwh=ac_capacity_kwh, site_cost=site_cost, dc_port_cost=dc_port_cost,
                       ac_port_cost=ac_port_cost, existing_dc=existing_dc, existing_ac=existing_ac,
                       allow_expansion=allow_expansion)
        for r in coverage:
            c = as_cost_csr(r.cost)
            if c.shape != (len(r.names), m):
                raise InputError(f"coverage rule '{r.label}': cost shape {c.shape} is not "
                                 f"({len(r.names)} places, {m} candidates)", field="coverage")
            rad = mdl.service_radius if r.radius is None else _check_radius(r.radius)
            mdl.rules.append(CoverageRule(r.label, list(r.names), c, int(r.year), rad))
        return mdl

    # ------------------------------------------------------------------------------------
    def _rule_rows(self) -> tuple[list[tuple[int, np.ndarray, str]], list[dict]]:
        """Coverage constraints as (year index, reachable candidate indices, place) rows."""
        rows, info = [], []
        existing = (self.ex_dc + self.ex_ac) > 0
        for r in self.rules:
            cov = coverage_csr(r.cost, r.radius)
            k = cov.shape[0]
            none = np.flatnonzero(cov.getnnz(axis=1) == 0)
            if none.size:
                raise InfeasibleError(
                    f"coverage rule '{r.label}' by {r.year} cannot be met: {none.size} of {k} places have no "
                    f"candidate site within {r.radius:g} minutes: {_names(r.names, none)}; add candidate sites "
                    f"near them or relax the rule"
                )
            enforced = r.year <= self.years[-1]
            info.append({"label": r.label, "year": r.year, "places": k, "radius_min": r.radius,
                         "enforced": bool(enforced)})
            if not enforced:
                continue
            t = int(np.searchsorted(self.years, r.year, side="left"))
            for q in range(k):
                js = cov.indices[cov.indptr[q]:cov.indptr[q + 1]]
                if existing[js].any():
                    continue
                rows.append((t, js, str(r.names[q])))
        return rows, info

    def solve(self, solver: str = "cbc", time_limit: float | None = None, mip_gap: float | None = None,
              warm_start: bool = True) -> BuildoutResult:
        """Solve the plan to proven optimality (or until ``time_limit`` s / ``mip_gap``).

        Args:
            solver: ``cbc`` or ``highs``.
            time_limit: seconds for the multi-period solve (the myopic warm start runs first
                with the same limit per year).
            mip_gap: relative gap at which to stop.
            warm_start: solve the myopic plan first and pass it to CBC as a MIP start.

        Returns:
            :class:`BuildoutResult`.

        Raises:
            InfeasibleError: an unmeetable coverage rule (places named); a target share above
                the reachable share of a year's demand; budgets too small for the coverage rules
                or targets.
            SolverError: solver missing or no feasible solution in the time limit.
        """
        solver, time_limit, mip_gap, t0 = self._begin_solve(solver, time_limit, mip_gap)
        T = self.years.size
        n, m = self.cost.shape
        D = self.demand
        cov = coverage_csr(self.cost, self.service_radius)
        reach = cov.getnnz(axis=1) > 0
        anyd = D.max(axis=0) > 0
        unreachable = np.flatnonzero(anyd & ~reach)
        rule_rows, rule_info = self._rule_rows()
        target = self._target(reach)
        active = np.flatnonzero(anyd & reach)
        data, grp = self._reduced(cov, active, rule_rows)
        dg, coo, offer, G = data.dg, data.coo, data.offer, data.dg.shape[1]
        total_d = D.sum(axis=1)
        big_d = float(dg.max()) if dg.size else 1.0
        big_c = float(max(self.site_cost.max(initial=0), self.dc_cost.max(initial=0), self.ac_cost.max(initial=0), 1.0))
        self._scale = (10.0 ** max(0, math.floor(math.log10(max(big_d, 1.0))) - 2),
                       10.0 ** max(0, math.floor(math.log10(big_c)) - 2))
        stats: dict[str, Any] = {"clients": n, "candidates": m, "years": [int(y) for y in self.years],
                                 "reduced_clients": G, "reduced_candidates": int(offer.size),
                                 "pairs": int(coo.nnz), "coverage_rules": rule_info}
        w = self.weights_t
        # ---- myopic plan (year by year), the warm start ----
        start = None
        if T > 1:  # cheap (one LP per year): always kept as the fallback incumbent
            start = self._rounding_start(data, target, total_d)
            if start is not None:
                stats["warm_start_source"] = "lp_rounding"
                stats["start_objective"] = float(self._objective_of(start, data, w))
            elif warm_start:
                try:
                    start = self._myopic(data, solver, None if time_limit is None else time_limit / (2 * T),
                                         mip_gap, total_d, target=target)
                    stats["warm_start_source"] = "myopic"
                    stats["start_objective"] = float(self._objective_of(start, data, w))
                except (InfeasibleError, SolverError) as exc:
                    stats["start_note"] = f"no warm start: {exc}"
        tb = time.perf_counter()
        prob, V = self._build(data, list(range(T)), self.budget, target, total_d, w=w,
                              lo_dc=data.lo_dc, lo_ac=data.lo_ac, open0=data.ex)
        stats["build_s"] = time.perf_counter() - tb
        use_start = warm_start and start is not None and solver == "cbc" and \
            prob.numVariables() <= WARM_START_MAX_COLUMNS
        if use_start:
            for key in ("y", "nd", "na"):
                for t in range(T):
                    for v, val in zip(V[key][t], start[key][t]):
                        if v is not None and not isinstance(v, (int, float)):
                            v.setInitialValue(float(val))
        stats["warm_start"] = bool(use_start)
        tl = time_limit
        if time_limit is not None and T > 1 and warm_start:
            tl = max(time_limit - (time.perf_counter() - t0), time_limit / 2)
        stats["time_limit_s"] = tl
        try:
            outcome = _run(prob, solver, tl, mip_gap, use_start)
        except InfeasibleError:
            if start is None:
                raise InfeasibleError(self._why_infeasible(rule_rows)) from None
            # the start plan satisfies every constraint by construction, so this is a numerical
            # failure of the solver: keep the start, with no proven bound
            stats["solver_note"] = (f"{solver} reported the model infeasible although the start plan is feasible; "
                                    f"the start plan is returned without a proven bound")
            outcome = SolveOutcome(False, math.nan, time.perf_counter() - tb, False, False)
        outcome.bound *= self._scale[0] if self.objective == "max_served" else self._scale[1]
        stats["units"] = {"kwh_per_unit": self._scale[0], "cny_per_unit": self._scale[1]}
        if not outcome.has_solution:
            if start is None:
                raise SolverError("MultiPeriodSiting: the solver stopped without a feasible solution; raise time_limit")
            sol = start
        else:
            sol = self._read(V, data, T)
        obj = float(self._objective_of(sol, data, w))
        if start is not None and outcome.has_solution:
            s_obj = float(self._objective_of(start, data, w))
            better = s_obj > obj + 1e-9 if self.objective == "max_served" else s_obj < obj - 1e-9
            if better:  # the start beat what the solver returned (time limit): keep the better plan
                sol, obj = start, s_obj
        maximize = self.objective == "max_served"
        status, bound, gap, msg = finish_status(outcome, obj, maximize, mip_gap)
        if "solver_note" in stats:
            msg = stats["solver_note"]
        stats["solve_s"] = outcome.seconds
        return self._result(sol, data, status, obj, bound, gap=gap, msg=msg, stats=stats, solver=solver, t0=t0, active=active, grp=grp, unreachable=unreachable)

    def _target(self, reach: np.ndarray) -> np.ndarray | None:
        """Served share each year must reach (``min_cost``): ``target_share``, else just under
        :meth:`servable`; None for ``max_served``.

        Raises:
            InfeasibleError: a target above the share of demand within reach of a candidate,
                or above what the candidates could serve at their maximum ports.
        """
        T, D = self.years.size, self.demand
        target = self.target_share
        if self.objective == "min_cost" and target is None:
            srv = self.servable()
            target = np.divide(srv, D.sum(axis=1), out=np.zeros(T), where=D.sum(axis=1) > 0) * (1 - 1e-4)
        if self.objective == "min_cost" and self.target_share is not None:
            reach_share = np.divide(D[:, reach].sum(axis=1), D.sum(axis=1), out=np.ones(T), where=D.sum(axis=1) > 0)
            bad = np.flatnonzero(self.target_share > reach_share + 1e-9)
            if bad.size:
                t = int(bad[0])
                raise InfeasibleError(
                    f"target share {self.target_share[t]:.3g} in {self.years[t]} is above the {reach_share[t]:.4g} "
                    f"of that year's demand that is within {self.service_radius:g} minutes of any candidate "
                    f"site; lower the target or add candidate sites"
                )
        if self.objective == "min_cost" and self.target_share is not None:
            srv = self.servable()
            srv_share = np.divide(srv, D.sum(axis=1), out=np.ones(T), where=D.sum(axis=1) > 0)
            bad = np.flatnonzero(self.target_share > srv_share * (1 + 1e-9) + 1e-12)
            if bad.size:
                t = int(bad[0])
                raise InfeasibleError(
                    f"target share {self.target_share[t]:.4g} in {self.years[t]} is above the {srv_share[t]:.4g} of that "
                    f"year's demand that the candidate sites could serve even at their maximum ports (max_dc/max_ac); "
                    f"lower the target, raise the port maxima or add candidate sites"
                )
        return target

    def _reduced(self, cov: sp.csr_matrix, active: np.ndarray, rule_rows: list) -> tuple["_Data", np.ndarray]:
        """The model's data: the ``active`` demand points (with demand, in reach) merged by
        identical coverage rows (demand summed per year), the candidates offered (in some row or
        rule, or existing) with their port bounds and costs. Returns (data, group of each
        active point)."""
        T, m, D = self.years.size, self.cost.shape[1], self.demand
        cm = sp.csr_matrix(cov[active])
        reps, grp = merge_identical_rows(cm)
        G = len(reps)
        dg = np.zeros((T, G))
        for t in range(T):
            dg[t] = np.bincount(grp, weights=D[t, active], minlength=G)
        cm = sp.csr_matrix(cm[reps])
        existing = (self.ex_dc + self.ex_ac) > 0
        used = np.zeros(m, dtype=bool)
        used[cm.indices] = True
        for _, js, _ in rule_rows:
            used[js] = True
        offer = np.flatnonzero(used | existing)
        col = np.full(m, -1, dtype=np.int64)
        col[offer] = np.arange(offer.size)
        exp = self.allow_expansion
        lo_dc = np.where(existing, self.ex_dc, 0.0)[offer]
        lo_ac = np.where(existing, self.ex_ac, 0.0)[offer]
        ex_o = existing[offer]
        hi_dc = np.where(existing, np.maximum(self.ex_dc, self.max_dc) if exp else self.ex_dc, self.max_dc)[offer]
        hi_ac = np.where(existing, np.maximum(self.ex_ac, self.max_ac) if exp else self.ex_ac, self.max_ac)[offer]
        coo = cm.tocoo()
        data = _Data(cm=cm, coo=coo, dg=dg, col_of_pair=col[coo.col], offer=offer, ex=ex_o,
                     lo_dc=lo_dc, lo_ac=lo_ac, hi_dc=hi_dc, hi_ac=hi_ac,
                     site_cost=self.site_cost[offer], dc_cost=self.dc_cost[offer], ac_cost=self.ac_cost[offer],
                     rules=[(t, col[js], name) for t, js, name in rule_rows])
        return data, grp

    def servable(self) -> np.ndarray:
        """Most kWh/day each year's demand could get with EVERY candidate at its maximum ports
        (``(T,)``; an LP max-flow over the pairs within the service standard, solved by HiGHS
        through scipy). The default target of ``min_cost`` when ``target_share`` is None."""
        from scipy.optimize import linprog

        self._require_data()
        cov = coverage_csr(self.cost, self.service_radius).tocoo()
        existing = (self.ex_dc + self.ex_ac) > 0
        hi_dc = np.where(existing & ~self.allow_expansion, self.ex_dc, np.maximum(self.ex_dc, self.max_dc))
        hi_ac = np.where(existing & ~self.allow_expansion, self.ex_ac, np.maximum(self.ex_ac, self.max_ac))
        cap = self.cap_dc * hi_dc + self.cap_ac * hi_ac
        n, m = self.cost.shape
        P = cov.nnz
        out = np.zeros(self.years.size)
        if P == 0:
            return out
        A = sp.vstack([sp.csr_matrix((np.ones(P), (cov.row, np.arange(P))), shape=(n, P)),
                       sp.csr_matrix((np.ones(P), (cov.col, np.arange(P))), shape=(m, P))]).tocsr()
        for t in range(self.years.size):
            r = linprog(-np.ones(P), A_ub=A, b_ub=np.concatenate([self.demand[t], cap]), bounds=(0, None),
                        method="highs")
            if r.status != 0:
                raise SolverError(f"servable demand LP failed: {r.message}")
            out[t] = -float(r.fun)
        return out

    # ------------------------------------------------------------------------------------
    def _build(self, data: "_Data", ts: list[int], budget: np.ndarray | None, share: np.ndarray | None,
               total_d: np.ndarray, *, w: np.ndarray, lo_dc: np.ndarray, lo_ac: np.ndarray,
               open0: np.ndarray, budget_offset: float = 0.0) -> tuple[pulp.LpProblem, dict]:
        """The MIP over the year indices ``ts`` with starting ports ``lo_*`` and open sites
        ``open0`` (offered-site arrays); ``budget_offset`` CNY is added to the first budget."""
        maximize = self.objective == "max_served"
        E, C = self._scale  # model units: kWh/day / E and CNY / C (better-conditioned numbers)
        prob = pulp.LpProblem("MultiPeriodSiting", pulp.LpMaximize if maximize else pulp.LpMinimize)
        add_var, add = prob.add_variable, prob.addConstraint
        K = data.offer.size
        coo = data.coo
        V: dict[str, list] = {"y": [], "nd": [], "na": [], "x": []}
        for t in ts:
            V["y"].append([1 if open0[k] else add_var(f"y{k}_{t}", 0, 1, cat=pulp.LpBinary) for k in range(K)])
            V["nd"].append([add_var(f"nd{k}_{t}", float(lo_dc[k]), float(data.hi_dc[k]), cat=pulp.LpInteger)
                            for k in range(K)])
            V["na"].append([add_var(f"na{k}_{t}", float(lo_ac[k]), float(data.hi_ac[k]), cat=pulp.LpInteger)
                            for k in range(K)])
            V["x"].append([add_var(f"x{p}_{t}", 0.0, None) if data.dg[t, coo.row[p]] > 0 else None
                           for p in range(coo.nnz)])
        # cumulative cost expression of each year (CNY since the start of this problem)
        cum: list[list[tuple]] = []
        const: list[float] = []
        for a in range(len(ts)):
            terms, c0 = [], 0.0
            for k in range(K):
                yv = V["y"][a][k]
                if not isinstance(yv, int):
                    terms.append((yv, float(data.site_cost[k]) / C))
                terms.append((V["nd"][a][k], float(data.dc_cost[k]) / C))
                terms.append((V["na"][a][k], float(data.ac_cost[k]) / C))
                c0 -= float(data.dc_cost[k] * lo_dc[k] + data.ac_cost[k] * lo_ac[k]) / C
            cum.append(terms)
            const.append(c0)
        # objective
        if maximize:
            obj = [(x, float(w[t])) for a, t in enumerate(ts) for x in V["x"][a] if x is not None]
            prob += pulp.LpAffineExpression(obj)
        else:
            wts = [float(w[t]) for t in ts] + [0.0]
            obj, c = [], 0.0
            for a in range(len(ts)):
                f = wts[a] - wts[a + 1]  # sum_t w_t (C_t - C_{t-1}) = sum_t C_t (w_t - w_{t+1})
                obj += [(v, f * coef) for v, coef in cum[a]]
                c += f * const[a]
            prob += pulp.LpAffineExpression(obj, constant=c)
        order = np.argsort(coo.row, kind="stable")
        rptr = np.concatenate([[0], np.cumsum(np.bincount(coo.row, minlength=data.cm.shape[0]))])
        corder = np.argsort(data.col_of_pair, kind="stable")
        cptr = np.concatenate([[0], np.cumsum(np.bincount(data.col_of_pair, minlength=K))])
        for a, t in enumerate(ts):
            xs = V["x"][a]
            served_terms = []
            for g in range(data.cm.shape[0]):
                if data.dg[t, g] <= 0:
                    continue
                terms = [(xs[p], 1.0) for p in order[rptr[g]:rptr[g + 1]].tolist()]
                served_terms += terms
                add(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=pulp.LpConstraintLE,
                                      rhs=float(data.dg[t, g]) / E, name=f"d{g}_{t}"))
            for k in range(K):
                terms = [(xs[p], 1.0) for p in corder[cptr[k]:cptr[k + 1]].tolist() if xs[p] is not None]
                nd, na, yv = V["nd"][a][k], V["na"][a][k], V["y"][a][k]
                terms += [(nd, -self.cap_dc / E), (na, -self.cap_ac / E)]
                add(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=pulp.LpConstraintLE, rhs=0.0,
                                      name=f"cap{k}_{t}"))
                if not isinstance(yv, int):
                    add(pulp.LpConstraint(pulp.LpAffineExpression([(nd, 1.0), (yv, -float(data.hi_dc[k]))]),
                                          sense=pulp.LpConstraintLE, rhs=0.0, name=f"od{k}_{t}"))
                    add(pulp.LpConstraint(pulp.LpAffineExpression([(na, 1.0), (yv, -float(data.hi_ac[k]))]),
                                          sense=pulp.LpConstraintLE, rhs=0.0, name=f"oa{k}_{t}"))
                    add(pulp.LpConstraint(pulp.LpAffineExpression([(yv, 1.0), (nd, -1.0), (na, -1.0)]),
                                          sense=pulp.LpConstraintLE, rhs=0.0, name=f"op{k}_{t}"))
                if a > 0:  # never close, never remove ports
                    yp = V["y"][a - 1][k]
                    if not isinstance(yv, int):
                        add(pulp.LpConstraint(pulp.LpAffineExpression([(yp, 1.0), (yv, -1.0)]),
                                              sense=pulp.LpConstraintLE, rhs=0.0, name=f"my{k}_{t}"))
                    add(pulp.LpConstraint(pulp.LpAffineExpression([(V["nd"][a - 1][k], 1.0), (nd, -1.0)]),
                                          sense=pulp.LpConstraintLE, rhs=0.0, name=f"md{k}_{t}"))
                    add(pulp.LpConstraint(pulp.LpAffineExpression([(V["na"][a - 1][k], 1.0), (na, -1.0)]),
                                          sense=pulp.LpConstraintLE, rhs=0.0, name=f"ma{k}_{t}"))
            if share is not None:
                add(pulp.LpConstraint(pulp.LpAffineExpression(served_terms), sense=pulp.LpConstraintGE,
                                      rhs=float(share[t] * total_d[t]) / E * (1 - 1e-9), name=f"share{t}"))
        if budget is not None:
            self._add_budgets(add, ts, budget, cum=cum, const=const, budget_offset=budget_offset)
        # coverage rules: a station open by the rule's year within reach of each place
        for r, (t_rule, ks, _) in enumerate(data.rules):
            for a, t in enumerate(ts):
                if t != t_rule:
                    continue
                ys = [V["y"][a][k] for k in ks.tolist()]
                if any(isinstance(v, int) for v in ys):
                    continue
                add(pulp.LpConstraint(pulp.LpAffineExpression([(v, 1.0) for v in ys]), sense=pulp.LpConstraintGE,
                                      rhs=1.0, name=f"rule{r}"))
        return prob, V

    def _add_budgets(self, add: Callable, ts: list[int], budget: np.ndarray, *, cum: list[list[tuple]], const: list[float],
                     budget_offset: float) -> None:
        """Budget constraints of :meth:`_build` (``add``: the problem's ``addConstraint``):
        each year's spend (``cum``/``const``: the cumulative cost expression of each year, in
        model units) within its budget (CNY), or, with ``carry_over``, the cumulative spend
        within the cumulative budget; ``budget_offset`` CNY is added to the first year's."""
        C = self._scale[1]
        cum_b = budget_offset / C
        for a, t in enumerate(ts):
            if self.carry_over:
                cum_b += float(budget[t]) / C
                if np.isfinite(cum_b):
                    add(pulp.LpConstraint(pulp.LpAffineExpression(cum[a]), sense=pulp.LpConstraintLE,
                                          rhs=cum_b - const[a], name=f"budget{t}"))
            else:
                b = (float(budget[t]) + (budget_offset if a == 0 else 0.0)) / C
                if not np.isfinite(b):
                    continue
                terms = list(cum[a])
                rhs = b - const[a]
                if a > 0:
                    terms += [(v, -coef) for v, coef in cum[a - 1]]
                    rhs += const[a - 1]
                add(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=pulp.LpConstraintLE, rhs=rhs,
                                      name=f"budget{t}"))

    def _rounding_start(self, data: "_Data", target: np.ndarray | None, total_d: np.ndarray) -> dict | None:
        """A feasible plan without a MIP, or None: each year's LP max-flow with every offered
        site at its maximum ports (flows scaled down to the year's target when lower), ports =
        cheapest DC/AC mix holding each site's flow, never fewer than the year before; rule
        places without a station by their year get the cheapest reachable site with one port.
        None when it breaks a budget (then the myopic plan is tried)."""
        from scipy.optimize import linprog

        T = self.years.size
        coo, K = data.coo, data.offer.size
        G, P = data.cm.shape[0], coo.nnz
        if P == 0:
            return None
        kcol = data.col_of_pair
        A = sp.vstack([sp.csr_matrix((np.ones(P), (coo.row, np.arange(P))), shape=(G, P)),
                       sp.csr_matrix((np.ones(P), (kcol, np.arange(P))), shape=(K, P))]).tocsr()
        cap = self.cap_dc * data.hi_dc + self.cap_ac * data.hi_ac
        sol: dict = {"y": [], "nd": [], "na": [], "x": []}
        nd_p, na_p, y_p = data.lo_dc.copy(), data.lo_ac.copy(), data.ex.copy()
        nd_grid = np.arange(int(data.hi_dc.max()) + 1)
        for t in range(T):
            r = linprog(-np.ones(P), A_ub=A, b_ub=np.concatenate([data.dg[t], cap]), bounds=(0, None), method="highs")
            if r.status != 0:
                return None
            x = np.maximum(r.x, 0.0)
            tot = x.sum()
            if target is not None:
                if tot < float(target[t] * total_d[t]) * (1 - 1e-9):
                    return None
                if tot > 0:
                    x = x * min(1.0, float(target[t] * total_d[t]) / tot)
            f = np.bincount(kcol, weights=x, minlength=K) * (1 + 1e-9)
            # cheapest (nd, na) per site with cap_dc*nd + cap_ac*na >= f (nd from 0..hi_dc)
            need_ac = np.ceil(np.maximum(f[:, None] - self.cap_dc * nd_grid[None, :], 0.0)
                              / max(self.cap_ac, 1e-12) - 1e-9) if self.cap_ac > 0 else None
            if need_ac is None:
                nd = np.minimum(np.ceil(f / max(self.cap_dc, 1e-12) - 1e-9), data.hi_dc)
                na = np.zeros(K)
            else:
                ok = (nd_grid[None, :] <= data.hi_dc[:, None]) & (need_ac <= data.hi_ac[:, None])
                c = np.where(ok, nd_grid[None, :] * data.dc_cost[:, None] + need_ac * data.ac_cost[:, None]
                             + 1e-9 * nd_grid[None, :], np.inf)
                best = np.argmin(c, axis=1)
                if not np.isfinite(c[np.arange(K), best]).all():
                    return None
                nd = nd_grid[best].astype(float)
                na = need_ac[np.arange(K), best]
            nd, na = np.maximum(nd, nd_p), np.maximum(na, na_p)
            y = y_p | ((nd + na) > 0)
            for t_rule, ks, _ in data.rules:
                if t_rule == t and not y[ks].any():
                    pc = np.where(data.hi_ac[ks] > 0, data.ac_cost[ks], np.where(data.hi_dc[ks] > 0, data.dc_cost[ks], np.inf))
                    k = int(ks[np.argmin(data.site_cost[ks] + pc)])
                    if data.hi_ac[k] > 0:
                        na[k] = max(na[k], 1.0)
                    else:
                        nd[k] = max(nd[k], 1.0)
                    y[k] = True
            sol["y"].append(y)
            sol["nd"].append(nd)
            sol["na"].append(na)
            sol["x"].append(x)
            nd_p, na_p, y_p = nd, na, y
        if self.budget is not None:
            spend = self._spend(sol, data)
            if self.carry_over:
                if (np.cumsum(spend) > np.cumsum(self.budget) + 1e-6).any():
                    return None
            elif (spend > self.budget + 1e-6).any():
                return None
        return sol

    def _read(self, V: dict, data: "_Data", T: int) -> dict:
        out = {"y": [], "nd": [], "na": [], "x": []}
        for a in range(T):
            out["y"].append(np.array([1.0 if isinstance(v, int) else (v.varValue or 0.0) for v in V["y"][a]]) > 0.5)
            out["nd"].append(np.round(var_values(V["nd"][a])))
            out["na"].append(np.round(var_values(V["na"][a])))
            out["x"].append(np.array([0.0 if v is None else max(v.varValue or 0.0, 0.0) for v in V["x"][a]])
                            * self._scale[0])
        return out

    def _myopic(self, data: "_Data", solver: str, time_limit: float | None, mip_gap: float | None,
                total_d: np.ndarray, *, target: np.ndarray | None) -> dict:
        """Year-by-year plan: each year's single-period optimum given what is already built."""
        T = self.years.size
        lo_dc, lo_ac, open_ = data.lo_dc.copy(), data.lo_ac.copy(), data.ex.copy()
        sol = {"y": [], "nd": [], "na": [], "x": []}
        left = 0.0
        w1 = np.ones(T)
        for t in range(T):
            prob, V = self._build(data, [t], self.budget, target, total_d, w=w1, lo_dc=lo_dc, lo_ac=lo_ac, open0=open_,
                                  budget_offset=left if self.carry_over else 0.0)
            try:
                out = run_solver(prob, solver, time_limit, mip_gap)
            except InfeasibleError:
                raise InfeasibleError(f"myopic plan infeasible in {self.years[t]}") from None
            if not out.has_solution:
                raise SolverError(f"myopic plan: no solution in {self.years[t]}")
            s = self._read(V, data, 1)
            y = s["y"][0] | open_
            nd, na = np.maximum(s["nd"][0], lo_dc), np.maximum(s["na"][0], lo_ac)
            spent = float(((y & ~open_) * data.site_cost).sum() + ((nd - lo_dc) * data.dc_cost).sum()
                          + ((na - lo_ac) * data.ac_cost).sum())
            if self.budget is not None and self.carry_over:
                left = left + float(self.budget[t]) - spent
            sol["y"].append(y)
            sol["nd"].append(nd)
            sol["na"].append(na)
            sol["x"].append(s["x"][0])
            lo_dc, lo_ac, open_ = nd, na, y
        return sol

    def _spend(self, sol: dict, data: "_Data") -> np.ndarray:
        T = len(sol["y"])
        out = np.zeros(T)
        py, pd_, pa = data.ex.copy(), data.lo_dc, data.lo_ac
        for t in range(T):
            y, nd, na = sol["y"][t], sol["nd"][t], sol["na"][t]
            out[t] = float(((y & ~py) * data.site_cost).sum() + ((nd - pd_) * data.dc_cost).sum()
                           + ((na - pa) * data.ac_cost).sum())
            py, pd_, pa = y, nd, na
        return out

    def _objective_of(self, sol: dict, data: "_Data", w: np.ndarray) -> float:
        if self.objective == "max_served":
            served = [min_served(sol["x"][t], data, t).sum() for t in range(len(sol["x"]))]
            return float(np.dot(w, served))
        return float(np.dot(w, self._spend(sol, data)))

    def _why_infeasible(self, rule_rows: list) -> str:
        parts = []
        if rule_rows:
            parts.append(f"the coverage rules ({len(rule_rows)} places to reach by their years)")
        if self.objective == "min_cost":
            parts.append("the target service shares")
        what = " and ".join(parts) or "the plan"
        budget = "the yearly budgets" + (" (with carry-over)" if self.carry_over else "")
        return (f"{what} cannot be met with {budget} and the ports allowed per site within "
                f"{self.service_radius:g} minutes; raise the budgets, max_dc/max_ac, move the rule years later, "
                f"or add candidate sites")

    def _result(self, sol: dict, data: "_Data", status: str, obj: float, bound: float, *, gap: float, msg: str,
                stats: dict, solver: str, t0: float, active: np.ndarray, grp: np.ndarray,
                unreachable: np.ndarray) -> BuildoutResult:
        T = self.years.size
        n, m = self.cost.shape
        offer = data.offer
        existing = (self.ex_dc + self.ex_ac) > 0
        dc = np.zeros((T, m), dtype=np.int64)
        ac = np.zeros((T, m), dtype=np.int64)
        served = np.zeros((T, n))
        open_year = np.full(m, -1, dtype=np.int64)
        site_served = np.zeros((T, m))
        for t in range(T):
            site_served[t] = np.bincount(offer[data.col_of_pair], weights=sol["x"][t], minlength=m)
            y = sol["y"][t]
            dc[t, offer] = np.where(y, sol["nd"][t], 0).astype(np.int64)
            ac[t, offer] = np.where(y, sol["na"][t], 0).astype(np.int64)
            newly = offer[y & (open_year[offer] < 0)]
            open_year[newly] = self.years[t]
            sg = min_served(sol["x"][t], data, t)
            dgt = data.dg[t]
            share = np.divide(sg[grp], dgt[grp], out=np.zeros(len(grp)), where=dgt[grp] > 0)
            served[t, active] = self.demand[t, active] * share
        open_year[existing] = self.years[0]
        selected = np.flatnonzero(open_year >= 0).astype(np.int64)
        # assignment of the last year: the site with the largest flow (ties lowest index)
        assignment = np.full(n, -1, dtype=np.int64)
        xv = sol["x"][T - 1]
        coo = data.coo
        pos = xv > 1e-9
        if pos.any():
            gr, sc, fv = coo.row[pos], offer[data.col_of_pair[pos]], xv[pos]
            o = np.lexsort((sc, -fv, gr))
            gr, sc = gr[o], sc[o]
            first = np.ones(gr.size, dtype=bool)
            first[1:] = gr[1:] != gr[:-1]
            best = np.full(data.cm.shape[0], -1, dtype=np.int64)
            best[gr[first]] = sc[first]
            assignment[active] = best[grp]
            assignment[served[T - 1] <= 1e-9] = -1
        spend = self._spend(sol, data)
        dtot = self.demand.sum(axis=1)
        stot = served.sum(axis=1)
        d_last = self.demand[T - 1]
        covered = (d_last - served[T - 1] <= 1e-6 * np.maximum(d_last, 1.0)) & (d_last > 0)
        return BuildoutResult(
            self.name, status, obj, float(bound), float(gap), selected, assignment, time.perf_counter() - t0,
            solver, covered, msg, stats,
            years=self.years.copy(), open_year=open_year, existing=existing, dc_ports=dc, ac_ports=ac,
            served=served, served_total=stot, demand_total=dtot,
            served_share=np.divide(stot, dtot, out=np.zeros(T), where=dtot > 0), spend=spend, site_served=site_served,
            total_cost=float(spend.sum()), unreachable=unreachable,
        )


@dataclass
class _Data:
    cm: sp.csr_matrix
    coo: sp.coo_matrix
    dg: np.ndarray
    col_of_pair: np.ndarray
    offer: np.ndarray
    ex: np.ndarray
    lo_dc: np.ndarray
    lo_ac: np.ndarray
    hi_dc: np.ndarray
    hi_ac: np.ndarray
    site_cost: np.ndarray
    dc_cost: np.ndarray
    ac_cost: np.ndarray
    rules: list


def min_served(x: np.ndarray, data: _Data, t: int) -> np.ndarray:
    """kWh/day served per merged demand group in year index ``t`` (flows capped at demand)."""
    G = data.cm.shape[0]
    return np.minimum(np.bincount(data.coo.row, weights=x, minlength=G), data.dg[t])


def _run(prob: pulp.LpProblem, solver: str, time_limit: float | None, mip_gap: float | None,
         warm: bool) -> SolveOutcome:
    """:func:`evsiting.models._core.run_solver`, with CBC's MIP start from the variables'
    initial values when ``warm``; a CBC time-out without a solution is reported as
    ``has_solution=False``, not as infeasible."""
    return run_solver(prob, solver, time_limit, mip_gap, warm_start=warm and solver == "cbc")
