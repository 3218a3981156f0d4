"""Stage 5, model: the location model named by ``model.type``, chosen from :data:`REGISTRY`.

Each entry is a small adapter ``(block, inputs, solve) -> Solution``: it reads its own config
block (keys validated per type by :mod:`evsiting.config`), builds one model class of
:mod:`evsiting.models` from the travel-time matrix and solves it. Swapping the class behind a
type (e.g. a new capacitated model) is a change to its adapter alone.

=============  =====================================  ==========================================
type           model                                  objective
=============  =====================================  ==========================================
mclp           :class:`~evsiting.models.MCLP`         NEVs (or kWh/day) within the standard
lscp           :class:`~evsiting.models.LSCP`         stations to cover every coverable cell
pmedian        :class:`~evsiting.models.PMedian`      weighted travel minutes to the nearest
pcenter        :class:`~evsiting.models.PCenter`      longest travel minutes to the nearest
capacitated    :class:`~evsiting.models.ChargerSiting`  CNY of sites and DC/AC ports (min_cost)
=============  =====================================  ==========================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import scipy.sparse as sp

from ..errors import InputError
from ..models import LSCP, MCLP, ChargerSiting, LocationResult, PCenter, PMedian
from ..params import Parameters


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
        summary: the model's own summary entries (``p``, objective, ...), in output order.
        detail: one line for the progress report.
    """

    result: LocationResult
    selected: np.ndarray
    assignment: np.ndarray | None = None
    ports: tuple[np.ndarray, np.ndarray] | None = None
    summary: dict = field(default_factory=dict)
    detail: str = ""


def travel_cutoff_min(block: Any) -> float:
    """Minutes up to which the model needs travel times: the service standard, or the
    ``max_travel_min`` of the models that assign every cell (p-median, p-center)."""
    return max(block.service_standard_min, getattr(block, "max_travel_min", 0.0))


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
    res = MCLP.from_cost_matrix(inp.matrix, weights=w, service_radius=block.service_standard_min, p_facilities=p,
                                required=_required(inp)).solve(solver=opt.solver, time_limit=opt.time_limit_s, mip_gap=opt.mip_gap)
    selected = np.asarray(res.selected, dtype=np.int64)
    # MCLP opens at most p stations: once the open ones reach every candidate-coverable NEV,
    # or when a station would only cover NEVs others already cover, the rest are not opened.
    summary = {"p": p, "stations_adding_no_coverage_not_built": p - len(selected)}
    return Solution(res, selected, summary=summary, detail=f"MCLP p={p}, {res.status}, gap {res.gap:.4g}")


def _lscp(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    # cells with no candidate within the standard cannot be covered: weight 0 = no need
    coverable = rows_within(inp.matrix, block.service_standard_min)
    w = np.where(coverable & (inp.cells["nev_count"].to_numpy(dtype=float) > 0), 1.0, 0.0)
    res = LSCP.from_cost_matrix(inp.matrix, block.service_standard_min, weights=w,
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


def capacitated_model(block, inp: ModelInputs) -> ChargerSiting:
    """The model behind ``capacitated`` (the one place to swap its class): least-cost sites and
    integer DC/AC ports serving all public energy within the standard. Port maxima and costs
    are the parameters ``site_max_dc_ports``, ``site_max_ac_ports``, ``site_cost``,
    ``dc_port_cost``, ``ac_port_cost``; a port's kWh/day = charger power x utilisation hours."""
    pr = inp.params
    return ChargerSiting.from_cost_matrix(
        inp.matrix, inp.cells["energy_kwh_day"].to_numpy(dtype=float), block.service_standard_min,
        objective="min_cost",
        max_dc=pr.value("site_max_dc_ports"), max_ac=pr.value("site_max_ac_ports"),
        dc_capacity_kwh=pr.value("dc_charger_power_kw") * pr.value("dc_utilisation_hours"),
        ac_capacity_kwh=pr.value("ac_charger_power_kw") * pr.value("ac_utilisation_hours"),
        site_cost=pr.value("site_cost"), dc_port_cost=pr.value("dc_port_cost"), ac_port_cost=pr.value("ac_port_cost"),
        required=_required(inp),
    )


def _capacitated(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    res = capacitated_model(block, inp).solve(solver=opt.solver, time_limit=opt.time_limit_s, mip_gap=opt.mip_gap)
    selected = np.asarray(res.selected, dtype=np.int64)
    summary = {"objective_cost_cny": round(float(res.objective), 2)}
    return Solution(res, selected, np.asarray(res.assignment, dtype=np.int64), (res.dc_ports, res.ac_ports), summary,
                    detail=f"{res.model}, {len(selected)} stations, {res.objective / 1e6:,.1f} M CNY, {res.status}, gap {res.gap:.4g}")


#: ``model.type`` -> adapter ``(block, ModelInputs, SolveOptions) -> Solution``.
REGISTRY: dict[str, Callable[[Any, ModelInputs, SolveOptions], Solution]] = {
    "mclp": _mclp,
    "lscp": _lscp,
    "pmedian": _pmedian,
    "pcenter": _pcenter,
    "capacitated": _capacitated,
}


def solve_model(block, inp: ModelInputs, opt: SolveOptions) -> Solution:
    """Solve the model of ``block`` (a config model block) with its registry adapter.

    Raises:
        InputError: p above the candidates or below the required stations.
        InfeasibleError, SolverError: from the model.
    """
    return REGISTRY[block.type](block, inp, opt)


def rows_within(matrix: sp.csr_matrix, minutes: float) -> np.ndarray:
    """(n,) bool: the row has a candidate within ``minutes``."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    out = np.zeros(matrix.shape[0], dtype=bool)
    out[rows[matrix.data <= minutes]] = True
    return out
