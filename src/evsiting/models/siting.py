"""Capacitated charger siting with modular DC/AC ports, existing stations and a budget.

Decision per candidate site ``j``: open it (binary ``y_j``) and install integer DC ports
``nd_j`` and AC ports ``na_j`` (bounded by per-site maxima). Each demand point ``i`` has a daily
energy demand ``d_i`` (kWh/day) that may only be served by open sites within the service
standard (``cost[i, j] <= service_radius`` minutes) and only up to site capacity
``dc_capacity_kwh * nd_j + ac_capacity_kwh * na_j`` (kWh/day); ``x_ij >= 0`` is the energy
of ``i`` served at ``j``. Cost (CNY) = fixed site cost of each NEW open site + port cost per
NEW port. Existing stations (``existing_dc``/``existing_ac`` > 0) are open with their ports
fixed (or kept as a minimum with ``allow_expansion=True``) and cost nothing.

Objectives:

- ``"max_served"``: maximise served kWh/day subject to ``cost <= budget``;
- ``"min_cost"``: minimise cost subject to serving ALL reachable demand (and the budget,
  if one is given).

Demand points with no candidate within the radius are reported as unreachable and unserved.
Reductions: zero-demand and unreachable points are dropped, points with identical reachable
site sets are merged (demands summed, served energy split back proportionally), and sites that
reach no demand are not offered (unless existing or required).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pulp
import scipy.sparse as sp

from evsiting.core.errors import InfeasibleError, InputError, SolverError
from evsiting.models._core import (
    LocationResult,
    _listing,
    _Model,
    binary_vars,
    check_limits,
    check_solver,
    continuous_vars,
    coverage_csr,
    finish_status,
    merge_identical_rows,
    run_solver,
    var_values,
)
from evsiting.models.coverage import _check_radius

OBJECTIVES = ("max_served", "min_cost")


@dataclass
class SitingResult(LocationResult):
    """Result of :class:`ChargerSiting` (all arrays in original indices).

    Extra attributes:
        dc_ports, ac_ports: ``(n_candidates,)`` int ports per site (existing included).
        served, unserved: ``(n_clients,)`` kWh/day served / not served per demand point.
        served_total, unserved_total: kWh/day.
        total_cost: CNY spent on new sites and ports.
        unreachable: indices of demand points with no candidate within the radius.
    """

    dc_ports: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ac_ports: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    served: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unserved: np.ndarray = field(default_factory=lambda: np.zeros(0))
    served_total: float = 0.0
    unserved_total: float = 0.0
    total_cost: float = 0.0
    unreachable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _per_site(value: Any, m: int, name: str, integer: bool = False) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(m, float(arr))
    arr = arr.reshape(-1)
    if arr.shape[0] != m:
        raise InputError(f"{name} must be a scalar or have one value per candidate ({m})", field=name)
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise InputError(f"{name} must be finite and non-negative", field=name)
    if integer and not np.all(arr == np.round(arr)):
        raise InputError(f"{name} must be whole numbers of ports", field=name)
    return arr


def _set_port_args(mdl: Any, m: int, max_dc, max_ac, dc_capacity_kwh, ac_capacity_kwh, site_cost,
                   dc_port_cost, ac_port_cost, existing_dc, existing_ac, allow_expansion) -> None:
    """Check and set the per-site port, capacity (kWh/day per port) and cost (CNY) arguments
    shared by :class:`ChargerSiting` and the multi-period build-out model.

    Raises:
        InputError: a value that is not a scalar or one per candidate, negative, or not whole
            where ports are counted.
    """
    mdl.max_dc = _per_site(max_dc, m, "max_dc", True)
    mdl.max_ac = _per_site(max_ac, m, "max_ac", True)
    mdl.cap_dc = float(dc_capacity_kwh)
    mdl.cap_ac = float(ac_capacity_kwh)
    if not (mdl.cap_dc >= 0 and mdl.cap_ac >= 0):
        raise InputError("port capacities must be non-negative kWh/day")
    mdl.site_cost = _per_site(site_cost, m, "site_cost")
    mdl.dc_cost = _per_site(dc_port_cost, m, "dc_port_cost")
    mdl.ac_cost = _per_site(ac_port_cost, m, "ac_port_cost")
    mdl.ex_dc = _per_site(0 if existing_dc is None else existing_dc, m, "existing_dc", True)
    mdl.ex_ac = _per_site(0 if existing_ac is None else existing_ac, m, "existing_ac", True)
    mdl.allow_expansion = bool(allow_expansion)


class ChargerSiting(_Model):
    """Capacitated EV charger siting with integer DC and AC ports per site (see module doc).

    Args:
        service_radius: service standard in minutes.
        objective: ``"max_served"`` (needs ``budget``) or ``"min_cost"``.
        budget: CNY available for new sites and ports (None = unlimited; only for min_cost).
    """

    name = "ChargerSiting"

    def __init__(self, service_radius: float, objective: str = "max_served", budget: float | None = None):
        super().__init__()
        self.service_radius = _check_radius(service_radius)
        if objective not in OBJECTIVES:
            raise InputError(f"objective must be one of {OBJECTIVES}, got {objective!r}", field="objective")
        if objective == "max_served" and budget is None:
            raise InputError("objective 'max_served' needs a budget in CNY", field="budget")
        if budget is not None and not (np.isfinite(budget) and budget >= 0):
            raise InputError("budget must be a finite non-negative number of CNY", field="budget")
        self.objective = objective
        self.budget = None if budget is None else float(budget)

    @classmethod
    def from_cost_matrix(cls, cost: Any, demand_kwh: Any, service_radius: float = 15.0, *,
                         objective: str = "max_served", budget: float | None = None,
                         max_dc: Any = 10, max_ac: Any = 10,
                         dc_capacity_kwh: float = 600.0, ac_capacity_kwh: float = 80.0,
                         site_cost: Any = 0.0, dc_port_cost: Any = 0.0, ac_port_cost: Any = 0.0,
                         existing_dc: Any = None, existing_ac: Any = None,
                         allow_expansion: bool = False, required: Any = None) -> "ChargerSiting":
        """Build the model.

        Args:
            cost: ``(n_clients, n_candidates)`` minutes; dense (``np.inf`` = unreachable) or
                scipy.sparse (absent = unreachable).
            demand_kwh: ``(n_clients,)`` daily energy demand, kWh/day, non-negative.
            service_radius: minutes; demand is only served within it.
            objective, budget: see class doc; budget in CNY.
            max_dc, max_ac: maximum ports per site (scalar or ``(n_candidates,)``).
            dc_capacity_kwh, ac_capacity_kwh: energy one port delivers per day, kWh/day.
            site_cost: fixed CNY to open a new site (scalar or per site).
            dc_port_cost, ac_port_cost: CNY per new port (scalar or per site).
            existing_dc, existing_ac: ``(n_candidates,)`` ports already installed; a site with any
                is an existing station: open, cost-free, ports fixed.
            allow_expansion: let existing stations add ports (existing ones stay, new ones cost).
            required: candidate indices that must be opened as new stations (cost counted).

        Raises:
            InputError: malformed inputs.
        """
        mdl = cls(service_radius, objective, budget)
        mdl._attach(cost, demand_kwh, required)
        m = mdl.n_candidates
        _set_port_args(mdl, m, max_dc, max_ac, dc_capacity_kwh, ac_capacity_kwh, site_cost,
                       dc_port_cost, ac_port_cost, existing_dc, existing_ac, allow_expansion)
        return mdl

    @classmethod
    def from_geodataframe(cls, demand_gdf: Any, candidates_gdf: Any, cost: Any,
                          demand_col: str = "kwh_day", service_radius: float = 15.0, **kwargs: Any
                          ) -> "ChargerSiting":
        """Build from GeoDataFrames; ``demand_col`` of ``demand_gdf`` holds kWh/day. Keyword
        arguments as in :meth:`from_cost_matrix`; per-site ones may also be column names of
        ``candidates_gdf`` (e.g. ``max_dc="max_dc"``, ``existing_dc="dc_ports"``)."""
        n, m = len(demand_gdf), len(candidates_gdf)
        if tuple(cost.shape) != (n, m):
            raise InputError(f"cost matrix shape {tuple(cost.shape)} does not match {n} demand points x "
                             f"{m} candidates", field="cost")
        if demand_col not in demand_gdf.columns:
            raise InputError(f"demand has no column '{demand_col}'", field=demand_col)
        for key in ("max_dc", "max_ac", "site_cost", "dc_port_cost", "ac_port_cost",
                    "existing_dc", "existing_ac"):
            v = kwargs.get(key)
            if isinstance(v, str):
                if v not in candidates_gdf.columns:
                    raise InputError(f"candidates have no column '{v}'", field=v)
                kwargs[key] = candidates_gdf[v].fillna(0).to_numpy(dtype=float)
        return cls.from_cost_matrix(cost, demand_gdf[demand_col].to_numpy(dtype=float),
                                    service_radius, **kwargs)

    def solve(self, solver: str = "cbc", time_limit: float | None = None,
              mip_gap: float | None = None) -> SitingResult:
        """Solve to proven optimality (or until ``time_limit`` seconds / ``mip_gap``).

        Returns:
            SitingResult: ``objective`` is kWh/day served (max_served) or CNY (min_cost);
            ``assignment`` is the site serving most of each point's energy (ties lowest
            index) or -1; ``covered`` marks points served in full.

        Raises:
            InfeasibleError: budget below the required stations' minimum cost; for min_cost,
                demand points whose reachable sites cannot hold enough ports (listed), or ports
                and budget insufficient in aggregate.
            SolverError: solver not available, failed, or found no solution in time.
        """
        self._require_data()
        solver = check_solver(solver)
        time_limit, mip_gap = check_limits(time_limit, mip_gap)
        t0 = time.perf_counter()
        n, m = self.cost.shape
        d = self.weights
        cov = coverage_csr(self.cost, self.service_radius)
        reach = cov.getnnz(axis=1) > 0
        unreachable = np.flatnonzero((d > 0) & ~reach)
        existing = (self.ex_dc + self.ex_ac) > 0
        req = np.setdiff1d(self.required, np.flatnonzero(existing))
        exp = self.allow_expansion
        # port bounds: existing fixed (or minimum), new sites 0..max
        lo_dc = np.where(existing, self.ex_dc, 0.0)
        lo_ac = np.where(existing, self.ex_ac, 0.0)
        hi_dc = np.where(existing, np.maximum(self.ex_dc, self.max_dc) if exp else self.ex_dc, self.max_dc)
        hi_ac = np.where(existing, np.maximum(self.ex_ac, self.max_ac) if exp else self.ex_ac, self.max_ac)
        cap_site = self.cap_dc * hi_dc + self.cap_ac * hi_ac
        # cheapest possible new required stations (site + one cheapest usable port)
        port_min = np.where(hi_dc > 0, self.dc_cost, np.inf)
        port_min = np.minimum(port_min, np.where(hi_ac > 0, self.ac_cost, np.inf))
        req_cost = float((self.site_cost[req] + np.where(np.isfinite(port_min[req]), port_min[req], 0)).sum())
        if self.budget is not None and req_cost > self.budget + 1e-9:
            raise InfeasibleError(
                f"budget {self.budget:,.0f} CNY is below the {req_cost:,.0f} CNY needed to open the "
                f"{len(req)} required new stations; raise the budget or drop required sites"
            )
        bad_req = req[~np.isfinite(port_min[req])]
        if bad_req.size:
            raise InfeasibleError(f"{_listing(bad_req, 'required sites')} allow no ports (max_dc = max_ac = 0)")
        active = np.flatnonzero((d > 0) & reach)
        cm = sp.csr_matrix(cov[active])
        reps, grp = merge_identical_rows(cm)
        dg = np.bincount(grp, weights=d[active], minlength=len(reps))
        cm = sp.csr_matrix(cm[reps])
        if self.objective == "min_cost":
            # each merged point alone must fit into the ports reachable from it
            reach_cap = cm.astype(np.float64) @ cap_site
            short = np.flatnonzero(reach_cap < dg - 1e-9)
            if short.size:
                pts = np.flatnonzero(np.isin(grp, short))
                raise InfeasibleError(
                    f"{_listing(active[pts])} have more demand than the maximum ports of all sites "
                    f"within {self.service_radius:g} minutes can serve; raise max_dc/max_ac or add "
                    f"candidate sites near them"
                )
        used = np.zeros(m, dtype=bool)
        used[cm.indices] = True
        offer = np.flatnonzero(used | existing | np.isin(np.arange(m), req))
        new = offer[~existing[offer]]
        col = np.full(m, -1, dtype=np.int64)
        col[offer] = np.arange(offer.size)
        stats = {"clients": n, "candidates": m, "reduced_clients": int(cm.shape[0]),
                 "reduced_candidates": int(offer.size)}
        # ---------------- build ----------------
        tb = time.perf_counter()
        maximize = self.objective == "max_served"
        prob = pulp.LpProblem("ChargerSiting", pulp.LpMaximize if maximize else pulp.LpMinimize)
        y = binary_vars(prob, "y", new.size)
        ynew = {int(j): y[k] for k, j in enumerate(new.tolist())}
        nd = [prob.add_variable(f"nd{k}", float(lo_dc[j]), float(hi_dc[j]), cat=pulp.LpInteger)
              for k, j in enumerate(offer.tolist())]
        na = [prob.add_variable(f"na{k}", float(lo_ac[j]), float(hi_ac[j]), cat=pulp.LpInteger)
              for k, j in enumerate(offer.tolist())]
        coo = cm.tocoo()
        x = continuous_vars(prob, "x", coo.nnz, 0.0, None)
        # cost expression (CNY), constant removed for existing ports
        cost_terms = [(ynew[j], float(self.site_cost[j])) for j in new.tolist()]
        cost_terms += [(nd[k], float(self.dc_cost[j])) for k, j in enumerate(offer.tolist())]
        cost_terms += [(na[k], float(self.ac_cost[j])) for k, j in enumerate(offer.tolist())]
        const_cost = -float((self.dc_cost[offer] * lo_dc[offer] * existing[offer]).sum()
                            + (self.ac_cost[offer] * lo_ac[offer] * existing[offer]).sum())
        cost_expr = pulp.LpAffineExpression(cost_terms, constant=const_cost)
        if maximize:
            prob += pulp.LpAffineExpression(zip(x, [1.0] * len(x)))
        else:
            prob += cost_expr
        # demand rows
        order = np.argsort(coo.row, kind="stable")
        rows_ptr = np.concatenate([[0], np.cumsum(np.bincount(coo.row, minlength=cm.shape[0]))])
        sense_d = pulp.LpConstraintLE if maximize else pulp.LpConstraintEQ
        add = prob.addConstraint
        for g in range(cm.shape[0]):
            ks = order[rows_ptr[g]:rows_ptr[g + 1]].tolist()
            add(pulp.LpConstraint(pulp.LpAffineExpression([(x[k], 1.0) for k in ks]), sense=sense_d,
                                  rhs=float(dg[g]), name=f"d{g}"))
        # capacity per offered site
        ccol = col[coo.col]
        corder = np.argsort(ccol, kind="stable")
        cptr = np.concatenate([[0], np.cumsum(np.bincount(ccol, minlength=offer.size))])
        for k, j in enumerate(offer.tolist()):
            ks = corder[cptr[k]:cptr[k + 1]].tolist()
            terms = [(x[t], 1.0) for t in ks]
            terms += [(nd[k], -self.cap_dc), (na[k], -self.cap_ac)]
            add(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=pulp.LpConstraintLE, rhs=0.0,
                                  name=f"cap{k}"))
            if j in ynew:
                yv = ynew[j]
                add(pulp.LpConstraint(pulp.LpAffineExpression([(nd[k], 1.0), (yv, -float(hi_dc[j]))]),
                                      sense=pulp.LpConstraintLE, rhs=0.0, name=f"od{k}"))
                add(pulp.LpConstraint(pulp.LpAffineExpression([(na[k], 1.0), (yv, -float(hi_ac[j]))]),
                                      sense=pulp.LpConstraintLE, rhs=0.0, name=f"oa{k}"))
                add(pulp.LpConstraint(pulp.LpAffineExpression([(yv, 1.0), (nd[k], -1.0), (na[k], -1.0)]),
                                      sense=pulp.LpConstraintLE, rhs=0.0, name=f"op{k}"))
        # strong linking: a point's energy can only go to an open new site
        for t, (g, j) in enumerate(zip(coo.row.tolist(), offer[ccol].tolist())):
            yv = ynew.get(j)
            if yv is not None:
                lim = min(float(dg[g]), float(cap_site[j]))
                add(pulp.LpConstraint(pulp.LpAffineExpression([(x[t], 1.0), (yv, -lim)]),
                                      sense=pulp.LpConstraintLE, rhs=0.0, name=f"l{t}"))
        for j in req.tolist():
            add(pulp.LpConstraint(pulp.LpAffineExpression([(ynew[j], 1.0)]), sense=pulp.LpConstraintEQ,
                                  rhs=1.0, name=f"req{j}"))
        if self.budget is not None:
            add(pulp.LpConstraint(pulp.LpAffineExpression(cost_terms), sense=pulp.LpConstraintLE,
                                  rhs=self.budget - const_cost, name="budget"))
        stats["build_s"] = time.perf_counter() - tb
        try:
            outcome = run_solver(prob, solver, time_limit, mip_gap)
        except InfeasibleError:
            why = "the budget and the ports allowed" if self.budget is not None else "the ports allowed"
            raise InfeasibleError(
                f"{why} within {self.service_radius:g} minutes cannot serve all reachable demand "
                f"({dg.sum():,.0f} kWh/day); raise the budget, max_dc/max_ac, or add candidate sites"
            ) from None
        if not outcome.has_solution:
            raise SolverError("ChargerSiting: the solver stopped without a feasible solution; raise time_limit")
        # ---------------- read back ----------------
        yv = var_values(y) > 0.5
        ndv = np.round(var_values(nd))
        nav = np.round(var_values(na))
        xv = np.maximum(var_values(x), 0.0)
        dc_ports = np.zeros(m, dtype=np.int64)
        ac_ports = np.zeros(m, dtype=np.int64)
        dc_ports[offer] = ndv.astype(np.int64)
        ac_ports[offer] = nav.astype(np.int64)
        open_ = existing.copy()
        open_[new[yv]] = True
        dc_ports[~open_] = 0
        ac_ports[~open_] = 0
        selected = np.flatnonzero(open_).astype(np.int64)
        # served per merged group -> original points (proportional split)
        served_g = np.minimum(np.bincount(coo.row, weights=xv, minlength=cm.shape[0]), dg)
        served = np.zeros(n)
        share = np.divide(served_g[grp], dg[grp], out=np.zeros(len(grp)), where=dg[grp] > 0)
        served[active] = d[active] * share
        unserved = d - served
        # assignment: site with the largest flow for the point's group (ties lowest index)
        assignment = np.full(n, -1, dtype=np.int64)
        pos = xv > 1e-9
        if pos.any():
            gr, sc, fv = coo.row[pos], offer[ccol[pos]], xv[pos]
            o = np.lexsort((sc, -fv, gr))
            gr, sc = gr[o], sc[o]
            firstm = np.ones(gr.size, dtype=bool)
            firstm[1:] = gr[1:] != gr[:-1]
            best = np.full(cm.shape[0], -1, dtype=np.int64)
            best[gr[firstm]] = sc[firstm]
            assignment[active] = best[grp]
            assignment[served <= 1e-9] = -1
        total_cost = float((self.site_cost * (open_ & ~existing)).sum()
                           + (self.dc_cost * (dc_ports - np.where(existing, lo_dc, 0))).sum()
                           + (self.ac_cost * (ac_ports - np.where(existing, lo_ac, 0))).sum())
        served_total = float(served.sum())
        obj = served_total if maximize else total_cost
        status, bound, gap, msg = finish_status(outcome, obj, maximize, mip_gap)
        stats["solve_s"] = outcome.seconds
        covered = (unserved <= 1e-6 * np.maximum(d, 1.0)) & (d > 0)
        return SitingResult(
            self.name, status, obj, float(bound), float(gap), selected, assignment,
            time.perf_counter() - t0, solver, covered, msg, stats,
            dc_ports=dc_ports, ac_ports=ac_ports, served=served, unserved=unserved,
            served_total=served_total, unserved_total=float(unserved.sum()), total_cost=total_cost,
            unreachable=unreachable,
        )
