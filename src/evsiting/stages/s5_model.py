"""Stage 5, model: the location model named by ``model.type``; :data:`REGISTRY` holds the adapter of
each config block class.

Each entry is a small adapter ``(block, inputs, solve) -> Solution``: it reads its own config
block (keys validated per type by :mod:`evsiting.config.schema`), builds one model class of
:mod:`evsiting.models` from the travel-time matrix and solves it. Swapping the class behind a
type (e.g. a new capacitated model) is a change to its adapter alone.

=============  =====================================  ==========================================
type           model                                  objective
=============  =====================================  ==========================================
mclp           :class:`~evsiting.models.MCLP`         NEVs (or kWh/day) within the standard
lscp           :class:`~evsiting.models.LSCP`         stations to cover every coverable cell
pmedian        :class:`~evsiting.models.PMedian`      weighted travel minutes to the nearest
pcenter        :class:`~evsiting.models.PCenter`      longest travel minutes to the nearest
capacitated    :class:`~evsiting.models.capacitated.CapacitatedSiting`  CNY of stations and DC/AC ports
=============  =====================================  ==========================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from evsiting.core.errors import InfeasibleError, InputError
from ..models import LSCP, MCLP, LocationResult, PCenter, PMedian
from ..models.capacitated import CapacitatedSiting
from evsiting.candidates.generate import reached_rows
from evsiting.config.params import Parameters
from evsiting.config.schema import (
    MODEL_CONFIGS,
    CapacitatedConfig,
    LSCPConfig,
    MCLPConfig,
    PCenterConfig,
    PMedianConfig,
)
from evsiting.sizing.port_rule import (
    existing_ports,
    port_capacities,
    power_limit_kwargs,
    station_limits_kw,
    station_power_limit_kw,
    stations_per_site,
)


@dataclass(frozen=True)
class ModelInputs:
    """What every model reads.

    Attributes:
        cells: demand cells (n,) with ``nev_count``, ``energy_kwh_day`` (kWh/day).
        matrix: csr (n, m) travel minutes up to :func:`travel_cutoff_min` (absent = beyond).
        required: int array of candidate indices that must be open (existing stations).
        params: parameters (ports, costs, capacities of the capacitated model).
    """

    cells: gpd.GeoDataFrame
    matrix: sp.csr_matrix
    required: np.ndarray
    params: Parameters
    #: (m,) candidate sites (``site_id``; ``existing_dc``/``existing_ac`` ports when a candidate
    #: file gives them); None = no per-site data (every site one station, nothing installed)
    candidates: gpd.GeoDataFrame | None = None
    #: stations per ``site_id`` of a plan to start from (the capacitated model only, e.g. the
    #: base plan of a sensitivity run: :func:`start_stations_of`); None = the model's own start
    start_stations: pd.Series | None = None


def start_stations_of(inp: ModelInputs) -> np.ndarray | None:
    """(m,) stations per candidate site of ``inp.start_stations`` (0 where a site is not in it),
    or None when there is no start plan or no ``site_id`` to match it by."""
    if inp.start_stations is None or inp.candidates is None or "site_id" not in inp.candidates.columns:
        return None
    ids = inp.candidates["site_id"].astype(str)
    k = ids.map(inp.start_stations.groupby(inp.start_stations.index.astype(str)).sum())
    return k.fillna(0.0).to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class SolveOptions:
    """Solver name (``cbc``/``highs``), time limit (s, None = none) and relative MIP gap."""

    solver: str
    time_limit_s: float | None
    mip_gap: float | None


@dataclass(frozen=True)
class Solution:
    """A solved model, in candidate indices.

    Attributes:
        result: the model's :class:`~evsiting.models.LocationResult` (status, objective, bound, gap).
        selected: int array of the open candidates.
        assignment: (n,) candidate serving each cell or -1; None = the nearest open station
            within the matrix (:mod:`evsiting.stages.s6_sizing` computes it).
        ports: (dc, ac) int arrays per candidate when the model sizes the stations, else None.
        flows: csr (n, m) kWh/day of each cell served at each candidate when the model splits
            cells between stations (capacitated), else None (a cell goes to one station).
        stations: (m,) int stations per candidate when a site may hold several, else None.
        existing: (dc, ac) int arrays per candidate of ports already installed, else None.
        summary: the model's own summary entries (``p``, objective, ...), in output order.
        detail: one line for the progress report.
    """

    result: LocationResult
    selected: np.ndarray
    assignment: np.ndarray | None = None
    ports: tuple[np.ndarray, np.ndarray] | None = None
    summary: dict = field(default_factory=dict)
    detail: str = ""
    flows: sp.csr_matrix | None = None
    stations: np.ndarray | None = None
    existing: tuple[np.ndarray, np.ndarray] | None = None


def travel_cutoff_min(block: Any, cells: pd.DataFrame | None = None) -> float:
    """Minutes up to which the model needs travel times: the service standard (the largest
    of the cells' own, column ``standard_min``, when given), or the ``max_travel_min`` of the
    models that assign every cell (p-median, p-center)."""
    std = float(cells["standard_min"].max()) if cells is not None and "standard_min" in cells.columns and len(cells) else block.service_standard_min
    return max(std, getattr(block, "max_travel_min", 0.0))


def cuts_to_standard(block: Any) -> bool:
    """The model serves a cell only within its standard (its travel matrix may keep only
    those pairs: :func:`evsiting.stages.s4_travel.cut_to_standards`); False for the models
    that assign every cell up to ``max_travel_min`` (p-median, p-center)."""
    return not hasattr(block, "max_travel_min")


def standard_of(block: Any, cells: pd.DataFrame) -> float | np.ndarray:
    """Each cell's service standard in minutes: ``cells["standard_min"]`` (n,) when the cells
    carry it (:func:`evsiting.stages.s2_demand.with_standards`), else the block's
    ``service_standard_min``."""
    if "standard_min" in cells.columns:
        return cells["standard_min"].to_numpy(dtype=float)
    return float(block.service_standard_min)


def station_count(block: Any, inp: ModelInputs) -> int:
    """``p`` of the block, or one station per ``nevs_per_station`` NEVs of the study area.

    Raises:
        InputError: p above the candidates, or below the required (existing) stations.
    """
    n_nev = int(inp.cells["nev_count"].sum())
    p = block.p if block.p is not None else math.ceil(n_nev / block.nevs_per_station)
    m = inp.matrix.shape[1]
    if p > m:
        raise InputError(
            f"p = {p} stations but only {m} candidate sites; lower model.p (or raise "
            "model.nevs_per_station), or raise candidates.per_county",
            source="config",
            field="model.p",
        )
    if len(inp.required) > p:
        raise InputError(f"{len(inp.required)} existing stations are required but p = {p}", source="config", field="model.p")
    return p


def _required(inp: ModelInputs) -> np.ndarray | None:
    return inp.required if len(inp.required) else None


def _mclp(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    p = station_count(block, inp)
    w = inp.cells[block.weight].to_numpy(dtype=float)
    res = MCLP.from_cost_matrix(inp.matrix, weights=w, service_radius=standard_of(block, inp.cells), p_facilities=p,
                                required=_required(inp)).solve(solver=opt.solver, time_limit=opt.time_limit_s, mip_gap=opt.mip_gap)
    selected = np.asarray(res.selected, dtype=np.int64)
    # MCLP opens at most p stations: once the open ones reach every candidate-coverable NEV,
    # or when a station would only cover NEVs others already cover, the rest are not opened.
    summary = {"p": p, "stations_adding_no_coverage_not_built": p - len(selected)}
    return Solution(res, selected, summary=summary, detail=f"MCLP p={p}, {res.status}, gap {res.gap:.4g}")


def _lscp(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    # cells with no candidate within the standard cannot be covered: weight 0 = no need
    standard = standard_of(block, inp.cells)
    coverable = reached_rows(inp.matrix, standard)
    w = np.where(coverable & (inp.cells["nev_count"].to_numpy(dtype=float) > 0), 1.0, 0.0)
    res = LSCP.from_cost_matrix(inp.matrix, standard, weights=w,
                                required=_required(inp)).solve(solver=opt.solver, time_limit=opt.time_limit_s, mip_gap=opt.mip_gap)
    selected = np.asarray(res.selected, dtype=np.int64)
    return Solution(res, selected, summary={"objective_stations": int(round(res.objective))},
                    detail=f"LSCP, {len(selected)} stations, {res.status}, gap {res.gap:.4g}")


def _assigning(cls, block, inp: ModelInputs, opt: SolveOptions, weights: np.ndarray, what: str) -> Solution:
    """p-median / p-center on the cells that reach a candidate within the matrix."""
    p = station_count(block, inp)
    rows = np.flatnonzero(np.diff(inp.matrix.indptr) > 0)
    res = cls.from_cost_matrix(inp.matrix[rows], weights=weights[rows], p_facilities=p,
                               required=_required(inp)).solve(solver=opt.solver, time_limit=opt.time_limit_s, mip_gap=opt.mip_gap)
    selected = np.asarray(res.selected, dtype=np.int64)
    assignment = np.full(inp.matrix.shape[0], -1, dtype=np.int64)
    assignment[rows] = res.assignment
    summary = {
        "p": p,
        what: round(float(res.objective), 6),
        "max_travel_min": block.max_travel_min,
        "demand_cells_beyond_max_travel": int(inp.matrix.shape[0] - len(rows)),
    }
    return Solution(res, selected, assignment, summary=summary,
                    detail=f"{res.model} p={p}, {res.status}, objective {res.objective:.6g}, gap {res.gap:.4g}")


def _pmedian(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    w = inp.cells[block.weight].to_numpy(dtype=float)
    return _assigning(PMedian, block, inp, opt, w, "objective_weighted_travel_min")


def _pcenter(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    w = inp.cells["nev_count"].to_numpy(dtype=float)  # cells without NEVs do not set the longest trip
    return _assigning(PCenter, block, inp, opt, w, "objective_max_travel_min")


#: Relative gap at which the capacitated model stops when the config gives no ``solver.mip_gap``.
CAPACITATED_MIP_GAP = 0.005


def capacitated_model(block, inp: ModelInputs) -> CapacitatedSiting:
    """The model behind ``capacitated`` (the one place to swap its class): least capital cost
    (CNY) of stations and integer DC/AC ports serving all public energy within the standard.

    Port maxima per station and costs are the parameters ``site_max_dc_ports``,
    ``site_max_ac_ports``, ``site_cost``, ``dc_port_cost``, ``ac_port_cost``; a port's kWh/day is
    :func:`port_capacities`; stations per site :func:`stations_per_site`; installed ports
    :func:`existing_ports`; the drivers' access cost :func:`access_cost_rate`; the per-station
    power limit :func:`power_limit_kwargs`; ``budget_cny`` from the block.
    """
    pr = inp.params
    m = inp.matrix.shape[1]
    cap_dc, cap_ac = port_capacities(pr)
    ex_dc, ex_ac = existing_ports(inp.candidates, m)
    power = bool(getattr(block, "power_limit", False))
    k = stations_per_site(inp.candidates, inp.cells, pr, power_limit=power) if inp.candidates is not None else 1
    return CapacitatedSiting.from_cost_matrix(
        inp.matrix, inp.cells["energy_kwh_day"].to_numpy(dtype=float),
        inp.cells["energy_dc_kwh_day"].to_numpy(dtype=float), standard_of(block, inp.cells),
        dc_port_kwh_day=cap_dc, ac_port_kwh_day=cap_ac,
        max_dc_ports=pr.value("site_max_dc_ports"), max_ac_ports=pr.value("site_max_ac_ports"), max_stations=k,
        site_cost_cny=pr.value("site_cost"), dc_port_cost_cny=pr.value("dc_port_cost"), ac_port_cost_cny=pr.value("ac_port_cost"),
        existing_dc=ex_dc, existing_ac=ex_ac,
        allocation_cny_per_kwh_min=access_cost_rate(block, pr), budget_cny=block.budget_cny,
        required=_required(inp), **(power_limit_kwargs(pr, inp.candidates, m) if power else {}),
    )


def access_cost_rate(block, params: Parameters) -> float:
    """CNY per kWh/day served and minute of travel (the capacitated model's allocation cost):
    the block's ``allocation_cny_per_kwh_min``, or when it is None the drivers' access cost
    of the parameters (:func:`evsiting.sizing.costs.access_cny_per_kwh_min`).

    Raises:
        InputError: an access parameter that is negative (the parameter is named).
    """
    v = getattr(block, "allocation_cny_per_kwh_min", 0.0)
    if v is not None:
        return float(v)
    from evsiting.sizing.costs import ACCESS_PARAMETERS, access_cny_per_kwh_min

    try:
        return access_cny_per_kwh_min(params)
    except ValueError as exc:
        raise InputError(str(exc), **params.blame(*ACCESS_PARAMETERS)) from None


def unserved_by_county(cells: gpd.GeoDataFrame, res) -> list[dict]:
    """Public energy (kWh/day) the capacitated plan leaves unserved, per county, with the reason:
    ``beyond_standard_kwh_day`` (no candidate site within the service standard: add candidate
    sites) and ``beyond_capacity_kwh_day`` (the sites within reach cannot hold it at their port
    and station maxima, or the budget does not reach it). Counties with none are left out."""
    e = cells["energy_kwh_day"].to_numpy(dtype=float)
    beyond = np.zeros(len(cells))
    beyond[res.unreachable] = e[res.unreachable]
    df = pd.DataFrame({"adcode": cells["county_adcode"].astype(int).to_numpy(), "county": cells["county_name"].to_numpy(),
                       "beyond_standard_kwh_day": beyond, "beyond_capacity_kwh_day": np.asarray(res.short, dtype=float),
                       "energy_kwh_day": e})
    g = df.groupby(["adcode", "county"], sort=True).sum().reset_index()
    g = g[(g["beyond_standard_kwh_day"] > 1e-6) | (g["beyond_capacity_kwh_day"] > 1e-6)]
    out = []
    for r in g.itertuples(index=False):
        why = []
        if r.beyond_standard_kwh_day > 1e-6:
            why.append("no candidate site within the service standard")
        if r.beyond_capacity_kwh_day > 1e-6:
            why.append("the sites within reach cannot hold it at their port and station maxima (or the budget)")
        out.append({"adcode": int(r.adcode), "county": r.county, "energy_kwh_day": round(float(r.energy_kwh_day), 3),
                    "beyond_standard_kwh_day": round(float(r.beyond_standard_kwh_day), 3),
                    "beyond_capacity_kwh_day": round(float(r.beyond_capacity_kwh_day), 3), "reason": "; ".join(why)})
    return out


def over_power_limit(res, inp: ModelInputs) -> int:
    """Stations of a capacitated result above their grid connection: at each site with stations,
    installed kW (DC ports x ``dc_charger_power_kw`` + AC ports x ``ac_charger_power_kw``) against
    stations x :func:`~evsiting.sizing.port_rule.station_limits_kw` (920 kW with the defaults);
    a site over it counts the stations it would need beyond its own. 0 whenever the model ran
    with ``power_limit``; without it, how many more stations the plan's ports would need."""
    st = np.asarray(res.stations, dtype=float)
    if not st.size or inp.candidates is None:
        return 0
    kw = (np.asarray(res.dc_ports, dtype=float) * inp.params.value("dc_charger_power_kw")
          + np.asarray(res.ac_ports, dtype=float) * inp.params.value("ac_charger_power_kw"))
    lim = station_limits_kw(inp.candidates, st.size, inp.params)
    need = np.ceil(kw / lim - 1e-9)
    return int(np.maximum(need - st, 0).sum())


def _capacitated(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    gap = opt.mip_gap if opt.mip_gap is not None else CAPACITATED_MIP_GAP
    mdl = capacitated_model(block, inp)
    res = mdl.solve(solver=opt.solver, time_limit=opt.time_limit_s, mip_gap=gap, start_stations=start_stations_of(inp))
    selected = np.asarray(res.selected, dtype=np.int64)
    summary = {"objective_cost_cny": round(float(res.objective), 2), "capital_cost_cny": round(res.capital_cny, 2),
               "lp_bound": round(float(res.lp_bound), 2), "mip_gap_target": gap}
    summary["access_cost_cny"] = round(res.travel_cny, 2)  # drivers' time: objective = capital + access
    summary["station_power_limit_kw"] = round(station_power_limit_kw(inp.params), 3)
    summary["power_limit"] = bool(block.power_limit)
    summary["stations_over_power_limit"] = over_power_limit(res, inp)
    summary["allocation_cny_per_kwh_min"] = round(mdl.alpha, 6)
    if block.budget_cny is not None:
        summary["budget_cny"] = block.budget_cny
    summary["unserved_by_county"] = unserved_by_county(inp.cells, res)
    summary["energy_short_kwh_day"] = round(float(res.short.sum()), 3)
    n_st = int(res.stations.sum())
    what = f"{res.objective / 1e6:,.1f} M CNY" if block.budget_cny is None else f"{res.served.sum():,.0f} kWh/day served"
    return Solution(res, selected, np.asarray(res.assignment, dtype=np.int64), (res.dc_ports, res.ac_ports), summary,
                    detail=f"capacitated, {n_st:,} stations at {len(selected):,} sites, {what}, {res.status}, gap {res.gap:.4g}",
                    flows=res.flows, stations=res.stations, existing=(mdl.ex_dc.astype(np.int64), mdl.ex_ac.astype(np.int64)))


#: Config block class -> adapter ``(block, ModelInputs, SolveOptions) -> Solution``. The model
#: names live in one place, :data:`evsiting.config.schema.MODEL_CONFIGS` (``model.type`` ->
#: block class); each block class has exactly one adapter here (checked at import).
REGISTRY: dict[type, Callable[[Any, ModelInputs, SolveOptions], Solution]] = {
    MCLPConfig: _mclp,
    LSCPConfig: _lscp,
    PMedianConfig: _pmedian,
    PCenterConfig: _pcenter,
    CapacitatedConfig: _capacitated,
}
if set(REGISTRY) != set(MODEL_CONFIGS.values()):  # a model type without an adapter, or the reverse
    raise ImportError("evsiting.stages.s5_model.REGISTRY and evsiting.config.schema.MODEL_CONFIGS disagree")


def solve_model(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    """Solve the model of ``block`` (a config model block) with its registry adapter.

    Raises:
        InputError: p above the candidates or below the required stations.
        InfeasibleError, SolverError: from the model.
    """
    try:
        return REGISTRY[type(block)](block, inp, opt)
    except InputError as exc:
        field = _user_field(exc.field, block)
        if field == exc.field:
            raise
        raise InputError(_user_words(exc.message, block), source="config" if exc.source in (None, "config") else exc.source,
                         field=field) from None
    except InfeasibleError as exc:
        text = _user_words(str(exc), block)
        if text == str(exc) or exc.source is not None:
            raise
        keys = [k for k in dict.fromkeys(_internal_names(block).values()) if k in text]
        raise InfeasibleError(text, source="config", field=keys[0] if keys else None) from None


def _internal_names(block) -> dict[str, str]:
    """The models' argument names -> the config keys (dotted, as the user writes them)."""
    p_key = "model.p" if getattr(block, "p", None) is not None else "model.nevs_per_station"
    return {"p_facilities": p_key, "service_radius": "model.service_standard_min", "time_limit": "solver.time_limit_s",
            "mip_gap": "solver.mip_gap", "weights": f"model.{'weight' if hasattr(block, 'weight') else 'type'}",
            "allocation_cny_per_kwh_min": "model.allocation_cny_per_kwh_min", "budget_cny": "model.budget_cny",
            "budget": "model.budget_cny", "service_standard_min": "model.service_standard_min"}


def _user_field(field: str | None, block) -> str | None:
    return _internal_names(block).get(field, field) if field else field


def _user_words(text: str, block) -> str:
    """``text`` with the models' argument names replaced by the config keys."""
    import re

    for name, key in _internal_names(block).items():
        if "_" in name and name != key.rsplit(".", 1)[-1]:  # argument names, not plain words
            text = re.sub(rf"\b{name}\b", key, text)
    return text


def determinism(result: LocationResult, time_limit_s: float | None) -> dict:
    """Whether the plan of ``result`` is the same on every run of the same input
    (``summary.json`` ``determinism``): ``deterministic`` and ``why``.

    The rule: a solve that ends by proof (``optimal``) or at the requested gap is
    deterministic (one thread, fixed seeds, no clock in the search); a solve that any step
    ended at the time limit depends on the clock (the machine's speed and load), so a rerun
    may stop at another plan.
    """
    stats = result.stats or {}
    limited = list(stats.get("time_limited_steps") or [])
    if "time limit" in (result.message or "") and not limited:
        limited = ["solve"]
    if stats.get("full_cover") == "unknown":
        limited.append("full-cover check")
    if not limited:
        why = "proven optimal" if result.status == "optimal" else "stopped at the requested gap"
        return {"deterministic": True, "why": f"{why} before any time limit: fixed seeds and no clock in the search, so the same input gives the same plan"}
    limit = f" of {time_limit_s:g} s" if time_limit_s else ""
    return {"deterministic": False,
            "why": f"stopped at the time limit{limit} ({', '.join(dict.fromkeys(limited))}): the plan depends on how far the "
                   "solver got, so a rerun or another machine may give another; raise solver.time_limit_s (or --time-limit) "
                   "until the status is optimal or the gap target is met"}
