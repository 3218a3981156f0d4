"""Impedance: demand-point x candidate-site travel times in minutes, as a sparse matrix.

The matrix is a ``scipy.sparse.csr_matrix`` of shape (n_demand, n_candidates) that holds only
pairs within the cutoff (the service standard). An absent entry means "not reachable within the
cutoff"; a stored 0.0 is a real zero travel time (a candidate in its own cell). ``inf`` never
appears.

Methods:

- ``great_circle``: geodesic distance (WGS84 ellipsoid) x ``circuity_factor`` /
  ``local_road_speed_kmh`` (both parameters with sources). An approximation, recorded as such
  in the manifest.
- ``expressway``: min(great-circle local-road time, local access leg + ramp + expressway leg
  on the OSM motorway graph + local egress leg); see :mod:`evsiting.network.expressway`.
  Options: ``config`` (a RunConfig: its ``data.motorways`` is used) or ``motorways`` (path),
  ``workers`` (threads).
- ``network``: shortest travel times on an OSM drive graph, plus snap legs at local speed;
  see :func:`evsiting.network.road.network_matrix`. Options: ``graph`` (a prepared
  MultiDiGraph) or ``config`` (a RunConfig with a ``network`` section), ``study_area``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .params import Parameters
from .settings import PROJECTED_CRS

_GEOD = pyproj.Geod(ellps="WGS84")


def _xy(gdf: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    pts = gdf.geometry.to_crs(crs)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def great_circle_matrix(
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    params: Parameters,
    cutoff_min: float,
) -> sp.csr_matrix:
    """Travel minutes = geodesic km x circuity / local speed, for pairs within ``cutoff_min``.

    Args:
        demand: (n,) point GeoDataFrame, any CRS (converted).
        candidates: (m,) point GeoDataFrame, any CRS.
        params: uses ``circuity_factor`` (ratio) and ``local_road_speed_kmh`` (km/h).
        cutoff_min: service standard in minutes (> 0).

    Returns:
        csr_matrix (n, m) of float64 minutes; only pairs with time <= cutoff are stored.
    """
    if cutoff_min <= 0:
        raise ValueError("cutoff_min must be positive")
    circuity = params.value("circuity_factor")
    speed = params.value("local_road_speed_kmh")
    radius_m = cutoff_min / 60.0 * speed / circuity * 1000.0
    n, m = len(demand), len(candidates)
    if n == 0 or m == 0:
        return sp.csr_matrix((n, m))
    # Neighbour search in the province's UTM zone (scale error < 0.1 %), padded by 1 %, then
    # exact geodesic distances on the pairs found.
    tree = cKDTree(_xy(candidates, PROJECTED_CRS))
    pairs = tree.query_ball_point(_xy(demand, PROJECTED_CRS), r=radius_m * 1.01 + 1.0)
    rows = np.repeat(np.arange(n), [len(p) for p in pairs])
    cols = np.fromiter((j for p in pairs for j in p), dtype=np.int64, count=len(rows))
    d_ll = demand.geometry.to_crs("EPSG:4326")
    c_ll = candidates.geometry.to_crs("EPSG:4326")
    _, _, dist_m = _GEOD.inv(d_ll.x.to_numpy()[rows], d_ll.y.to_numpy()[rows], c_ll.x.to_numpy()[cols], c_ll.y.to_numpy()[cols])
    minutes = np.asarray(dist_m) / 1000.0 * circuity / speed * 60.0
    keep = minutes <= cutoff_min
    mat = sp.csr_matrix((minutes[keep], (rows[keep], cols[keep])), shape=(n, m))
    mat.sort_indices()
    return mat


def travel_time_matrix(
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    method: str,
    params: Parameters,
    cutoff_min: float,
    **options,
) -> tuple[sp.csr_matrix, dict]:
    """Dispatch to an impedance method.

    Returns:
        (matrix, info): the csr matrix of minutes (see module doc) and a dict for the manifest
        (``method`` and method-specific facts).

    Raises:
        ValueError: unknown method.
        InputError: missing or unreadable network/motorway file (expressway, network).
    """
    if method == "great_circle":
        mat = great_circle_matrix(demand, candidates, params, cutoff_min)
        info = {
            "method": "great_circle",
            "approximation": True,
            "circuity_factor": params.value("circuity_factor"),
            "local_road_speed_kmh": params.value("local_road_speed_kmh"),
        }
        return mat, info
    if method == "expressway":
        # Province scale: local roads + OSM expressways (evsiting.network.expressway).
        from .network.expressway import DEFAULT_MOTORWAYS, expressway_matrix

        cfg = options.get("config")
        motorways = options.get("motorways") or (cfg.path(cfg.data.motorways) if cfg is not None else DEFAULT_MOTORWAYS)
        return expressway_matrix(demand, candidates, params, cutoff_min, motorways=motorways, workers=options.get("workers"))
    if method == "network":
        # Road graph from OSM (evsiting.network.impedance_network): ``graph=`` a prepared
        # graph, or ``config=`` a RunConfig with a ``network`` section.
        from .network.road import network_matrix

        return network_matrix(demand, candidates, params, cutoff_min, **options)
    raise ValueError(f"unknown impedance method '{method}'")
