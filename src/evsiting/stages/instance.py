"""The one instance builder: study -> demand -> candidates -> travel times, with the gap fill
and (for the capacitated model) the capacity fill, for every command (``run``, ``sweep``,
``plan``, ``batch`` through ``run``, the back-cast through ``run``).

A command opens its :class:`~evsiting.stages.context.RunContext` and its study, then calls
:func:`build_instance`; what differs between commands is a keyword (a plan's demand year and
H3 resolution, its candidates per county), never a copy of the stage calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd

from evsiting.config.params import Parameters
from evsiting.config.schema import RunConfig
from evsiting.stages.context import RunContext
from evsiting.stages.s1_study import Study
from evsiting.stages.s2_demand import Demand, build_demand
from evsiting.stages.s3_candidates import build_candidates
from evsiting.stages.s4_fill import fill_capacity
from evsiting.stages.s4_travel import Reached, TravelProvider, TravelTimes, reach_all_cells, travel_provider
from evsiting.stages.s5_model import cuts_to_standard, standard_of, travel_cutoff_min


@dataclass(frozen=True)
class Instance:
    """A built instance: the study, its demand, the candidates and travel times after the gap
    (and capacity) fill, and the travel-time provider (for later fills and the map's graph).

    ``cells`` (n demand points, WGS84), ``candidates`` (m sites, WGS84) and ``matrix`` (CSR
    (n, m) travel minutes up to ``travel.cutoff_min``; absent = beyond) are shortcuts.
    """

    study: Study
    demand: Demand
    reached: Reached
    provider: TravelProvider
    capacity_filled: int = 0

    @property
    def cells(self) -> gpd.GeoDataFrame:
        """Demand cells (:class:`~evsiting.stages.s2_demand.Demand`)."""
        return self.demand.cells

    @property
    def params(self) -> Parameters:
        """Parameters with the scenario's values applied."""
        return self.demand.params

    @property
    def candidates(self) -> gpd.GeoDataFrame:
        """Candidate sites after the fills (WGS84)."""
        return self.reached.candidates.sites

    @property
    def travel(self) -> TravelTimes:
        """Travel times (matrix, info, cutoff)."""
        return self.reached.travel


def build_instance(cfg: RunConfig, study: Study, ctx: RunContext, *, demand: Demand | None = None,
                   cutoff_min: float | None = None, cut_to_standard: bool | None = None, per_county: int | None = None,
                   osm: bool = True, capacity_fill: bool | None = None) -> Instance:
    """Demand, candidates and travel times of ``cfg`` on ``study``, each stage reported to
    ``ctx`` (``demand``, ``candidates``, ``travel times``).

    Args:
        cfg: the validated run config; study: its study stage.
        ctx: the command's context (progress lines and stage timings).
        demand: a demand stage built by the caller (a plan's last year at its resolution);
            None = :func:`~evsiting.stages.s2_demand.build_demand` of ``cfg``.
        cutoff_min: minutes up to which travel times are kept (default
            :func:`~evsiting.stages.s5_model.travel_cutoff_min` of the model block: the
            largest of the cells' service standards, or ``max_travel_min`` of the assigning
            models).
        cut_to_standard: keep only each cell's pairs within its own standard (default
            :func:`~evsiting.stages.s5_model.cuts_to_standard`: every model but p-median and
            p-center).
        per_county, osm: as :func:`~evsiting.stages.s3_candidates.build_candidates`.
        capacity_fill: run the capacity fill (default: when ``model.type`` is ``capacitated``).

    Returns:
        :class:`Instance`.

    Raises:
        InputError: as the demand, candidates and travel-time stages (nothing is written).
    """
    if demand is None:
        demand = build_demand(study, year=cfg.year, demand=cfg.demand, fleet=cfg.fleet, model=cfg.model)
    cells, params = demand.cells, demand.params
    ctx.done("demand", f"{len(cells):,} cells, {demand.nev_total:,} NEVs")
    cands = build_candidates(cfg.candidates, study, cells, network=cfg.network, per_county=per_county, osm=osm)
    ctx.done("candidates", f"{len(cands.sites):,}")
    provider = travel_provider(cfg.impedance, cfg.network, study.inputs)
    reached = reach(cfg, provider, cells, cands, params, cutoff_min=cutoff_min, cut_to_standard=cut_to_standard)
    fill = cfg.model.type == "capacitated" if capacity_fill is None else capacity_fill
    n_fill, fill_note = 0, ""
    if fill:  # sites at the cells whose energy the sites in reach cannot hold
        reached, n_fill = fill_capacity(cfg.model, provider, cells, reached, params)
        fill_note = f"; capacity fill: {n_fill:,}"
    travel = reached.travel
    within = f"each cell's own standard (up to {travel.cutoff_min:g} min)" if travel.cut else f"{travel.cutoff_min:g} min"
    ctx.done("travel times", f"{travel.matrix.nnz:,} pairs within {within}, {travel.info['method']}; "
                             f"gap fill: {reached.reach.added:,} sites added{fill_note}, "
                             f"{len(reached.candidates.sites):,} in all")
    return Instance(study, demand, reached, provider, n_fill)


def reach(cfg: RunConfig, provider: TravelProvider, cells: gpd.GeoDataFrame, cands, params: Parameters, *,
          cutoff_min: float | None = None, cut_to_standard: bool | None = None) -> Reached:
    """The travel-time stage of :func:`build_instance` without the capacity fill: travel times
    from ``cells`` to ``cands`` (:class:`~evsiting.stages.s3_candidates.Candidates`) and the gap
    fill, with each cell's own service standard (:func:`~evsiting.stages.s5_model.standard_of`,
    minutes). Keywords as :func:`build_instance`.

    Raises:
        InputError: as :meth:`~evsiting.stages.s4_travel.TravelProvider.times`.
    """
    standard = standard_of(cfg.model, cells)  # minutes: one for all, or each cell's own (its zone's)
    if cutoff_min is None:
        cutoff_min = travel_cutoff_min(cfg.model, cells)
    cut = cut_to_standard if cut_to_standard is not None else cuts_to_standard(cfg.model)
    return reach_all_cells(provider, cells, cands, params, cutoff_min, standard_min=standard, cut=cut)
