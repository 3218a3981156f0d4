"""Snap points to the nearest graph node, with a snap limit, and catch points outside the
study area (e.g. a candidate file with longitude and latitude swapped)."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import shapely
from shapely.geometry.base import BaseGeometry

from evsiting.core.errors import InputError
from evsiting.core.settings import WGS84


@dataclass
class Snapped:
    """Result of :func:`snap_points`.

    Attributes:
        node: (n,) object array of node ids; None where the nearest node is farther than the
            snap limit (the point is unreachable, not snapped kilometres away).
        distance_m: (n,) float metres to the nearest node (in the graph's projected CRS),
            also for points beyond the limit.
        snap_limit_m: the limit used (metres).
    """

    node: np.ndarray
    distance_m: np.ndarray
    snap_limit_m: float

    @property
    def n_unreachable(self) -> int:
        """Points beyond the snap limit."""
        return int(sum(n is None for n in self.node))


def snap_points(G: nx.MultiDiGraph, points: gpd.GeoDataFrame, snap_limit_m: float) -> Snapped:
    """Nearest node of a projected graph for each point (``osmnx.distance.nearest_nodes``).

    Args:
        G: MultiDiGraph projected to a metric CRS (``G.graph["crs"]``; see
            :func:`evsiting.network.road.prepare_graph`).
        points: (n,) point GeoDataFrame in any CRS (converted to the graph's).
        snap_limit_m: largest snap distance in metres (> 0).

    Returns:
        :class:`Snapped`.

    Raises:
        InputError: the graph is not projected or empty, or snap_limit_m <= 0, or non-point
            geometries.
    """
    if snap_limit_m <= 0:
        raise InputError("snap limit must be > 0 m", source="config", field="network.snap_limit_m")
    crs = G.graph.get("crs")
    if crs is None or gpd.GeoSeries([], crs=crs).crs.is_geographic:
        raise InputError("snap needs a projected graph", source="network")
    if G.number_of_nodes() == 0:
        raise InputError("the road graph has no nodes", source="network")
    n = len(points)
    if n == 0:
        return Snapped(np.empty(0, dtype=object), np.empty(0), snap_limit_m)
    if not points.geom_type.eq("Point").all():
        raise InputError("expected point geometries", source="points", field="geometry")
    pts = points.geometry.to_crs(crs)
    nodes, dist = ox.distance.nearest_nodes(G, pts.x.to_numpy(), pts.y.to_numpy(), return_dist=True)
    node = np.array(list(nodes), dtype=object)
    dist = np.asarray(dist, dtype=float)
    node[dist > snap_limit_m] = None
    return Snapped(node, dist, snap_limit_m)


def check_inside(points: gpd.GeoDataFrame, area: BaseGeometry, what: str, source: str | None = None) -> None:
    """Raise a clear error when points lie outside the (buffered) study area.

    Args:
        points: point GeoDataFrame, any CRS.
        area: study area, WGS84 (buffer it first if points near the edge are allowed).
        what: name for messages (``candidates``).
        source: file the points came from.

    Raises:
        InputError: some points are outside; the message gives how many, the first row, and
            says when swapping longitude and latitude would put them inside.
    """
    if len(points) == 0:
        return
    ll = points.geometry.to_crs(WGS84)
    x, y = ll.x.to_numpy(), ll.y.to_numpy()
    inside = shapely.contains_xy(area, x, y)
    if inside.all():
        return
    out = np.flatnonzero(~inside)
    first = int(out[0])
    msg = f"{len(out)} of {len(points)} {what} lie outside the study area (first: row {first}, lon {x[first]:.5f}, lat {y[first]:.5f})"
    swapped = shapely.contains_xy(area, y[out], x[out])
    if swapped.mean() > 0.5:
        msg += "; with longitude and latitude swapped they would be inside: check the lon/lat columns"
    raise InputError(msg, source=source or what, field="geometry")
