"""Stage 4, travel times: demand x candidate minutes from the one travel-time provider of a
run, built from the config by :func:`travel_provider` (the only place that reads the
``impedance``/``network``/``data.motorways`` settings).

The provider owns its road graph: loaded once for the first matrix (the area the points
span, buffered by ``network.buffer_m``) and reused by later matrices and by the service-area
isochrones, whether or not the run writes its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import scipy.sparse as sp

from ..config import RunConfig
from ..errors import InputError
from ..impedance import travel_time_matrix
from ..params import Parameters
from ..settings import PROJECTED_CRS, WGS84


@dataclass(frozen=True)
class TravelTimes:
    """csr (n_demand, n_candidates) minutes up to ``cutoff_min`` (absent = beyond) and the
    manifest's ``impedance`` record."""

    matrix: sp.csr_matrix
    info: dict
    cutoff_min: float


@dataclass
class TravelProvider:
    """Travel times by ``method`` (``great_circle``, ``expressway``, ``network``).

    Attributes:
        motorways: motorway lines file (expressway).
        network: the ``network`` settings as plain values (source, path, buffer_m, cache_dir,
            geofabrik_url; network method only).
        snap_limit_m: farthest snap to the road graph, metres.
    """

    method: str
    motorways: Path | None = None
    network: dict | None = None
    snap_limit_m: float = 1000.0
    _graph: object = field(default=None, repr=False)

    def graph(self, points: list) -> object | None:
        """The prepared road graph (network method; loaded on first use for the convex hull
        of ``points`` (WGS84), kept for this provider), else None."""
        if self.method != "network":
            return None
        if self._graph is None:
            import shapely

            from ..network.road import prepare_graph
            from ..network.sources import load_graph

            n = self.network
            area = shapely.MultiPoint(points).convex_hull
            G, info = load_graph(n["source"], area, n["buffer_m"], n["path"], n["cache_dir"], n["geofabrik_url"])
            self._graph = prepare_graph(G, PROJECTED_CRS, info=info)
        return self._graph

    def times(self, demand: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, params: Parameters, cutoff_min: float) -> TravelTimes:
        """Minutes from each demand point to each candidate within ``cutoff_min``.

        Raises:
            InputError: missing or unreadable motorway/network file.
        """
        opts: dict = {}
        if self.method == "expressway":
            opts["motorways"] = self.motorways
        elif self.method == "network":
            pts = list(demand.geometry.to_crs(WGS84)) + list(candidates.geometry.to_crs(WGS84))
            opts.update(graph=self.graph(pts), snap_limit_m=self.snap_limit_m)
        matrix, info = travel_time_matrix(demand, candidates, self.method, params, cutoff_min, **opts)
        return TravelTimes(matrix, info, cutoff_min)


def travel_provider(cfg: RunConfig) -> TravelProvider:
    """The run's provider: road travel times whenever the config names a network (issue #3),
    else ``impedance.method``.

    Raises:
        InputError: ``impedance.method: network`` without a ``network`` section.
    """
    ncfg = cfg.network
    method = "network" if ncfg is not None else cfg.impedance.method
    if method == "network" and ncfg is None:
        raise InputError("impedance 'network' needs a 'network' section", source="config", field="network")
    if ncfg is None:
        return TravelProvider(method, motorways=cfg.path(cfg.data.motorways))
    network = {"source": ncfg.source, "path": cfg.path(ncfg.path) if ncfg.path else None, "buffer_m": ncfg.buffer_m,
               "cache_dir": cfg.path(ncfg.cache_dir), "geofabrik_url": ncfg.geofabrik_url}
    return TravelProvider(method, cfg.path(cfg.data.motorways), network, ncfg.snap_limit_m)
