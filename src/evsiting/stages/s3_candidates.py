"""Stage 3, candidates: candidate sites from the demand cells (per county and per H3 parent),
the county seats, OSM and the user files, with the gap-fill settings that the travel stage
applies once it has the travel times (:func:`evsiting.stages.s4_travel.reach_all_cells`)."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np

from evsiting.candidates import generate as cand
from evsiting.config.inputs import ResolvedInputs
from evsiting.config.schema import CandidatesConfig, NetworkConfig
from evsiting.core.errors import InputError
from .s1_study import Study


@dataclass(frozen=True)
class GapFill:
    """How the travel stage fills the gaps (``candidates.fill_gaps``, ``target_ceiling``,
    ``max_added``; see :func:`evsiting.candidates.generate.reach_all`)."""

    fill: bool = True
    target_ceiling: float = 1.0
    max_added: int | None = None


@dataclass(frozen=True)
class Candidates:
    """Candidate sites (WGS84 points with ``site_id``, ``source``, adcodes, ``name``,
    ``required``), the indices of the required ones (existing stations) and the gap-fill
    settings."""

    sites: gpd.GeoDataFrame
    required: np.ndarray
    gap_fill: GapFill


def build_candidates(cc: CandidatesConfig, study: Study, cells: gpd.GeoDataFrame, *, network: NetworkConfig | None = None,
                     per_county: int | None = None, osm: bool = True) -> Candidates:
    """The generated sites (:func:`evsiting.candidates.generate.generated`: the ``per_county``
    (default ``candidates.per_county`` of the config block ``cc``) most demanded cells of each
    county, the county seats, the most demanded cell of each ``parent_resolution`` parent), OSM
    sites when ``network.osm_candidates`` (and ``osm``; the files of ``study.inputs``), and the
    user files.

    Raises:
        InputError: OSM candidates without an .osm.pbf file or the overpass source;
            ``candidates.parent_resolution`` not coarser than the demand cells.
    """
    seats = study.seats if cc.county_seats else None
    parts = [cand.generated(cells, per_county or cc.per_county, cc.parent_resolution, seats, study.counties, demand_cells=cc.from_demand_cells)]
    if osm and network is not None and network.osm_candidates:
        parts.append(cand.from_osm(osm_candidates(network, study.inputs, study.counties), study.counties))
    sites = cand.combine(parts + study.user_sites)
    return Candidates(sites, np.flatnonzero(sites["required"].to_numpy()), GapFill(cc.fill_gaps, cc.target_ceiling, cc.max_added))


def osm_candidates(ncfg: NetworkConfig, inputs: ResolvedInputs, counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """OSM candidate features (fuel, parking, charging stations, malls, services, bus
    stations) of the study area from the configured network source (``ncfg``; its file and
    cache folder resolved in ``inputs``)."""
    from evsiting.candidates.osm import candidates_from_overpass, candidates_from_pbf
    from ..network.sources import download_extract

    area = counties.geometry.union_all()
    if ncfg.source == "overpass":
        return candidates_from_overpass(area, inputs.cache_dir)
    path = download_extract(ncfg.geofabrik_url, inputs.cache_dir) if ncfg.source == "geofabrik" else inputs.network
    if path.suffix.lower() != ".pbf":
        raise InputError("OSM candidate sites need an .osm.pbf file or the overpass source", source=path, field="network.osm_candidates")
    return candidates_from_pbf(path, area)
