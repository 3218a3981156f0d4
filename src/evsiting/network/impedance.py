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
  ``workers`` (threads), ``networks`` (an :class:`~evsiting.network.expressway.ExpresswayNetworks`
  keeping the built network between calls).
- ``network``: shortest travel times on an OSM drive graph, plus snap legs at local speed;
  see :func:`evsiting.network.road.network_matrix`. Options: ``graph`` (a prepared
  MultiDiGraph) or ``config`` (a RunConfig with a ``network`` section), ``study_area``.
"""

from __future__ import annotations

import geopandas as gpd
import scipy.sparse as sp

from evsiting.network.great_circle import great_circle_matrix
from evsiting.config.params import Parameters

__all__ = ["great_circle_matrix", "travel_time_matrix"]


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
        from evsiting.config.inputs import resolve_inputs
        from evsiting.network.expressway import DEFAULT_MOTORWAYS, expressway_matrix

        cfg = options.get("config")
        motorways = options.get("motorways") or (resolve_inputs(cfg).motorways if cfg is not None else DEFAULT_MOTORWAYS)
        return expressway_matrix(demand, candidates, params, cutoff_min, motorways=motorways, workers=options.get("workers"),
                                 networks=options.get("networks"))
    if method == "network":
        # Road graph from OSM (evsiting.network.impedance_network): ``graph=`` a prepared
        # graph, or ``config=`` a RunConfig with a ``network`` section.
        from evsiting.network.road import network_matrix

        return network_matrix(demand, candidates, params, cutoff_min, **options)
    raise ValueError(f"unknown impedance method '{method}'")
