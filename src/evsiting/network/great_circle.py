"""Great-circle travel times: geodesic distance (WGS84 ellipsoid) x ``circuity_factor`` /
``local_road_speed_kmh``, as a sparse demand x candidate matrix of minutes within a cutoff.

The building block of :mod:`evsiting.network.impedance` (method ``great_circle``) and of the local legs
of :mod:`evsiting.network.expressway`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import scipy.sparse as sp
from scipy.spatial import cKDTree

from evsiting.config.params import Parameters
from evsiting.core.settings import PROJECTED_CRS

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
