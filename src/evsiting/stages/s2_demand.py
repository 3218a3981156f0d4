"""Stage 2, demand: the scenario's NEVs spread over H3 demand cells of the study area."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import geopandas as gpd
import numpy as np

from evsiting.config.schema import DemandConfig, FleetConfig
from ..demand import cells as dcells
from ..demand import zones as dzones
from ..demand.segments import province_demand
from evsiting.core.errors import InputError
from evsiting.config.params import Parameters
from .s1_study import Study


@dataclass(frozen=True)
class Demand:
    """Demand cells (WGS84 polygons with ``nev_count``, ``energy_kwh_day``,
    ``energy_dc_kwh_day`` (kWh/day), ``population``, ``zone`` (:mod:`evsiting.demand.zones`),
    ``lon``/``lat``, adcodes), the province NEVs, the fleet
    projection and the parameters with the scenario's values applied."""

    cells: gpd.GeoDataFrame
    nev_province: int
    fleet: dict
    params: Parameters
    #: the study's ``buildings_info`` plus, with footprints, ``footprint_area_m2`` (m²) and
    #: ``cells_with_buildings`` (the manifest's ``building_weights``)
    buildings_info: dict = field(default_factory=dict)

    @property
    def nev_total(self) -> int:
        """NEVs of the study area."""
        return int(self.cells["nev_count"].sum())


def build_demand(study: Study, *, year: int, demand: DemandConfig, fleet: FleetConfig, model,
                 h3_resolution: int | None = None, nev_province: int | None = None) -> Demand:
    """Demand of ``year`` at ``h3_resolution`` (default ``demand.h3_resolution``), for
    ``nev_province`` NEVs in the province (default ``demand.nev_total``, else the fleet
    projection of the year), its cells zoned and given the standards of the ``model`` block
    (:func:`zoned`). The config blocks: ``demand`` (scenario, weights, resolutions),
    ``fleet`` (the projection), ``model`` (the service standards).

    Raises:
        InputError: the demand total of the study area is zero.
    """
    block = demand
    fleet_block = fleet
    fleet = province_demand(year, block.scenario, study.params, fleet_block)
    if nev_province is None:
        nev_province = block.nev_total or fleet["nev_total"]
    weights = dcells.county_weights(study.census, block.weights)
    county_nevs = dcells.allocate_to_counties(nev_province, weights)
    res = h3_resolution or block.h3_resolution
    info: dict = {}

    def cells_of(pieces=None):
        cells_, info_ = demand_cells(study.counties, county_nevs, study.census, study.seats, fleet["params"], h3_resolution=res, fleet=fleet,
                                     buildings=study.buildings, bw_info=study.buildings_info, pieces=pieces)
        info.update(info_)
        return cells_

    cells = cells_of()
    if int(cells["nev_count"].sum()) == 0:
        raise InputError("the demand total of the study area is zero", source="config", field="demand.nev_total")
    cells = zoned(cells, study, fleet["params"], fine_h3_resolution=block.fine_h3_resolution, model=model, rebuild=cells_of)
    return Demand(cells, int(nev_province), fleet, fleet["params"], info)


def demand_cells(counties, county_nevs, census, seats, params: Parameters, *, h3_resolution: int, fleet: dict,
                 buildings: gpd.GeoDataFrame | None, bw_info: dict,
                 pieces: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """:func:`evsiting.demand.cells.build_demand_cells`, weighted by ``buildings`` when given;
    ``pieces``: a partition to use instead of the H3 cells of ``h3_resolution``
    (multi-resolution).

    Returns:
        (the cells, a copy of ``bw_info`` with the footprint area (m²) and the cells with
        buildings added when ``buildings`` is given; ``bw_info`` itself is not changed).
    """
    extra = {} if buildings is None else {"buildings": buildings, "building_share": bw_info["share"]}
    cells = dcells.build_demand_cells(counties, county_nevs, census, seats, params, resolution=h3_resolution, rates=fleet, pieces=pieces, **extra)
    info = dict(bw_info)
    if buildings is not None:
        info["footprint_area_m2"] = round(float(cells["building_area_m2"].sum()), 1)
        info["cells_with_buildings"] = int((cells["building_area_m2"] > 0).sum())
    return cells, info


def building_summary(bw_info: dict) -> dict:
    """The summary's short ``building_weights`` entry (the manifest keeps all of ``bw_info``)."""
    keys = ("used", "share", "footprints", "footprint_area_m2", "cells_with_buildings")
    return {k: bw_info[k] for k in keys if k in bw_info}


def zoned(cells: gpd.GeoDataFrame, study: Study, params: Parameters, *, fine_h3_resolution: int | None, model,
          rebuild: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame] | None = None) -> gpd.GeoDataFrame:
    """``cells`` with their urban ``zone`` (:func:`evsiting.demand.zones.classify_zones`, when
    the study read the zone inputs) and each cell's service standard (:func:`with_standards`).

    With ``fine_h3_resolution`` (``demand.fine_h3_resolution``) finer than the cells and ``rebuild`` (pieces -> demand
    cells, e.g. :func:`demand_cells` with ``pieces=``), the cells of the core and urban zones
    (:data:`evsiting.demand.zones.FINE_ZONES`) are replaced by finer cells
    (:func:`evsiting.demand.zones.refine_pieces`) and the county's vehicles and residents are
    spread again over all its cells (conserved per county); the zones are those of the
    coarse classification.

    Raises:
        InputError: as :func:`with_standards`.
    """
    cells = cells.copy()
    if study.zone_inputs is not None:
        cells["zone"] = dzones.classify_zones(cells, study.census.counties, study.zone_inputs, study.seats, params)
        fine = fine_h3_resolution
        res0 = int(cells["h3_resolution"].max()) if len(cells) else 0
        refine = np.isin(cells["zone"].to_numpy(), dzones.FINE_ZONES)
        if rebuild is not None and fine is not None and fine > res0 and refine.any():
            cells = rebuild(dzones.refine_pieces(cells, refine, fine))
    return with_standards(cells, model, params)


def with_standards(cells: gpd.GeoDataFrame, block, params: Parameters) -> gpd.GeoDataFrame:
    """``cells`` with each cell's service standard (``standard``, ``standard_km``,
    ``standard_min``: :func:`evsiting.demand.zones.cell_standards`): by its ``zone`` when the
    model block says ``zone_standards``, else the block's ``service_standard_min`` for all.

    Raises:
        InputError: ``zone_standards`` without zones; a standard that is not positive.
    """
    zoned = bool(getattr(block, "zone_standards", False))
    if zoned and "zone" not in cells.columns:
        raise InputError("zone_standards needs the urban zones of the cells (data.city_proper)", source="config",
                         field="model.zone_standards")
    std = dzones.cell_standards(cells["zone"].to_numpy() if zoned else np.zeros(len(cells)), params,
                                None if zoned else float(block.service_standard_min))
    out = cells.copy()
    for col in std.columns:
        out[col] = std[col].to_numpy()
    return out


def standards_summary(block, params) -> dict:
    """The summary's service standard: ``service_standard_min`` (minutes; None when each
    cell's standard follows its zone), ``service_standard`` (a line: ``15 min`` or ``by zone:
    core 1 km, ...``) and, by zone, ``service_standards`` ({zone: ``1 km``})."""
    if not getattr(block, "zone_standards", False):
        v = float(block.service_standard_min)
        return {"service_standard_min": v, "service_standard": f"{v:g} min"}
    std = {z: f"{v:g} {u}" for z, (v, u) in dzones.zone_standards(params).items()}
    return {"service_standard_min": None, "service_standard": "by zone: " + ", ".join(f"{z} {t}" for z, t in std.items()),
            "service_standards": std}
