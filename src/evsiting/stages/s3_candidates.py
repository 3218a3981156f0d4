"""Stage 3, candidates: candidate sites from the demand cells, OSM and the user files."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np

from .. import candidates as cand
from ..config import RunConfig
from ..errors import InputError
from .s1_study import Study


@dataclass(frozen=True)
class Candidates:
    """Candidate sites (WGS84 points with ``site_id``, ``source``, adcodes, ``required``) and
    the indices of the required ones (existing stations)."""

    sites: gpd.GeoDataFrame
    required: np.ndarray


def build_candidates(cfg: RunConfig, study: Study, cells: gpd.GeoDataFrame, *, per_county: int | None = None,
                     osm: bool = True) -> Candidates:
    """The ``per_county`` (default ``candidates.per_county``) most demanded cells of each
    county, OSM sites when ``network.osm_candidates`` (and ``osm``), and the user files.

    Raises:
        InputError: OSM candidates without an .osm.pbf file or the overpass source.
    """
    parts = [cand.from_demand_cells(cells, per_county or cfg.candidates.per_county)] if cfg.candidates.from_demand_cells else []
    if osm and cfg.network is not None and cfg.network.osm_candidates:
        parts.append(cand.from_osm(osm_candidates(cfg, study.counties), study.counties))
    sites = cand.combine(parts + study.user_sites)
    return Candidates(sites, np.flatnonzero(sites["required"].to_numpy()))


def osm_candidates(cfg: RunConfig, counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """OSM candidate features (fuel, parking, charging stations, malls, services, bus
    stations) of the study area from the configured network source."""
    from ..network.candidates_osm import candidates_from_overpass, candidates_from_pbf
    from ..network.sources import download_extract

    ncfg = cfg.network
    area = counties.geometry.union_all()
    if ncfg.source == "overpass":
        return candidates_from_overpass(area, cfg.path(ncfg.cache_dir))
    path = download_extract(ncfg.geofabrik_url, cfg.path(ncfg.cache_dir)) if ncfg.source == "geofabrik" else cfg.path(ncfg.path)
    if path.suffix.lower() != ".pbf":
        raise InputError("OSM candidate sites need an .osm.pbf file or the overpass source", source=path, field="network.osm_candidates")
    return candidates_from_pbf(path, area)
