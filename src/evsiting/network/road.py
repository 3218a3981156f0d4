"""The ``network`` impedance: travel times on an OSM drive graph.

Steps: load (:mod:`.sources`) -> project to one CRS (EPSG:32648 for Guizhou) -> keep the
largest strongly connected component (reporting what was dropped) -> speeds and travel times
(:mod:`.speeds`) -> snap points with a snap limit (:mod:`.snap`) -> bounded search
(:mod:`.matrix`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import scipy.sparse as sp
import shapely

from evsiting.core.errors import InputError
from evsiting.config.params import Parameters
from evsiting.core.settings import PROJECTED_CRS
from .matrix import GraphArrays, graph_to_csr, node_travel_time_matrix
from .snap import check_inside, snap_points
from .sources import buffered_polygon
from .speeds import RoadSpeeds, add_speeds_and_times


@dataclass
class RoadNetwork:
    """A prepared drive graph.

    Attributes:
        graph: projected MultiDiGraph (largest SCC), edges with ``length`` (m), ``speed_kph``
            (km/h) and ``travel_time`` (s).
        arrays: CSR of ``travel_time`` in seconds (:func:`evsiting.network.matrix.graph_to_csr`).
        info: facts for the manifest (source, file hash, counts, dropped, speed coverage).
    """

    graph: nx.MultiDiGraph
    arrays: GraphArrays
    info: dict = field(default_factory=dict)


def largest_scc(G: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, dict]:
    """Keep the largest strongly connected component (``osmnx.truncate.largest_component``).

    Returns:
        (graph, report) with ``components`` (strongly connected, before), ``nodes_dropped``,
        ``edges_dropped``.
    """
    n_comp = nx.number_strongly_connected_components(G)
    H = ox.truncate.largest_component(G, strongly=True)
    report = {
        "strong_components": int(n_comp),
        "nodes_dropped": int(G.number_of_nodes() - H.number_of_nodes()),
        "edges_dropped": int(G.number_of_edges() - H.number_of_edges()),
    }
    return H, report


def prepare_graph(G: nx.MultiDiGraph, crs: str = PROJECTED_CRS, speeds: RoadSpeeds | None = None,
                  info: dict | None = None) -> RoadNetwork:
    """Project, keep the largest SCC, add speeds and travel times, build the CSR.

    Args:
        G: WGS84 (or projected) osmnx MultiDiGraph from :mod:`.sources`; modified copies only.
        crs: target projected CRS (metres). Guizhou: EPSG:32648 for every prefecture, so runs
            are comparable; another region (the Helsinki test) needs its own UTM zone.
        speeds: speed table (default ``data/road_speeds.csv``).
        info: facts to carry (from :func:`.sources.load_graph`).

    Raises:
        InputError: empty graph, edges without length.
    """
    if G.number_of_nodes() == 0:
        raise InputError("the road graph is empty", source="network")
    info = dict(info or {})
    Gp = ox.projection.project_graph(G, to_crs=crs)
    Gp, dropped = largest_scc(Gp)
    speed_info = add_speeds_and_times(Gp, speeds)
    info.update(crs=crs, nodes=Gp.number_of_nodes(), edges=Gp.number_of_edges(), largest_scc=dropped, speeds=speed_info)
    return RoadNetwork(Gp, graph_to_csr(Gp, "travel_time"), info)


def road_matrix(
    net: RoadNetwork,
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    params: Parameters,
    cutoff_min: float,
    *, snap_limit_m: float,
    workers: int | None = None,
) -> tuple[sp.csr_matrix, dict]:
    """Demand x candidate minutes: snap leg + shortest drive time + snap leg, within cutoff.

    Snap legs (point to its node, node to the point) are the snap distance x
    ``circuity_factor`` / ``local_road_speed_kmh`` (parameters). Points beyond
    ``snap_limit_m`` from any node are unreachable (empty row/column).

    Args:
        net: :func:`prepare_graph` output.
        demand, candidates: (n,), (m,) point GeoDataFrames, any CRS.
        params: parameters table.
        cutoff_min: service standard, minutes (> 0).
        snap_limit_m: metres.

    Returns:
        (csr (n, m) float64 minutes, info with counts of unreachable points and snap distance
        quantiles).

    Raises:
        ValueError: cutoff_min <= 0.
        InputError: see :func:`.snap.snap_points`.
    """
    if cutoff_min <= 0:
        raise ValueError("cutoff_min must be positive")
    sd = snap_points(net.graph, demand, snap_limit_m)
    sc = snap_points(net.graph, candidates, snap_limit_m)
    m_per_min = params.value("local_road_speed_kmh") * 1000 / 60 / params.value("circuity_factor")
    leg_d = sd.distance_m / m_per_min
    leg_c = sc.distance_m / m_per_min
    # search to the cutoff less the smallest snap legs, then add the legs and filter
    dn = [n for n in sd.node]
    cn = [n for n in sc.node]
    reach_d = np.array([n is not None for n in dn])
    reach_c = np.array([n is not None for n in cn])
    slack = (leg_d[reach_d].min() if reach_d.any() else 0) + (leg_c[reach_c].min() if reach_c.any() else 0)
    secs = node_travel_time_matrix(net.arrays, dn, cn, max(0.0, cutoff_min - slack) * 60.0, workers).tocoo()
    minutes = secs.data / 60.0 + leg_d[secs.row] + leg_c[secs.col]
    keep = minutes <= cutoff_min
    mat = sp.csr_matrix((minutes[keep], (secs.row[keep], secs.col[keep])), shape=(len(demand), len(candidates)))
    mat.sort_indices()
    q = lambda a: [round(float(x), 1) for x in np.quantile(a, [0.5, 0.9, 1.0])] if len(a) else []  # noqa: E731
    info = {
        "demand_unreachable": sd.n_unreachable,
        "candidates_unreachable": sc.n_unreachable,
        "snap_limit_m": snap_limit_m,
        "snap_m_demand_p50_p90_max": q(sd.distance_m),
        "snap_m_candidates_p50_p90_max": q(sc.distance_m),
        "pairs": int(mat.nnz),
    }
    return mat, info


def network_matrix(demand, candidates, params, cutoff_min, **options) -> tuple[sp.csr_matrix, dict]:
    """``impedance.travel_time_matrix(method="network")``.

    Options:
        graph: a :class:`RoadNetwork`, or an osmnx MultiDiGraph (prepared here with the
            default CRS); else
        config: a RunConfig whose ``network`` section names the source; ``study_area`` (WGS84
            polygon, default: the convex hull of demand and candidate points) is the area loaded,
            buffered by ``network.buffer_m``; candidates outside that are an error. The graph
            is loaded for this call (a caller that needs it again passes ``graph``, as the
            run's travel provider does).
        snap_limit_m: overrides ``config.network.snap_limit_m`` (default 1,000 m).
        workers: threads.

    Returns:
        (csr minutes, info with ``method: network``, network facts and snap facts).

    Raises:
        InputError: no graph and no ``network`` config section; load failures; candidates
            outside the buffered study area (the message says when lon/lat look swapped).
    """
    net = options.get("graph")
    cfg = options.get("config")
    ncfg = getattr(cfg, "network", None) if cfg is not None else None
    snap_limit = options.get("snap_limit_m") or (ncfg.snap_limit_m if ncfg is not None else 1000.0)
    if net is None:
        if ncfg is None:
            raise InputError("impedance 'network' needs a 'network' section", source="config", field="network")
        from .sources import load_graph

        area = options.get("study_area")
        if area is None:
            both = list(demand.geometry.to_crs("EPSG:4326")) + list(candidates.geometry.to_crs("EPSG:4326"))
            area = shapely.MultiPoint(both).convex_hull
        else:
            # a candidate file with lon/lat swapped lands far outside: say so instead of
            # leaving the sites silently unreachable
            check_inside(candidates, buffered_polygon(area, ncfg.buffer_m), "candidates")
        from evsiting.config.inputs import resolve_inputs

        inputs = resolve_inputs(cfg)
        G, info = load_graph(ncfg.source, area, ncfg.buffer_m, inputs.network, inputs.cache_dir, url=ncfg.geofabrik_url)
        net = prepare_graph(G, PROJECTED_CRS, info=info)
    elif isinstance(net, nx.MultiDiGraph):
        net = prepare_graph(net, options.get("crs", PROJECTED_CRS))
    mat, snap_info = road_matrix(net, demand, candidates, params, cutoff_min, snap_limit_m=snap_limit, workers=options.get("workers"))
    info = {"method": "network", "approximation": False, "network": net.info, **snap_info}
    return mat, info
