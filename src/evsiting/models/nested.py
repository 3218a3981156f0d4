"""Staged build-out on the capacitated model of the single-year run (``evsiting plan`` when
``model.type`` is ``capacitated``, the default, and the plan has no budget, target share or
coverage rule).

Method ("nested", exact for the undiscounted total):

1. The **last plan year** is solved as ``evsiting run`` solves a year
   (:class:`~evsiting.models.capacitated.CapacitatedSiting`: least capital cost, CNY, of
   stations and integer DC/AC ports that serve all the public charging energy the sites within
   the service standard can hold), with a proven gap.
2. Each **earlier year**, from the second-last back to the first, gets the least-cost part of
   the next year's network that serves that year's energy: its candidate sites are the sites
   open in the next year, each with at most the stations and the DC/AC ports it holds then
   (``max_site_dc_ports``/``max_site_ac_ports``).

So a station, once open, stays open, and ports are only ever added. The total spend over the
plan is the last year's network, within its proven gap of the least any plan can spend
(every plan must end with a network that serves the last year's energy). Within that, each
year builds as little as its own demand needs, which is also what discounting prefers.

Each year serves all the energy its candidate sites can hold within the service standard
(min-cost form: the demand rows are equalities on the servable energy). The served share of
the year's total demand can therefore fall from one year to the next only where the sites
within reach cannot hold the growing energy (``binding`` names the counties) or where energy
lies beyond the standard of every candidate; there is no budget here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import scipy.sparse as sp

from evsiting.core.errors import InputError
from evsiting.models.multiperiod import BuildoutResult
from evsiting.models.capacitated import CapacitatedResult, CapacitatedSiting

#: Share of the plan's time limit given to the last year (the largest solve; the earlier
#: years are restricted to its network and solve in a fraction of its time).
LAST_YEAR_TIME_SHARE = 0.6


@dataclass
class StagedResult(BuildoutResult):
    """Result of :func:`staged_capacitated` (``T`` years, ``m`` candidates, ``n`` demand points).

    Extra attributes beside :class:`~evsiting.models.multiperiod.BuildoutResult`'s:
        stations: ``(T, m)`` int stations open at each site by each year.
        short: ``(T, n)`` kWh/day the sites within reach cannot hold (beyond capacity).
        year_results: per year: status, objective (CNY of the year's whole network), bound,
            gap, seconds, message of its capacitated solve.
        binding: per year: ``constraint`` (``"none"``, ``"site capacity"``, ``"service
            standard"`` or both joined by ``" and "``), the unserved kWh/day of each kind, and
            the counties (indices into ``county_of``'s labels) where it binds.
    """

    stations: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    short: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    year_results: list = field(default_factory=list)
    binding: list = field(default_factory=list)


def _sub(value: Any, cols: np.ndarray) -> Any:
    """A scalar or per-site value restricted to ``cols``."""
    if value is None or np.ndim(value) == 0:
        return value
    return np.asarray(value)[cols]


def _year_seconds(deadline: float | None, k: int, T: int) -> float | None:
    """Seconds for the solve of year index ``k`` of ``T`` (solved last year first) until the
    plan's ``deadline`` (a ``time.perf_counter`` instant; None: no limit): the last year gets
    :data:`LAST_YEAR_TIME_SHARE` of the time left, each earlier year an equal share of what is
    left for it and the years before it (at least 1 s)."""
    if deadline is None:
        return None
    rest = max(deadline - time.perf_counter(), 1.0)
    if k == T - 1:
        return rest * (LAST_YEAR_TIME_SHARE if T > 1 else 1.0)
    return rest / (k + 1)  # years k, k-1, ..., 0 are left


def staged_capacitated(
    cost: sp.csr_matrix,
    energy_kwh_day: np.ndarray,
    dc_energy_kwh_day: np.ndarray,
    years: Sequence[int],
    service_standard_min: float,
    *,
    site_args: dict[str, Any],
    county_of: Sequence[str] | None = None,
    time_limit: float | None = None,
    mip_gap: float | None = 0.005,
    progress: Callable[[str], None] = lambda msg: None,
) -> StagedResult:
    """Solve the nested staged plan (see the module doc).

    Args:
        cost: ``(n, m)`` travel minutes, scipy.sparse (absent = unreachable) or dense.
        energy_kwh_day, dc_energy_kwh_day: ``(T, n)`` public charging energy of each year and
            its DC-only part, kWh/day; energy must not fall from one year to the next (it is
            checked: the nested method needs growing demand).
        years: ``(T,)`` increasing calendar years.
        service_standard_min: minutes.
        site_args: keyword arguments of :meth:`CapacitatedSiting.from_cost_matrix` for the
            sites (port kWh/day, maxima, ``max_stations``, costs in CNY, existing ports,
            allocation cost, ``required``), scalars or ``(m,)`` arrays.
        county_of: ``(n,)`` county label of each demand point (for ``binding``); None = none.
        time_limit: seconds for the whole plan (the last year gets
            :data:`LAST_YEAR_TIME_SHARE` of it, the earlier years share the rest).
        mip_gap: relative gap at which each year's solve may stop.
        progress: called with one line per year solved.

    Returns:
        :class:`StagedResult` (arrays in the original indices).

    Raises:
        InputError: shapes or falling energy. InfeasibleError/SolverError: as
        :meth:`CapacitatedSiting.solve`.
    """
    years = [int(y) for y in years]
    T = len(years)
    E = np.atleast_2d(np.asarray(energy_kwh_day, dtype=np.float64))
    D = np.atleast_2d(np.asarray(dc_energy_kwh_day, dtype=np.float64))
    if E.shape[0] != T or D.shape != E.shape:
        raise InputError(f"energy must be ({T}, n) per year, got {E.shape} and {D.shape}", field="energy_kwh_day")
    if T > 1 and (np.diff(E, axis=0) < -1e-9 * np.maximum(E[1:], 1.0)).any():
        raise InputError("the nested staged plan needs demand that never falls from one year to the next",
                         field="energy_kwh_day")
    cost = sp.csr_matrix(cost)
    n, m = cost.shape
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + float(time_limit)
    stations = np.zeros((T, m), dtype=np.int64)
    dc = np.zeros((T, m), dtype=np.int64)
    ac = np.zeros((T, m), dtype=np.int64)
    served = np.zeros((T, n))
    short = np.zeros((T, n))
    site_served = np.zeros((T, m))
    unreachable = np.zeros(0, dtype=np.int64)
    year_results: list[dict] = [{} for _ in years]
    results: list[CapacitatedResult | None] = [None] * T
    ex_dc = np.zeros(m) if site_args.get("existing_dc") is None else np.broadcast_to(site_args["existing_dc"], (m,)).astype(float)
    ex_ac = np.zeros(m) if site_args.get("existing_ac") is None else np.broadcast_to(site_args["existing_ac"], (m,)).astype(float)
    existing = (ex_dc + ex_ac) > 0
    required = np.asarray(site_args.get("required") if site_args.get("required") is not None else [], dtype=np.int64)
    for k in range(T - 1, -1, -1):
        if k == T - 1:
            cols = np.arange(m)
            extra: dict[str, Any] = {}
        else:
            cols = np.flatnonzero(stations[k + 1] > 0)
            extra = {"max_stations": stations[k + 1][cols],
                     "max_site_dc_ports": dc[k + 1][cols], "max_site_ac_ports": ac[k + 1][cols]}
        args = {key: _sub(v, cols) for key, v in site_args.items() if key != "required"}
        args.update(extra)
        req = np.flatnonzero(np.isin(cols, required))
        mdl = CapacitatedSiting.from_cost_matrix(
            cost[:, cols], E[k], D[k], service_standard_min, required=req if req.size else None, **args)
        res = mdl.solve(time_limit=_year_seconds(deadline, k, T), mip_gap=mip_gap)
        results[k] = res
        stations[k, cols] = res.stations
        dc[k, cols] = res.dc_ports
        ac[k, cols] = res.ac_ports
        served[k] = res.served
        short[k] = res.short
        if k < T - 1 and res.unreachable.size:
            # points the next year's network does not reach although a candidate does: the
            # sites in reach could not hold them then either (capacity, not the standard)
            lost = np.setdiff1d(res.unreachable, unreachable)
            short[k, lost] += E[k, lost]
        if res.flows is not None:
            site_served[k, cols] = np.asarray(res.flows.sum(axis=0)).ravel()
        if k == T - 1:
            unreachable = res.unreachable
        year_results[k] = {"year": years[k], "status": res.status, "objective_cny": round(res.objective, 2),
                           "bound_cny": round(res.bound, 2), "gap": res.gap, "runtime_s": round(res.runtime_s, 3),
                           "candidates": int(cols.size), "message": res.message}
        progress(f"{years[k]}: {int(res.stations.sum()):,} stations, {int(res.dc_ports.sum()):,} DC + "
                 f"{int(res.ac_ports.sum()):,} AC ports, {res.status} (gap {res.gap:.3%}), {res.runtime_s:.0f} s")

    # what each year builds: the capital of its network (existing ports free) minus the year before's
    cum = np.array([r.capital_cny for r in results])
    spend = np.diff(np.concatenate([[0.0], cum]))
    open_any = stations > 0
    first = np.where(open_any.any(axis=0), open_any.argmax(axis=0), -1)
    open_year = np.where(first >= 0, np.asarray(years)[np.maximum(first, 0)], -1)
    open_year = np.where(existing, years[0], open_year)

    demand_total = E.sum(axis=1)
    served_total = served.sum(axis=1)
    share = np.divide(served_total, demand_total, out=np.zeros(T), where=demand_total > 0)
    binding = _binding(years, E, short, unreachable, county_of)
    last = results[-1]
    bound = float(last.bound)
    gap = float(last.gap)
    status = "optimal" if all(r.status == "optimal" for r in results) else "feasible"
    access = " (capital + drivers' access cost; spend counts the capital)" if last.travel_cny else ""
    msg = (f"objective = the last year's network{access}: " + (last.message or "proven optimal")
           + "; earlier years: the least-cost part of the next year's network serving their energy")
    stats = {"method": "nested capacitated (last year first)", "years": year_results,
             "last_year_lp_bound_cny": last.lp_bound}
    return StagedResult(
        "StagedCapacitated", status, float(last.objective), bound, gap,  # objective and bound in one sense
        np.flatnonzero(stations[-1] > 0).astype(np.int64), last.assignment, time.perf_counter() - t0, "highs",
        None, msg, stats,
        years=np.asarray(years, dtype=np.int64), open_year=open_year.astype(np.int64), existing=existing,
        dc_ports=dc, ac_ports=ac, served=served, served_total=served_total, demand_total=demand_total,
        served_share=share, spend=spend, site_served=site_served, total_cost=float(cum[-1]),
        unreachable=unreachable, stations=stations, short=short, year_results=year_results, binding=binding,
    )


def _binding(years: list[int], E: np.ndarray, short: np.ndarray, unreachable: np.ndarray,
             county_of: Sequence[str] | None) -> list[dict]:
    """Per year: which constraint leaves energy unserved, how much (kWh/day) and where."""
    out = []
    labels = None if county_of is None else np.asarray(county_of, dtype=object)
    for k, y in enumerate(years):
        beyond_std = float(E[k, unreachable].sum()) if unreachable.size else 0.0
        beyond_cap = float(short[k].sum())
        kinds = []
        if beyond_cap > 1e-6:
            kinds.append("site capacity")
        if beyond_std > 1e-6:
            kinds.append("service standard")
        where: list[str] = []
        if labels is not None:
            hit = np.zeros(E.shape[1], dtype=bool)
            hit[short[k] > 1e-6] = True
            if unreachable.size:
                hit[unreachable[E[k, unreachable] > 1e-6]] = True
            where = sorted(set(labels[hit].tolist()))
        out.append({"year": y, "constraint": " and ".join(kinds) or "none",
                    "beyond_capacity_kwh_day": round(beyond_cap, 3),
                    "beyond_standard_kwh_day": round(beyond_std, 3), "counties": where})
    return out
