"""Capacitated charger siting: least capital cost (CNY) serving all reachable public charging energy.

The default model of ``evsiting run``. Each candidate site ``j`` may hold up to
``max_stations[j]`` stations (a demand-cell candidate is an area of a few km² with many car
parks; a point from a planner's file is one station); every station holds at most
``max_dc_ports`` DC fast and ``max_ac_ports`` AC level-2 ports. Integer ports serve energy
(kWh/day) of the demand points within the service standard: the DC part of a point's energy
(``dc_energy_kwh_day``) only at DC ports, the rest at AC or DC ports; each point sends the same
DC share to every station it uses. Existing stations (``existing_dc``/``existing_ac``) are
open, their ports count toward capacity and cost nothing; ports may be added to them up to the
station maxima. Costs: site cost per new station, port cost per new port, and optionally an
allocation cost ``allocation_cny_per_kwh_min`` per kWh/day and minute of travel (the value
of drivers' time), with which the model prefers nearer stations among plans of equal capital
cost (and classic capacitated facility location is a special case). With ``budget_cny`` the
model first finds the least-cost plan serving all the energy the sites within reach hold; if
that plan fits the budget, the budget does not bind and that plan is the answer (it serves the
proven most energy, and among plans serving it, it is the cheapest within its proven gap);
otherwise the model maximises the energy served within the budget, and the rest is reported
unserved. ``stats["budget_binds"]`` says which. A per-site total of ports
(``max_site_dc_ports``/``max_site_ac_ports``) restricts a site to what a later year of a staged
plan holds there (:mod:`evsiting.models.nested`).

Exact method (:meth:`CapacitatedSiting.solve`), see :mod:`evsiting.models._cflp` for the rows:

1. **Presolve**: points without energy or without a site in reach are set aside (reported as
   unreachable); sites reaching no energy are dropped unless existing or required.
2. **Feasibility**: a max-flow LP with every station open at its maxima gives the energy the
   sites within reach can hold at all; energy beyond it is reported unserved (``short``), and
   the model serves exactly the rest.
3. **Bound**: the LP relaxation of the strong formulation (flow-to-station linking and DC-port
   linking rows) gives a proven lower bound. With allocation cost on more than
   :data:`LP_PAIRS_MAX` pairs, or when the LP does not finish within 60 % of the time left,
   steps 3-5 are the Lagrangian path instead (:mod:`evsiting.models._cflp_lr`, from the same
   start plan).
4. **Incumbent**: first a feasible start plan (:mod:`evsiting.models._cflp_start`: integer
   port maxima at the LP's stations rounded up, and dynamic slope scaling from the LP's site
   rates, each routed by an LP and trimmed), so that every later step only improves on a plan
   and the solve never ends without one; then a MIP restricted to the LP's support: each site may open at most its LP
   stations rounded up (and may close), with integer ports and flows; it stops as soon as its
   plan is within ``mip_gap`` of the LP bound. A feasible plan usually within a few tenths of a
   percent of the bound.
5. **Proof**: when that gap is within ``mip_gap`` the result is returned (status
   ``feasible`` with the proven gap, ``optimal`` when it is zero); otherwise HiGHS's
   branch-and-bound runs on the full model from the incumbent for the remaining time. With
   allocation cost, priced ports, no power limit and at most :data:`LAGRANGIAN_POINTS_MAX`
   demand points, steps 4'-5' below run instead (from the LP's duals, bound and incumbent),
   and the sub-MIP of step 4 gets a quarter of the time left instead of half.

With allocation cost on an instance whose strong LP is too large to solve in time (more than
:data:`LP_PAIRS_MAX` pairs), steps 3-5 are replaced (:mod:`evsiting.models._cflp_lr`):

3'. **Lagrangian bound**: the demand rows relaxed, per-site continuous knapsacks and a 0-1
    covering knapsack over stations (Görtz and Klose 2012), subgradient optimisation; where
    ports are priced, each site's subproblem keeps its DC and AC ports integer;
4'. **Lagrangian heuristic**: the stations of the relaxed solutions fixed (ports and flows
    free), then a MIP on the sites they open (closing allowed); without a power limit, then
    the station search of :mod:`evsiting.models._cflp_search` from the best plan;
5'. **Penalty fixing and proof**: sites whose forced opening (closing) lifts the bound above the
    incumbent less the target gap are closed (opened), and HiGHS's branch-and-bound runs on the
    fixed model, with the aggregate capacity row, from the incumbent for the remaining time.

With allocation cost where no port costs anything and there is no power limit (classic
capacitated facility location: the OR-Library and CST instances), steps 3-5 are the Lagrangian
branch-and-bound of :mod:`evsiting.models._cflp_bb` (Görtz and Klose 2012): the same relaxation
as 3', re-optimised at every node of a depth-first tree over the stations per site, penalty
fixing at every node, branching on the averaged relaxed stations, leaves routed exactly; no LP.

With ``max_station_kw`` a site's ports obey ``dc_port_kw nd + ac_port_kw na <= max_station_kw
x stations`` (a grid connection per station).

The status is ``optimal`` only when the gap is proven zero (within 1e-9 relative).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from evsiting.core.errors import InfeasibleError, InputError, SolverError
from evsiting.models._cflp import MatrixCopy, Instance, build, solve_highs
from evsiting.models._cflp_bb import branch_and_bound, ports_free
from evsiting.models._cflp_lr import integer_ports, lagrangian_solve
from evsiting.models._cflp_search import improve_plan
from evsiting.models._cflp_start import flow_plan, max_ports, start_plan
from evsiting.models._core import LocationResult, _Model, check_limits, check_per_site, check_solver, check_standard, pair_within


@dataclass
class CapacitatedResult(LocationResult):
    """Result of :class:`CapacitatedSiting` (arrays in the ORIGINAL indices).

    Extra attributes:
        stations: ``(n_candidates,)`` int stations at each site (existing ones count 1).
        dc_ports, ac_ports: ``(n_candidates,)`` int ports in total (existing included).
        dc_added, ac_added: ``(n_candidates,)`` int ports to install (new ports only).
        flows: CSR ``(n_clients, n_candidates)`` kWh/day of each point served at each site.
        served, unserved: ``(n_clients,)`` kWh/day.
        unreachable: indices of points with energy and no site within the standard.
        short: ``(n_clients,)`` kWh/day that the sites within reach cannot hold even at their
            maxima (or, with a budget, that the budget leaves unserved).
        capital_cny: cost of new stations and ports; travel_cny: allocation cost.
        lp_bound: the LP bound (objective sense).
    """

    stations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dc_ports: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ac_ports: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dc_added: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ac_added: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    flows: sp.csr_matrix | None = None
    served: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unserved: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unreachable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    short: np.ndarray = field(default_factory=lambda: np.zeros(0))
    capital_cny: float = 0.0
    travel_cny: float = 0.0
    lp_bound: float = math.nan


@dataclass
class Reduced:
    """The reduced instance of :meth:`CapacitatedSiting.reduce`.

    Attributes:
        instance: the :class:`~evsiting.models._cflp.Instance` on the kept points and sites,
            energy capped at what the sites within reach can hold.
        rows, cols: original indices of its demand points and sites.
        unreachable: points with energy and no site within the standard.
        short: ``(n_clients,)`` kWh/day beyond what the sites within reach can hold.
        stats: sizes and the feasibility step's seconds.
    """

    instance: Instance
    rows: np.ndarray
    cols: np.ndarray
    unreachable: np.ndarray
    short: np.ndarray
    stats: dict


#: with allocation cost, the strong LP path (steps 3-5) runs up to this many pairs, the
#: Lagrangian path above it (and whenever the LP does not finish within 60 % of the time left).
#: Measured here (2 cores, 2026-12-07, province default with urban zones and access cost, 102,832
#: pairs): the LP path proved 0.26 % in 351 s, the Lagrangian path 1.40 % at 333 s (its
#: relaxation prices DC/AC ports at continuous rates); the strong LP of a 100 x 1,000 CFLP
#: (100,000 pairs) alone took 153 s, so such an instance falls back to the Lagrangian path
LP_PAIRS_MAX = 150000
#: HiGHS's method for the strong LP (step 3): the interior point method solved Anshun's with
#: access cost and the power limit (13,066 pairs) in 13.5 s against 21.6 s by dual simplex
#: (HiGHS's choice; 2 loaded cores, 2026-12-07); the small routing LPs stay with simplex
STRONG_LP_METHOD = "ipm"
#: on the Lagrangian path without a power limit, up to :data:`LAGRANGIAN_POINTS_MAX` demand
#: points, the station search of :func:`~evsiting.models._cflp_search.improve_plan` runs after
#: the subgradient rounds (with a power limit the start plan runs it already). Guiyang with ``allocation_cny_per_kwh_min: 1.0``
#: (2026-12-07, load 4-5): the plan 741.0 -> 735.6 M CNY in 60 s, 735.2 M in 300 s
POLISH_LAGRANGIAN = True
#: with allocation cost, priced ports and no power limit, when step 4's incumbent is not within
#: the target gap, the Lagrangian path (steps 3'-5' from the LP's duals, bound and incumbent:
#: integer ports in each site's subproblem, the station search, fixing and HiGHS on the fixed
#: model) replaces HiGHS's branch-and-bound on the full model, up to this many demand points.
#: The Lagrangian path alone, measured 2026-12-07 (2 cores, load 3-4, 60 s, against steps 3-5):
#: Anshun with allocation_cny_per_kwh_min 1.0, proven 0.23 % in 7.6 s against 0.71 % at the
#: limit; Guiyang (zone standards) with 1.0, 0.39 % in 37 s against 0.61 % at the limit; Guiyang
#: at a 15-min standard with 1.0 (110,133 pairs), 1.69 % against 2.58 %; the default access cost
#: (56 CNY per kWh/day and minute): Anshun 0.085 % in 10 s against 0.058 % in 14 s, Guiyang
#: 0.41 % in 38 s against 0.50 % in 9 s (both within the 0.5 % target, the Lagrangian plans
#: 0.06 % cheaper on Guiyang, 0.05 % dearer on Anshun). The province default (42,267 points)
#: stays on steps 3-5, where it was measured (0.26 % in 351 s against 1.40 % at 333 s for the
#: Lagrangian path with continuous port rates). 0 = never (the method before)
LAGRANGIAN_POINTS_MAX = 10000
#: ... and at least this many demand-site pairs: below it HiGHS's branch-and-bound on the full
#: model proves the target in about a second, and the subgradient rounds with integer ports are
#: the slower way (a robust plan's 89-pair instances: 55 s against 1.8 s in all; a sensitivity
#: test's 1,384-2,235 pairs: 19.6 s against 6.5 s; measured 2026-12-07). Guiyang with zone
#: standards has 7,511 pairs, Anshun more.
LAGRANGIAN_PAIRS_MIN = 5000
#: share of the time left that step 4's sub-MIP may take when the Lagrangian steps would follow
#: it (:meth:`CapacitatedSiting._lagrangian_after_lp`; otherwise half, the rest being HiGHS's)
SUB_MIP_SHARE_LAGRANGIAN = 0.25
#: share of the time left that the strong LP may take there (otherwise 60 %): Guiyang at a
#: 15-min standard with allocation 1.0 (110,133 pairs), whose LP did not finish in 287 s at load
#: 3-6, keeps 70 % of the time for the Lagrangian path (prefectures' LPs take 1-2 s)
LP_SHARE_LAGRANGIAN = 0.3


def _short_message(gap: float, gap_target: float, stats: dict) -> str:
    """The result's message when a solve ends: empty at or below ``gap_target``; above it, "time
    limit reached" only when a step was stopped by the clock (``stats["time_limited_steps"]``),
    else that the method ended short of the target without a time limit (a restricted solve
    of a plan or a build-out year, say, whose HiGHS run proves its own smaller model): such a
    plan is still the same on every run, so :func:`evsiting.stages.s5_model.determinism`
    must not read it as clock-dependent."""
    if gap <= gap_target:
        return ""
    if stats.get("time_limited_steps"):
        return f"time limit reached; best plan kept, relative gap {gap:.4g}"
    return f"the method ended above the gap target on its own (no step ran out of time); best plan kept, relative gap {gap:.4g}"


class CapacitatedSiting(_Model):
    """Capacitated charger siting (see the module doc for the model and the method).

    Build with :meth:`from_cost_matrix` or :meth:`from_geodataframe`; :meth:`solve` returns a
    :class:`CapacitatedResult`.
    """

    name = "CapacitatedSiting"
    #: kW per DC / AC port and kW per station (None = no power limit); see from_cost_matrix
    port_kw: tuple[float, float] = (0.0, 0.0)
    station_kw: np.ndarray | None = None

    @classmethod
    def from_cost_matrix(cls, cost: Any, energy_kwh_day: Any, dc_energy_kwh_day: Any = None,
                         service_standard_min: Any = 15.0, *,
                         dc_port_kwh_day: float, ac_port_kwh_day: float,
                         max_dc_ports: Any = 30, max_ac_ports: Any = 50, max_stations: Any = 1,
                         site_cost_cny: Any = 0.0, dc_port_cost_cny: Any = 0.0, ac_port_cost_cny: Any = 0.0,
                         existing_dc: Any = None, existing_ac: Any = None,
                         allocation_cny_per_kwh_min: float = 0.0, budget_cny: float | None = None,
                         required: Any = None, max_site_dc_ports: Any = None,
                         max_site_ac_ports: Any = None, dc_port_kw: float | None = None,
                         ac_port_kw: float | None = None, max_station_kw: Any = None) -> "CapacitatedSiting":
        """Build the model.

        Args:
            cost: ``(n_clients, n_candidates)`` travel minutes; dense (``np.inf`` =
                unreachable) or scipy.sparse (absent = unreachable).
            energy_kwh_day: ``(n_clients,)`` public charging energy, kWh/day.
            dc_energy_kwh_day: ``(n_clients,)`` its DC-only part (<= energy); None = 0.
            service_standard_min: minutes; a point is served only within it (``inf`` = any):
                one value, or ``(n_clients,)`` (each point's own standard, e.g. by urban zone:
                :mod:`evsiting.demand.zones`).
            dc_port_kwh_day, ac_port_kwh_day: energy one DC / AC port delivers a day (power kW
                x full-power hours; parameters ``dc_charger_power_kw`` x
                ``dc_utilisation_hours`` etc.).
            max_dc_ports, max_ac_ports: ports one station may hold (scalar or per site;
                parameters ``site_max_dc_ports``/``site_max_ac_ports``).
            max_stations: stations a site may hold (scalar or per site, >= 1).
            site_cost_cny: CNY per new station; dc_port_cost_cny, ac_port_cost_cny: CNY per
                new port (scalars or per site).
            existing_dc, existing_ac: ``(n_candidates,)`` ports installed; a site with any is
                an existing station (one station, open, its ports free).
            allocation_cny_per_kwh_min: CNY per kWh/day served per minute of travel (0 = none).
            budget_cny: CNY for new stations and ports; with it the model maximises energy
                served (None = serve all the energy the sites can hold, least cost).
            required: candidate indices that must hold a station.
            max_site_dc_ports, max_site_ac_ports: ``(n_candidates,)`` ports a site may hold in
                all, over all its stations (a staged plan's later year); None = its stations x
                the per-station maxima only.
            dc_port_kw, ac_port_kw: kW one DC / AC port draws (needed with ``max_station_kw``).
            max_station_kw: kW of grid connection per station (scalar or ``(n_candidates,)``,
                ``inf`` = no limit at that site; None = no limit anywhere): a site's ports obey
                ``dc_port_kw * nd + ac_port_kw * na <= max_station_kw * stations``, and a
                station holds at most ``floor(max_station_kw / dc_port_kw)`` DC ports (AC
                likewise). An existing station keeps at least the kW of its installed ports (it
                is connected already).

        Raises:
            InputError: malformed inputs (the argument is named).
        """
        mdl = cls()
        mdl._attach(cost, energy_kwh_day, required)
        n, m = mdl.cost.shape
        e = mdl.weights
        dc = np.zeros(n) if dc_energy_kwh_day is None else np.asarray(dc_energy_kwh_day, dtype=np.float64).reshape(-1)
        if dc.shape[0] != n or not np.isfinite(dc).all() or (dc < 0).any():
            raise InputError(f"dc_energy_kwh_day must be {n} finite non-negative values", field="dc_energy_kwh_day")
        if (dc > e * (1 + 1e-9) + 1e-9).any():
            raise InputError("dc_energy_kwh_day exceeds energy_kwh_day", field="dc_energy_kwh_day")
        mdl.dc_energy = np.minimum(dc, e)
        s = check_standard(service_standard_min, n, "service_standard_min", allow_inf=True)
        if not np.all(np.asarray(s) > 0):
            raise InputError("service_standard_min must be positive minutes", field="service_standard_min")
        mdl.standard = s
        for nm, v in (("dc_port_kwh_day", dc_port_kwh_day), ("ac_port_kwh_day", ac_port_kwh_day)):
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"{nm} must be finite and non-negative kWh/day", field=nm)
        mdl.cap_dc, mdl.cap_ac = float(dc_port_kwh_day), float(ac_port_kwh_day)
        mdl.max_dc = check_per_site(max_dc_ports, m, "max_dc_ports", integer=True)
        mdl.max_ac = check_per_site(max_ac_ports, m, "max_ac_ports", integer=True)
        mdl.max_stations = check_per_site(max_stations, m, "max_stations", integer=True)
        if (mdl.max_stations < 1).any():
            raise InputError("max_stations must be at least 1", field="max_stations")
        mdl.site_cost = check_per_site(site_cost_cny, m, "site_cost_cny")
        mdl.dc_cost = check_per_site(dc_port_cost_cny, m, "dc_port_cost_cny")
        mdl.ac_cost = check_per_site(ac_port_cost_cny, m, "ac_port_cost_cny")
        mdl.ex_dc = check_per_site(existing_dc, m, "existing_dc", integer=True)
        mdl.ex_ac = check_per_site(existing_ac, m, "existing_ac", integer=True)
        a = float(allocation_cny_per_kwh_min)
        if not (np.isfinite(a) and a >= 0):
            raise InputError("allocation_cny_per_kwh_min must be finite and non-negative", field="allocation_cny_per_kwh_min")
        mdl.alpha = a
        if budget_cny is not None and not (np.isfinite(budget_cny) and budget_cny >= 0):
            raise InputError("budget_cny must be a finite non-negative number of CNY", field="budget_cny")
        mdl.budget = None if budget_cny is None else float(budget_cny)
        mdl.site_hi_dc = None if max_site_dc_ports is None else check_per_site(max_site_dc_ports, m, "max_site_dc_ports", integer=True)
        mdl.site_hi_ac = None if max_site_ac_ports is None else check_per_site(max_site_ac_ports, m, "max_site_ac_ports", integer=True)
        mdl.port_kw = (0.0, 0.0)
        mdl.station_kw = None
        if max_station_kw is not None:
            pk = np.broadcast_to(np.asarray(max_station_kw, dtype=np.float64), (m,)).copy() \
                if np.ndim(max_station_kw) == 0 else np.asarray(max_station_kw, dtype=np.float64).reshape(-1)
            if pk.shape[0] != m or np.isnan(pk).any() or (pk < 0).any():
                raise InputError(f"max_station_kw must be a non-negative kW value or {m} of them (inf = no limit)",
                                 field="max_station_kw")
            kws = []
            for nm, v in (("dc_port_kw", dc_port_kw), ("ac_port_kw", ac_port_kw)):
                if v is None or not (np.isfinite(v) and v >= 0):
                    raise InputError(f"{nm} must be finite non-negative kW when max_station_kw is given", field=nm)
                kws.append(float(v))
            mdl.port_kw = tuple(kws)
            mdl.station_kw = pk
            # each station has its own connection: its DC (AC) ports alone stay within it, so a
            # station holds at most floor(kW / port kW) of them (920 kW: 9 DC ports of 93 kW, not
            # the 9.89 the summed row allows); valid for every integer plan, and it tightens the
            # LP (Anshun with access cost: LP bound +0.22 %, measured 2026-12-07)
            for attr, kw in (("max_dc", kws[0]), ("max_ac", kws[1])):
                if kw > 0:
                    per = np.floor(np.where(np.isfinite(pk), pk, np.inf) / kw + 1e-9)
                    setattr(mdl, attr, np.minimum(getattr(mdl, attr), per))
        return mdl

    @classmethod
    def from_geodataframe(cls, demand_gdf: Any, candidates_gdf: Any, cost: Any, *,
                          energy_col: str = "energy_kwh_day", dc_energy_col: str | None = "energy_dc_kwh_day",
                          **kwargs: Any) -> "CapacitatedSiting":
        """Build from GeoDataFrames (any CRS; geometry is not used, ``cost`` holds the minutes).

        ``energy_col``/``dc_energy_col`` of ``demand_gdf`` hold kWh/day; per-site keyword
        arguments of :meth:`from_cost_matrix` may name columns of ``candidates_gdf`` (e.g.
        ``existing_dc="ports_dc"``; missing values count 0).

        Raises:
            InputError: a missing column (named) or a cost matrix of the wrong shape.
        """
        n, m = len(demand_gdf), len(candidates_gdf)
        if tuple(cost.shape) != (n, m):
            raise InputError(f"cost matrix shape {tuple(cost.shape)} does not match {n} demand points x {m} candidates", field="cost")
        for col in (energy_col, dc_energy_col):
            if col is not None and col not in demand_gdf.columns:
                raise InputError(f"demand has no column '{col}'", field=col)
        for key in ("max_dc_ports", "max_ac_ports", "max_stations", "site_cost_cny", "dc_port_cost_cny",
                    "ac_port_cost_cny", "existing_dc", "existing_ac"):
            v = kwargs.get(key)
            if isinstance(v, str):
                if v not in candidates_gdf.columns:
                    raise InputError(f"candidates have no column '{v}'", field=v)
                kwargs[key] = candidates_gdf[v].fillna(0).to_numpy(dtype=float)
        dc = None if dc_energy_col is None else demand_gdf[dc_energy_col].to_numpy(dtype=float)
        return cls.from_cost_matrix(cost, demand_gdf[energy_col].to_numpy(dtype=float), dc, **kwargs)

    # ------------------------------------------------------------------------------------
    def _instance(self, rows: np.ndarray, cols: np.ndarray, energy: np.ndarray) -> Instance:
        """The reduced :class:`Instance` on demand points ``rows`` and sites ``cols``."""
        P = self._pairs[rows][:, cols].tocsr()
        P.sort_indices()
        existing = (self.ex_dc + self.ex_ac)[cols] > 0
        hi_dc = np.where(existing, np.maximum(self.ex_dc[cols], self.max_dc[cols]), self.max_dc[cols])
        hi_ac = np.where(existing, np.maximum(self.ex_ac[cols], self.max_ac[cols]), self.max_ac[cols])
        req = np.flatnonzero(np.isin(cols, self.required))
        # energy capped by the feasibility step keeps each point's DC share (the share the
        # max-flow served it with); capping D alone would raise the share and could make the
        # capped instance infeasible
        e0 = self.weights[rows]
        d = np.minimum(self.dc_energy[rows] * np.divide(energy, e0, out=np.zeros_like(e0), where=e0 > 0), energy)
        lo_dc = np.where(existing, self.ex_dc[cols], 0.0)  # installed ports: the lower bounds
        lo_ac = np.where(existing, self.ex_ac[cols], 0.0)
        return Instance(P, energy, d, self.cap_dc, self.cap_ac, lo_dc, hi_dc, lo_ac, hi_ac,
                        self.site_cost[cols], self.dc_cost[cols], self.ac_cost[cols], ~existing,
                        alpha=self.alpha, budget=self.budget, maximize=self.budget is not None,
                        required=req, max_stations=self.max_stations[cols],
                        site_hi_dc=None if self.site_hi_dc is None else np.maximum(self.site_hi_dc[cols], lo_dc),
                        site_hi_ac=None if self.site_hi_ac is None else np.maximum(self.site_hi_ac[cols], lo_ac),
                        dc_port_kw=self.port_kw[0], ac_port_kw=self.port_kw[1], station_kw=self._station_kw(cols))

    def _station_kw(self, cols: np.ndarray) -> np.ndarray | None:
        """``(cols.size,)`` kW per station at sites ``cols``; an existing station keeps at least
        the kW of its installed ports. None without a power limit."""
        if self.station_kw is None:
            return None
        pd, pa = self.port_kw
        existing = (self.ex_dc + self.ex_ac)[cols] > 0
        installed = pd * self.ex_dc[cols] + pa * self.ex_ac[cols]
        return np.where(existing, np.maximum(self.station_kw[cols], installed), self.station_kw[cols])

    def _max_servable(self, inst: Instance, time_limit: float | None) -> np.ndarray:
        """kWh/day of each point that the sites within reach can hold with every station open
        at its maxima (a max-flow LP; equal to the energy wherever capacity suffices). With a
        power limit, each site's ports are capped at the whole ports its stations hold
        (:func:`~evsiting.models._cflp_start.max_ports`), so the energy kept is servable with
        integer ports. Without DC shares and power limits, with every point reaching every site
        (a complete transportation problem, as classic CFLP instances), all the energy is
        servable exactly when the sites' total capacity covers it, and no LP is needed (the
        max-flow LP of a 200 x 2,000 CST instance did not finish in 60 s)."""
        n, m = inst.pairs.shape
        if inst.station_kw is None and not (inst.D > 0).any() and inst.pairs.nnz == n * m:
            kst = np.where(inst.new, 1 if inst.max_stations is None else inst.max_stations, 1)
            hd, ha = inst.hi_dc * kst, inst.hi_ac * kst
            if inst.site_hi_dc is not None:
                hd = np.minimum(hd, inst.site_hi_dc)
            if inst.site_hi_ac is not None:
                ha = np.minimum(ha, inst.site_hi_ac)
            if (inst.cap_dc * hd + inst.cap_ac * ha).sum() >= inst.E.sum():
                return inst.E.copy()
        open_all = Instance(inst.pairs, inst.E, inst.D, inst.cap_dc, inst.cap_ac,
                            inst.lo_dc, inst.hi_dc, inst.lo_ac, inst.hi_ac, inst.F, inst.cd, inst.ca,
                            inst.new, maximize=True, max_stations=inst.max_stations,
                            site_hi_dc=inst.site_hi_dc, site_hi_ac=inst.site_hi_ac,
                            dc_port_kw=inst.dc_port_kw, ac_port_kw=inst.ac_port_kw, station_kw=inst.station_kw)
        mm = build(open_all)
        mm.integer[:] = False
        if inst.station_kw is not None:
            # with a power limit, continuous ports can hold more than whole ones (920 kW: 9.89
            # DC ports against 9 DC + 11 AC); the ports are capped at the whole ports every
            # station can hold (DC first, then AC), so that the energy kept is servable by a plan
            # with integer ports (the start plan's routing), not only by the LP. On the province
            # the continuous max-flow kept 12.8 kWh/day that no integer plan could serve, and
            # the solve ended without a plan (2026-12-07)
            k_max = np.where(inst.new, inst.max_stations if inst.max_stations is not None else 1, 0)
            nd_hi, na_hi = max_ports(inst, k_max)
            mm.col_hi[mm.blocks["nd"]] = np.minimum(mm.col_hi[mm.blocks["nd"]], nd_hi)
            mm.col_hi[mm.blocks["na"]] = np.minimum(mm.col_hi[mm.blocks["na"]], na_hi)
        mm.c[:] = 0.0
        mm.c[mm.blocks["w"]] = 1.0
        out = solve_highs(mm, time_limit=time_limit)
        if out.x is None and out.status == "time_limit":
            raise SolverError(f"CapacitatedSiting: the time limit ({time_limit:.4g} s) ran out in the feasibility "
                              "check (the max-flow LP with every station open) before any plan; raise the time limit")
        if out.x is None:
            raise SolverError(f"CapacitatedSiting: the max-flow LP of the feasibility check failed (HiGHS: {out.status})")
        w = out.x[mm.blocks["w"]]
        n = inst.pairs.shape[0]
        served = np.bincount(np.repeat(np.arange(n), np.diff(inst.pairs.indptr)), weights=w, minlength=n)
        return np.minimum(served, inst.E)

    def solve(self, solver: str = "highs", time_limit: float | None = None,
              mip_gap: float | None = 0.005, *, least_cost_first: bool = True,
              start_stations: Any = None) -> CapacitatedResult:
        """Solve by the method of the module doc.

        Args:
            solver: ``"highs"`` (the method runs on HiGHS in memory; ``"cbc"`` is accepted for
                a config's sake and also uses HiGHS, which the package requires).
            time_limit: seconds for the whole solve (None = none).
            mip_gap: relative gap at which the solve may stop (default 0.005; 0 = prove
                optimality).
            least_cost_first: with a budget, first solve without it and return that plan when
                it fits (see the module doc); False skips that step (a caller that knows the
                least cost already exceeds the budget, e.g. a budget sweep).
            start_stations: ``(m,)`` stations per candidate site of a plan from outside to start
                from (e.g. the base plan of a sensitivity run): routed at its stations' integer
                port maxima and trimmed, it replaces the model's own start plan (step 4) when
                cheaper (``stats["outside_start"]``: ``kept``, ``dearer`` or ``infeasible``).
                It changes where the search starts, never the bound. None = none.

        Returns:
            :class:`CapacitatedResult`; ``objective`` is CNY (capital + allocation cost) or,
            with a budget, kWh/day served (minus the allocation term).

        Raises:
            InfeasibleError: required sites that allow no ports; a budget below the cost of
                the required and existing commitments.
            SolverError: HiGHS failed or found no plan in the time limit.
            ValueError: ``start_stations`` not of shape ``(m,)`` or negative.
        """
        self._require_data()
        check_solver(solver)
        if start_stations is not None:
            start_stations = np.asarray(start_stations, dtype=np.float64)
            if start_stations.shape != (self.cost.shape[1],) or not np.all(np.isfinite(start_stations)) \
                    or (start_stations < 0).any():
                raise ValueError(f"start_stations must be ({self.cost.shape[1]},) non-negative stations per site, "
                                 f"got shape {start_stations.shape}")
        time_limit, mip_gap = check_limits(time_limit, mip_gap)
        gap_target = 0.0 if mip_gap is None else mip_gap
        t0 = time.perf_counter()
        deadline = None if time_limit is None else t0 + time_limit

        def left() -> float | None:
            return None if deadline is None else max(deadline - time.perf_counter(), 0.01)

        least_cost = None
        if self.budget is not None and least_cost_first:
            free, least_cost = self._least_cost_within_budget(left, mip_gap, t0)
            if free is not None:
                return free
        red = self.reduce(left())
        stats = red.stats
        inst, rows, cols, unreachable, short = red.instance, red.rows, red.cols, red.unreachable, red.short
        if self.budget is not None:
            existing = (self.ex_dc + self.ex_ac) > 0
            commit = float(self.site_cost[self.required[~existing[self.required]]].sum())
            if commit > self.budget + 1e-9:
                raise InfeasibleError(f"budget {self.budget:,.0f} CNY is below the {commit:,.0f} CNY of the required new stations")
        x, blocks, bound, lp_bound, proven, message = self._solve_instance(
            inst, gap_target, left, stats, k_outside=None if start_stations is None else start_stations[cols])
        if self.budget is not None:
            stats["budget_binds"] = True
            stats["least_cost_cny"] = least_cost  # serving all servable energy (None: not found in time)
        return self._result(inst, blocks, rows, cols, x, bound=bound, lp_bound=lp_bound, proven=proven, message=message, stats=stats,
                            unreachable=unreachable, short=short, seconds=time.perf_counter() - t0)

    def _least_cost_within_budget(self, left, mip_gap: float | None,
                                  t0: float) -> tuple[CapacitatedResult | None, float | None]:
        """With a budget, first the least-cost plan that serves all the energy the sites
        within reach hold (the model without its budget). If it costs no more than the budget,
        the budget does not bind: that plan serves the most energy any plan can (the max-flow
        ceiling, so its served energy is proven optimal) and is the cheapest such plan within
        its proven gap; it is returned with ``stats["budget_binds"] = False``. Otherwise (or
        when that solve finds no plan in time) ``(None, its cost or None)``: the budget binds,
        and :meth:`solve` maximises served energy within it."""
        free_mdl = copy.copy(self)
        free_mdl.budget = None
        try:
            free = free_mdl.solve(time_limit=left(), mip_gap=mip_gap)
        except SolverError:
            return None, None
        if free.capital_cny > self.budget * (1 + 1e-9) + 1e-6:
            return None, free.capital_cny
        served = float(free.served.sum())
        ceiling = served  # all the energy the sites within reach hold: nothing can serve more
        obj = served - free.travel_cny
        stats = dict(free.stats, budget_binds=False, least_cost_cny=free.capital_cny,
                     least_cost_gap=free.gap, least_cost_bound_cny=free.bound)
        status = "optimal" if free.travel_cny == 0 else "feasible"
        gap = 0.0 if status == "optimal" else _gap(obj, ceiling, True)
        message = (f"the budget does not bind: the least-cost plan serving all {served:,.0f} kWh/day the sites "
                   f"within reach hold costs {free.capital_cny:,.0f} CNY (within {free.gap:.2%} of least cost), "
                   f"below the budget of {self.budget:,.0f} CNY")
        return dataclasses.replace(free, status=status, objective=obj, bound=ceiling if gap else obj, gap=gap,
                                   message=message, stats=stats, runtime_s=time.perf_counter() - t0), free.capital_cny

    def reduce(self, time_limit: float | None = None) -> Reduced:
        """Steps 1-2 of the method (presolve and feasibility): the reduced :class:`Instance`
        that :meth:`solve` hands to its bound, incumbent and branch-and-bound steps (and that
        ``benchmarks/bench_capacitated.py`` hands to pulp).

        Raises:
            InfeasibleError: required sites that allow no ports.
        """
        self._require_data()
        n, m = self.cost.shape
        C = self.cost
        keep = pair_within(C, self.standard)
        rows_all = np.repeat(np.arange(n), np.diff(C.indptr))
        self._pairs = sp.csr_matrix((C.data[keep], (rows_all[keep], C.indices[keep])), shape=(n, m))
        self._pairs.sort_indices()
        e = self.weights
        reach = np.diff(self._pairs.indptr) > 0
        unreachable = np.flatnonzero((e > 0) & ~reach)
        rows = np.flatnonzero((e > 0) & reach)
        existing = (self.ex_dc + self.ex_ac) > 0
        no_port = self.required[(self.max_dc[self.required] + self.max_ac[self.required] == 0) & ~existing[self.required]]
        if no_port.size:
            raise InfeasibleError(f"required sites {no_port.tolist()[:20]} allow no ports (max_dc_ports = max_ac_ports = 0)")
        used = np.zeros(m, dtype=bool)
        used[self._pairs[rows].indices] = True
        cols = np.flatnonzero(used | existing | np.isin(np.arange(m), self.required))
        stats: dict[str, Any] = {"clients": n, "candidates": m, "reduced_clients": int(rows.size),
                                 "reduced_candidates": int(cols.size), "pairs": int(self._pairs[rows].nnz)}
        inst = self._instance(rows, cols, e[rows])
        short = np.zeros(n)
        if self.budget is None and rows.size:
            ts = time.perf_counter()
            servable = self._max_servable(inst, time_limit)
            gapped = inst.E - servable > 1e-9 * np.maximum(inst.E, 1.0)  # capped exactly: no infeasible remainder
            if gapped.any():
                short[rows[gapped]] = inst.E[gapped] - servable[gapped]
                inst = self._instance(rows, cols, np.where(gapped, servable, inst.E))
            stats["feasibility_s"] = round(time.perf_counter() - ts, 3)
        return Reduced(inst, rows, cols, unreachable, short, stats)

    #: the Lagrangian step (5') replaces HiGHS's branch-and-bound on the full model when the
    #: objective has allocation cost (min-cost mode); None = that rule, True/False = always/never
    use_lagrangian: bool | None = None

    def _use_lagrangian(self, inst: Instance) -> bool:
        """Whether steps 3'-5' run: allocation cost in the min-cost model on an instance whose
        strong LP is too large to solve in time (more than :data:`LP_PAIRS_MAX` pairs), or as
        forced by :attr:`use_lagrangian` (see also :meth:`_lagrangian_after_lp`). Measured here (2 cores, 2026-12-07): a 100 x 1,000
        CFLP (100,000 pairs) 2.1 % at 120 s against no bound at all (its LP alone takes 153 s);
        Guiyang with ``allocation_cny_per_kwh_min: 1.0`` (13,122 pairs) 5.1 % at 60 s against
        1.67 % at 120 s by steps 3-5, since the relaxation's continuous port rates are weaker
        than the strong LP's DC-port linking rows there."""
        if inst.maximize:
            return False
        if self.use_lagrangian is not None:
            return bool(self.use_lagrangian)
        return bool(inst.alpha > 0) and inst.pairs.nnz > LP_PAIRS_MAX

    def _lagrangian_after_lp(self, inst: Instance) -> bool:
        """Whether steps 3'-5' replace HiGHS's branch-and-bound (step 5) when the incumbent of
        step 4 is not within the target gap: allocation cost in the min-cost model, priced ports
        (each site's subproblem keeps them integer), no power limit and at most
        :data:`LAGRANGIAN_POINTS_MAX` demand points and at least :data:`LAGRANGIAN_PAIRS_MIN` pairs
        (unless :attr:`use_lagrangian` is False)."""
        if inst.maximize or self.use_lagrangian is False or not inst.alpha > 0 or not LAGRANGIAN_POINTS_MAX:
            return False
        return (integer_ports(inst) and inst.station_kw is None and inst.pairs.shape[0] <= LAGRANGIAN_POINTS_MAX
                and inst.pairs.nnz >= LAGRANGIAN_PAIRS_MIN)

    #: the Lagrangian branch-and-bound (:mod:`evsiting.models._cflp_bb`) replaces steps 3-5 with
    #: allocation cost where its relaxation is exact in the ports; None = that rule, True/False
    #: = always/never
    use_branch_and_bound: bool | None = None

    def _use_branch_and_bound(self, inst: Instance) -> bool:
        """Whether the Lagrangian branch-and-bound runs: min-cost mode with allocation cost
        where no port costs anything and there is no power limit (classic capacitated facility
        location, :func:`~evsiting.models._cflp_bb.ports_free`: the relaxation then prices the
        ports exactly), or as forced by :attr:`use_branch_and_bound`."""
        if inst.maximize:
            return False
        if self.use_branch_and_bound is not None:
            return bool(self.use_branch_and_bound)
        return bool(inst.alpha > 0) and ports_free(inst)

    def _solve_branch_and_bound(self, inst: Instance, mm, gap_target: float, left, *, stats: dict):
        """Steps 3-5 by the Lagrangian branch-and-bound (:func:`~evsiting.models._cflp_bb.branch_and_bound`).
        Returns what :meth:`_solve_instance` returns; the root's Lagrangian bound stands in for
        the LP bound."""
        stats["time_limited_steps"] = []
        x, obj, bound, finished = branch_and_bound(inst, mm, None, math.nan, gap_target=gap_target, left=left,
                                                   stats=stats, trimmed=lambda v: _trimmed(inst, mm, v))
        if x is None:
            raise SolverError("CapacitatedSiting: no plan found within the time limit; raise solver.time_limit_s")
        if not finished:
            stats["time_limited_steps"].append("branch_and_bound")
        gap = _gap(obj, bound, False)
        message = _short_message(gap, gap_target, stats)
        return x, mm.blocks, bound, stats.get("bb_root_bound", bound), gap <= 1e-9, message

    def _solve_lagrangian(self, inst: Instance, mm, relaxed, gap_target: float, left, *, stats: dict,
                          try_lp: bool = True, after_lp: tuple | None = None, k_outside=None):
        """Steps 3'-5' (allocation cost): the LP when small (its duals start the multipliers),
        then :func:`~evsiting.models._cflp_lr.lagrangian_solve` (``try_lp=False``: the LP was
        tried already and stopped at its time limit; ``after_lp``: ``(duals of the demand rows,
        LP bound, incumbent, its CNY)`` from steps 3-4, which then are not repeated). Returns
        what :meth:`_solve_instance` returns."""
        if after_lp is not None:
            u0, lp_bound, x0, obj0 = after_lp
            return self._lagrangian_steps(inst, mm, u0, lp_bound, x0, obj0, gap_target, left, stats=stats)
        u0, lp_bound, k_lp, lp_x = None, -math.inf, None, None
        stats["time_limited_steps"] = [] if try_lp else ["lp"]
        if try_lp and inst.pairs.nnz <= LP_PAIRS_MAX:
            ts = time.perf_counter()
            t = left()
            lp = solve_highs(relaxed, time_limit=None if t is None else 0.25 * t, duals=True, lp_method=STRONG_LP_METHOD)
            stats["lp_s"] = round(time.perf_counter() - ts, 3)
            if lp.status == "infeasible":
                raise SolverError("CapacitatedSiting: the reduced model is infeasible after the feasibility step (a bug)")
            if lp.x is not None and lp.status != "time_limit":
                lp_bound = lp.objective
                if lp.row_dual is not None:
                    u0 = lp.row_dual[:inst.pairs.shape[0]]
                k_lp = _stations_of(inst, mm, np.ceil(lp.x[mm.blocks["y"]] - 1e-6))
                lp_x = lp.x
        # a feasible plan first (the LP's stations rounded up, or every station open), so that
        # the Lagrangian heuristic and HiGHS only improve on it and the solve always has a plan
        ts = time.perf_counter()
        x0, obj0 = start_plan(inst, mm, lambda v: _trimmed(inst, mm, v), left, k_lp, lp_x=lp_x, gap_target=gap_target,
                              stats=stats, k_outside=k_outside)
        stats["start_plan_s"] = round(time.perf_counter() - ts, 3)
        stats["start_plan_cny"] = None if x0 is None else round(obj0, 2)
        return self._lagrangian_steps(inst, mm, u0, lp_bound, x0, obj0, gap_target, left, stats=stats)

    def _lagrangian_steps(self, inst: Instance, mm, u0, lp_bound: float, x0, obj0: float, gap_target: float, left, *,
                          stats: dict):
        """:func:`~evsiting.models._cflp_lr.lagrangian_solve` from multipliers ``u0`` (None:
        cost-based), the LP bound (``-inf``: none) and the plan ``x0`` (None: none); with the
        station search after the subgradient rounds (:data:`POLISH_LAGRANGIAN`, no power
        limit). Returns what :meth:`_solve_instance` returns."""
        polish = None
        if (POLISH_LAGRANGIAN and inst.station_kw is None and inst.new.any()  # (with a power limit start_plan searched)
                and inst.pairs.shape[0] <= LAGRANGIAN_POINTS_MAX):  # (measured on prefectures only)
            def polish(xp, objp, lb):
                return improve_plan(inst, mm, xp, objp, lambda v: _trimmed(inst, mm, v), left, route=flow_plan,
                                    lp_bound=lb, gap_target=gap_target, stats=stats)
        x, obj, bound, opt = lagrangian_solve(inst, mm, u0, x0, obj0, lp_bound=lp_bound, gap_target=gap_target, left=left, stats=stats,
                                              trimmed=lambda v: _trimmed(inst, mm, v), polish=polish)
        if x is None:
            raise SolverError("CapacitatedSiting: no plan found within the time limit; raise solver.time_limit_s")
        gap = _gap(obj, bound, False)
        if gap > gap_target and left() is not None and not stats.get("time_limited_steps"):
            # the rounds' iteration counts and the sub-MIPs get shares of the time left, so a
            # Lagrangian solve that ends short of the target ended by the clock
            stats.setdefault("time_limited_steps", []).append("lagrangian")
        message = _short_message(gap, gap_target, stats)
        return x, mm.blocks, bound, lp_bound if math.isfinite(lp_bound) else bound, opt or gap <= 1e-9, message

    def _solve_instance(self, inst: Instance, gap_target: float, left, stats: dict, *, k_outside=None):
        """Steps 3-5 of the method on a reduced instance; returns (x, column blocks, bound,
        lp_bound, proven_optimal, message), ``x`` trimmed of unused stations and ports."""
        mm = build(inst)
        stats["rows"], stats["cols"] = int(mm.A.shape[0]), int(mm.n_cols)
        if inst.pairs.nnz == 0 and not inst.required.size and not (~inst.new).any():
            x = np.zeros(mm.n_cols)
            return x, mm.blocks, mm.offset, mm.offset, True, ""
        sense = -1.0 if mm.maximize else 1.0
        # 3. LP bound
        ts = time.perf_counter()
        relaxed = MatrixCopy(mm)
        relaxed.integer[:] = False
        if self._use_branch_and_bound(inst):
            return self._solve_branch_and_bound(inst, mm, gap_target, left, stats=stats)
        if self._use_lagrangian(inst):
            return self._solve_lagrangian(inst, mm, relaxed, gap_target, left, stats=stats, k_outside=k_outside)
        t = left()
        # in min-cost mode the LP gets at most 60 % of the time left: if it stops there, the
        # Lagrangian path (its bound, the start plan and its heuristic) takes the rest, so the
        # solve still ends with a plan and a proven bound
        after_lp = self._lagrangian_after_lp(inst)
        lp_share = LP_SHARE_LAGRANGIAN if after_lp else 0.6
        lp = solve_highs(relaxed, time_limit=None if t is None or mm.maximize else lp_share * t, lp_method=STRONG_LP_METHOD,
                         duals=not mm.maximize)
        stats["lp_s"] = round(time.perf_counter() - ts, 3)
        if lp.status == "time_limit" and not mm.maximize:
            return self._solve_lagrangian(inst, mm, relaxed, gap_target, left, stats=stats, try_lp=False,
                                          k_outside=k_outside)
        # steps stopped by the clock: the plan may then differ from run to run (summary.json)
        stats["time_limited_steps"] = ["lp"] if lp.status == "time_limit" else []
        if lp.status == "infeasible":
            if inst.budget is None:
                raise SolverError("CapacitatedSiting: the reduced model is infeasible after the feasibility step (a bug)")
            raise InfeasibleError("the budget cannot pay for the required and existing commitments")
        lp_bound = lp.objective if lp.x is not None else (math.inf if mm.maximize else -math.inf)
        best_x, best_obj = None, math.nan
        # 4. incumbent: a MIP restricted to the LP's stations rounded up (at most that many per
        # site, closing allowed), with integer ports and flows. Letting it close stations
        # rather than fixing them open: Anshun 0.53 % -> 0.22 % from the LP bound, and 420 s of
        # branch-and-bound saved (measured here, 2 cores, 2026-12-02)
        if lp.x is not None and lp.status != "time_limit":
            # a feasible plan first (the LP's stations rounded up, else every station open):
            # the sub-MIP and branch-and-bound start from it, so the solve always has a plan
            if not mm.maximize:  # (with a binding budget, the empty plan is feasible already)
                ts = time.perf_counter()
                best_x, best_obj = start_plan(inst, mm, lambda v: _trimmed(inst, mm, v), left,
                                              _stations_of(inst, mm, np.ceil(lp.x[mm.blocks["y"]] - 1e-6)), lp_x=lp.x,
                                              gap_target=gap_target, stats=stats, k_outside=k_outside)
                stats["start_plan_s"] = round(time.perf_counter() - ts, 3)
                stats["start_plan_cny"] = None if best_x is None else round(best_obj, 2)
                if best_x is not None and _gap(best_obj, lp_bound, False) <= gap_target:
                    # close enough already (with a power limit the start plan's local search
                    # often is): no sub-MIP, no branch-and-bound
                    stats["incumbent_gap_vs_lp"] = round(_gap(best_obj, lp_bound, False), 6)
                    return best_x, mm.blocks, lp_bound, lp_bound, _gap(best_obj, lp_bound, False) <= 1e-9, ""
            ts = time.perf_counter()
            fixed = MatrixCopy(mm)
            ys = mm.blocks["y"]
            yv = np.ceil(lp.x[ys] - 1e-6)
            fixed.col_hi[ys] = np.maximum(yv, mm.col_lo[ys])
            # half the target gap on the sub-MIP leaves the other half for its distance to the LP
            # it may stop as soon as its plan is within the target of the LP bound: the bound
            # is proven already, and the sub-MIP's own bound is of no use
            target = None
            if gap_target and math.isfinite(lp_bound):
                target = lp_bound / (1 + gap_target) * (1 + 1e-9) if mm.maximize else lp_bound / (1 - gap_target) * (1 - 1e-9)
            # at most half the time left: the rest is branch-and-bound's, which also improves plans
            t = left()
            share = SUB_MIP_SHARE_LAGRANGIAN if after_lp else 0.5
            sub = solve_highs(fixed, time_limit=None if t is None else share * t,
                              mip_gap=gap_target / 2 if gap_target else 0.0, stop_at=target, start=best_x)
            stats["incumbent_s"] = round(time.perf_counter() - ts, 3)
            if sub.status == "time_limit":
                stats["time_limited_steps"].append("incumbent")
            if sub.x is not None:
                sx = _trimmed(inst, mm, sub.x)  # unused stations and ports dropped
                s_obj = float(mm.c @ sx + mm.offset)
                if best_x is None or sense * s_obj <= sense * best_obj:
                    best_x, best_obj = sx, s_obj
        gap = _gap(best_obj, lp_bound, mm.maximize)
        stats["incumbent_gap_vs_lp"] = None if not math.isfinite(gap) else round(gap, 6)
        if best_x is not None and gap <= gap_target:
            return best_x, mm.blocks, lp_bound, lp_bound, gap <= 1e-9, ""
        if best_x is not None and lp.row_dual is not None and after_lp:
            # 5'. the Lagrangian steps from the LP's duals, bound and the incumbent
            return self._solve_lagrangian(inst, mm, relaxed, gap_target, left, stats=stats,
                                          after_lp=(lp.row_dual[:inst.pairs.shape[0]], lp_bound, best_x, best_obj))
        # 5. branch-and-bound on the full model from the incumbent
        ts = time.perf_counter()
        full = solve_highs(mm, time_limit=left(), mip_gap=gap_target, start=best_x)
        stats["mip_s"] = round(time.perf_counter() - ts, 3)
        if full.status == "time_limit":
            stats["time_limited_steps"].append("branch_and_bound")
        stats["mip_nodes"] = full.nodes
        if full.status == "infeasible":
            raise InfeasibleError("the budget cannot pay for the required and existing commitments")
        if full.x is not None:
            fx = _trimmed(inst, mm, full.x)
            f_obj = float(mm.c @ fx + mm.offset)
            if best_x is None or sense * f_obj <= sense * best_obj:
                best_x, best_obj = fx, f_obj
        if best_x is None:
            raise SolverError("CapacitatedSiting: no plan found within the time limit; raise solver.time_limit_s")
        bound = full.bound if math.isfinite(full.bound) else lp_bound
        bound = max(bound, lp_bound) if not mm.maximize else min(bound, lp_bound)
        gap = _gap(best_obj, bound, mm.maximize)
        message = _short_message(gap, gap_target, stats)
        return best_x, mm.blocks, bound, lp_bound, full.status == "optimal" or gap <= 1e-9, message

    def _result(self, inst: Instance, mm_blocks: dict[str, slice], rows, cols, x, *, bound, lp_bound, proven, message,
                stats, unreachable, short, seconds) -> CapacitatedResult:
        n, m = self.cost.shape
        new_idx = np.flatnonzero(inst.new)
        y = np.zeros(cols.size)
        y[new_idx] = np.round(x[mm_blocks["y"]])
        nd = np.round(x[mm_blocks["nd"]])
        na = np.round(x[mm_blocks["na"]])
        w = np.maximum(x[mm_blocks["w"]], 0.0)
        w[w < 1e-9] = 0.0
        existing = ~inst.new  # x is trimmed already (_solve_instance)
        stations = np.zeros(m, dtype=np.int64)
        stations[cols] = np.where(existing, 1, y).astype(np.int64)
        nd[stations[cols] == 0] = 0
        na[stations[cols] == 0] = 0
        dc_ports = np.zeros(m, dtype=np.int64)
        ac_ports = np.zeros(m, dtype=np.int64)
        dc_ports[cols] = nd.astype(np.int64)
        ac_ports[cols] = na.astype(np.int64)
        dc_added = dc_ports - np.where((self.ex_dc + self.ex_ac) > 0, self.ex_dc, 0).astype(np.int64)
        ac_added = ac_ports - np.where((self.ex_dc + self.ex_ac) > 0, self.ex_ac, 0).astype(np.int64)
        P = inst.pairs
        prow = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
        flows = sp.csr_matrix((w, (rows[prow], cols[P.indices])), shape=(n, m))
        flows.eliminate_zeros()
        served = np.asarray(flows.sum(axis=1)).ravel()
        e = self.weights
        unserved = np.maximum(e - served, 0.0)
        unserved[unserved < 1e-6 * np.maximum(e, 1.0)] = 0.0
        if self.budget is not None:
            short = unserved.copy()
            short[unreachable] = 0.0
        assignment = np.full(n, -1, dtype=np.int64)
        if flows.nnz:
            coo = flows.tocoo()
            o = np.lexsort((coo.col, -coo.data, coo.row))
            r_, c_ = coo.row[o], coo.col[o]
            first = np.ones(r_.size, dtype=bool)
            first[1:] = r_[1:] != r_[:-1]
            assignment[r_[first]] = c_[first]
        new_st = np.where((self.ex_dc + self.ex_ac) > 0, 0, stations)
        capital = float((self.site_cost * new_st).sum() + (self.dc_cost * dc_added).sum() + (self.ac_cost * ac_added).sum())
        travel = float(self.alpha * (flows.multiply(self._pairs.tocsr())).sum()) if self.alpha else 0.0
        maximize = self.budget is not None
        obj = float(served.sum() - travel) if maximize else capital + travel
        bound = float(bound)
        bound = max(bound, obj) if maximize else min(bound, obj)
        gap = _gap(obj, bound, maximize)
        status = "optimal" if (proven and gap <= 1e-9) else "feasible"
        if status == "optimal":
            bound, gap = obj, 0.0
        elif not message:
            message = f"stopped at the requested gap; relative gap {gap:.4g} proven"
        covered = (unserved <= 0) & (e > 0)
        return CapacitatedResult(
            self.name, status, obj, bound, float(gap), np.flatnonzero(stations > 0).astype(np.int64), assignment,
            seconds, "highs", covered, message, stats,
            stations=stations, dc_ports=dc_ports, ac_ports=ac_ports, dc_added=dc_added, ac_added=ac_added,
            flows=flows, served=served, unserved=unserved, unreachable=unreachable, short=short,
            capital_cny=capital, travel_cny=travel, lp_bound=float(lp_bound),
        )


def _trim(inst: Instance, nd: np.ndarray, na: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Drop what a plan's flows do not use (never raises its cost): ports beyond the flows' need
    (DC: the DC share of the load; AC: the rest), and stations beyond what the ports need; a
    new site with no flow closes unless required. Existing ports stay."""
    P = inst.pairs
    prow = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    share = np.divide(inst.D, inst.E, out=np.zeros_like(inst.E), where=inst.E > 0)
    m = P.shape[1]
    load = np.bincount(P.indices, weights=w, minlength=m)
    load_dc = np.bincount(P.indices, weights=w * share[prow], minlength=m)
    tol = 1e-7
    need_dc = np.ceil(load_dc / inst.cap_dc - tol) if inst.cap_dc > 0 else np.zeros(m)
    need_dc = np.maximum(need_dc, 0)
    rest = np.maximum(load - inst.cap_dc * need_dc, 0.0)
    need_ac = np.ceil(rest / inst.cap_ac - tol) if inst.cap_ac > 0 else np.zeros(m)
    need_ac = np.maximum(need_ac, 0)
    ok = (need_dc <= nd) & (need_ac <= na) & (inst.cap_dc * need_dc + inst.cap_ac * need_ac >= load - 1e-6)
    nd2 = np.where(ok, np.maximum(need_dc, inst.lo_dc), nd)
    na2 = np.where(ok, np.maximum(need_ac, inst.lo_ac), na)
    req = np.zeros(m, dtype=bool)
    req[inst.required] = True
    with np.errstate(divide="ignore", invalid="ignore"):
        st = np.maximum(np.ceil(np.where(inst.hi_dc > 0, nd2 / inst.hi_dc, 0) - tol), np.ceil(np.where(inst.hi_ac > 0, na2 / inst.hi_ac, 0) - tol))
    if inst.station_kw is not None:  # enough stations for the ports' kW
        kw = inst.dc_port_kw * nd2 + inst.ac_port_kw * na2
        with np.errstate(divide="ignore", invalid="ignore"):
            need_p = np.where(np.isfinite(inst.station_kw) & (kw > 0),
                              np.ceil(kw / np.where(inst.station_kw > 0, inst.station_kw, 1.0) - tol), 0)
        st = np.maximum(st, np.where(inst.station_kw > 0, need_p, st))
    st = np.where(req | (nd2 + na2 > 0), np.maximum(st, 1), 0)
    y2 = np.where(inst.new, np.minimum(st, y), y)
    return nd2, na2, y2


def _trimmed(inst: Instance, mm, x: np.ndarray) -> np.ndarray:
    """``x`` with :func:`_trim` applied to its stations and ports (a feasible point of ``mm``
    that costs no more)."""
    b = mm.blocks
    x = x.copy()
    y = np.zeros(inst.pairs.shape[1])
    y[np.flatnonzero(inst.new)] = np.round(x[b["y"]])
    nd, na, y2 = _trim(inst, np.round(x[b["nd"]]), np.round(x[b["na"]]), y, np.maximum(x[b["w"]], 0.0))
    x[b["nd"]], x[b["na"]] = nd, na
    x[b["y"]] = y2[np.flatnonzero(inst.new)]
    return x


def _stations_of(inst: Instance, mm, y: np.ndarray) -> np.ndarray:
    """``(m,)`` stations per site from ``y`` over ``mm``'s station columns (new sites only)."""
    k = np.zeros(inst.new.size)
    k[np.flatnonzero(inst.new)] = y
    return k


def _gap(objective: float, bound: float, maximize: bool) -> float:
    """Relative gap ``|objective - bound| / max(|objective|, 1e-10)`` (inf without both)."""
    if not (math.isfinite(objective) and math.isfinite(bound)):
        return math.inf
    diff = (bound - objective) if maximize else (objective - bound)
    return max(diff, 0.0) / max(abs(objective), 1e-10)
