"""The corridor graph and the OD paths between seats, as stops for the FRLM.

Graph: the OSM expressway network (:func:`evsiting.network.expressway.expressway_network_for`,
undirected, lengths in metres, EPSG:32648) plus, for each seat, local-road links to its
``links`` nearest expressway access points, of length straight distance x
``circuity_factor`` (parameter), and to the nearest access point of the largest connected
part of the network (the OSM file has gaps: without it a seat whose nearest access points
lie on a detached fragment could reach no other seat). Each seat is split in a source node (links out) and a sink
node (links in), so no shortest path runs through a third seat over two local links.

Stops of a path: the origin seat, every expressway access point on the path (interchanges,
line ends and the spaced access points standing for local interchanges: the candidate
corridor station sites, where a vehicle can leave the expressway), every service area
(OSM ``highway=services``, when given: snapped to all expressway vertices within
``corridor_services_snap_m``, so both carriageways reach it, one candidate each) and the
destination seat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from evsiting.core.errors import InputError
from ..network.expressway import ExpresswayNetwork
from evsiting.core.settings import PROJECTED_CRS, WGS84
from evsiting.models.frlm import CorridorPath, make_path


@dataclass
class CorridorGraph:
    """Expressway graph with seat links.

    Attributes:
        graph: (K + 2S, K + 2S) directed CSR of lengths in metres; nodes 0..K-1 are the
            expressway nodes, K+s the source and K+S+s the sink of seat s.
        xy: (K + 2S, 2) node coordinates, EPSG:32648 metres.
        access: sorted expressway access node indices.
        n_network: K.
        n_seats: S.
        services: expressway node -> service-area index, for the snapped service areas.
    """

    graph: sp.csr_matrix
    xy: np.ndarray
    access: np.ndarray
    n_network: int
    n_seats: int
    services: dict[int, int] = field(default_factory=dict)

    def add_services(self, points: gpd.GeoDataFrame, snap_m: float) -> np.ndarray:
        """Snap service areas (points, any CRS) to every expressway vertex within ``snap_m``
        metres; returns (n,) bool, snapped or not. A vertex nearer to another service area
        belongs to that one."""
        if len(points) == 0:
            return np.zeros(0, dtype=bool)
        pxy = shapely.get_coordinates(points.to_crs(PROJECTED_CRS).geometry.values)
        tree = cKDTree(self.xy[: self.n_network])
        hits = tree.query_ball_point(pxy, r=snap_m)
        best: dict[int, tuple[float, int]] = {}
        for i, nodes in enumerate(hits):
            for v in nodes:
                d = float(np.hypot(*(self.xy[v] - pxy[i])))
                if v not in best or (d, i) < best[v]:
                    best[v] = (d, i)
        self.services = {v: i for v, (_, i) in sorted(best.items())}
        return np.isin(np.arange(len(points)), list(self.services.values()))

    def source(self, s: int) -> int:
        return self.n_network + s

    def sink(self, s: int) -> int:
        return self.n_network + self.n_seats + s


def corridor_graph(net: ExpresswayNetwork, seats: gpd.GeoDataFrame, circuity: float, links: int) -> CorridorGraph:
    """Add seat source/sink nodes linked to their ``links`` nearest access points.

    Args:
        net: expressway network.
        seats: (S,) points, any CRS.
        circuity: local road distance / straight distance (parameter ``circuity_factor``).
        links: access points linked to each seat (>= 1).

    Raises:
        InputError: no seats, ``links`` < 1, no access points.
    """
    if len(seats) == 0:
        raise InputError("no seats", field="corridors.level")
    if links < 1:
        raise InputError("must be >= 1", field="corridors.seat_links")
    if len(net.access) == 0:
        raise InputError("the expressway network has no access points", field="data.motorways")
    K, S = net.xy.shape[0], len(seats)
    sxy = shapely.get_coordinates(seats.to_crs(PROJECTED_CRS).geometry.values)
    k = min(links, len(net.access))
    dist, idx = cKDTree(net.xy[net.access]).query(sxy, k=k)
    dist, idx = np.atleast_2d(dist.reshape(S, k)), np.atleast_2d(idx.reshape(S, k))
    acc = net.access[idx]
    length = dist * circuity
    # plus the nearest access point of the largest component
    _, label = connected_components(net.length_m, directed=False)
    main = np.bincount(label).argmax()
    acc_main = net.access[label[net.access] == main]
    dm, im = cKDTree(net.xy[acc_main]).query(sxy, k=1)
    acc = np.hstack([acc, acc_main[np.asarray(im).reshape(S, 1)]])
    length = np.hstack([length, np.asarray(dm).reshape(S, 1) * circuity])
    k += 1
    src = np.repeat(K + np.arange(S), k)
    snk = np.repeat(K + S + np.arange(S), k)
    g = net.length_m.tocoo()
    rows = np.concatenate([g.row, src, acc.ravel()])
    cols = np.concatenate([g.col, acc.ravel(), snk])
    vals = np.concatenate([g.data, length.ravel(), length.ravel()])
    vals = np.maximum(vals, 1e-3)  # a seat on an access point: keep the link (explicit zero would be dropped)
    graph = sp.csr_matrix((vals, (rows, cols)), shape=(K + 2 * S, K + 2 * S))
    graph.sum_duplicates()
    xy = np.vstack([net.xy, sxy, sxy])
    return CorridorGraph(graph, xy, np.asarray(net.access), K, S)


@dataclass
class ODPaths:
    """Shortest paths between seat pairs.

    Attributes:
        i, j: (Q,) seat indices of each pair (i < j).
        dist_km: (S, S) shortest-path distances (inf when unreachable; 0 on the diagonal).
        nodes: (Q,) arrays of graph node indices, source of i first, sink of j last
            (empty when unreachable).
    """

    i: np.ndarray
    j: np.ndarray
    dist_km: np.ndarray
    nodes: list[np.ndarray]


def od_paths(cg: CorridorGraph) -> ODPaths:
    """Dijkstra from every seat source; the path of each pair i < j from i's source to j's sink."""
    S = cg.n_seats
    sources = [cg.source(s) for s in range(S)]
    d, pred = dijkstra(cg.graph, directed=True, indices=sources, return_predecessors=True)
    dist = np.full((S, S), np.inf)
    for s in range(S):
        dist[s] = d[s, [cg.sink(t) for t in range(S)]] / 1000.0
    # symmetric graph apart from the seat links, which are symmetric too: use the i<j half
    dist = np.minimum(dist, dist.T)
    np.fill_diagonal(dist, 0.0)
    ii, jj = np.triu_indices(S, k=1)
    nodes = []
    for a, b in zip(ii.tolist(), jj.tolist()):
        target = cg.sink(b)
        if not np.isfinite(d[a, target]):
            nodes.append(np.empty(0, dtype=np.int64))
            continue
        seq = [target]
        while seq[-1] != cg.source(a):
            seq.append(int(pred[a, seq[-1]]))
        nodes.append(np.asarray(seq[::-1], dtype=np.int64))
    return ODPaths(ii, jj, dist, nodes)


def path_stops(cg: CorridorGraph, nodes: np.ndarray, seat_candidates: bool) -> tuple[np.ndarray, np.ndarray]:
    """Stops of one path: (graph node at each stop, km from the origin).

    Stops: the origin seat, the access points on the path in order, the destination seat.
    With ``seat_candidates`` the seat nodes are returned as they are (they can host a
    station); the caller maps graph nodes to candidate indices.
    """
    # lengths of the graph edges used (the local links are longer than the straight step)
    step = np.asarray(cg.graph[nodes[:-1], nodes[1:]]).ravel()
    cum = np.concatenate([[0.0], np.cumsum(step)]) / 1000.0
    is_acc = np.isin(nodes, cg.access)
    if cg.services:
        is_acc |= np.isin(nodes, np.fromiter(cg.services, dtype=np.int64))
    is_acc[0] = is_acc[-1] = True
    keep = np.flatnonzero(is_acc)
    return nodes[keep], cum[keep]


def seat_key(cg: CorridorGraph, node: int) -> int | None:
    """Seat index of a source/sink node, None for an expressway node."""
    if node >= cg.n_network + cg.n_seats:
        return node - cg.n_network - cg.n_seats
    if node >= cg.n_network:
        return node - cg.n_network
    return None


def build_paths(cg: CorridorGraph, od: ODPaths, seat_candidates: bool) -> tuple[list[CorridorPath | None], np.ndarray, np.ndarray, np.ndarray]:
    """FRLM paths over a compact candidate index.

    Returns:
        (paths, cand_node, cand_seat, cand_service): one :class:`CorridorPath` per pair (None
        when unreachable); for each candidate index its expressway node (or -1), seat index
        (or -1) and service-area index (or -1). Candidates are the access points on any path
        (sorted by node), then the service areas on any path (in their order), then, with
        ``seat_candidates``, the seats (in seat order).
    """
    stops = [path_stops(cg, n, seat_candidates) if len(n) else None for n in od.nodes]
    on_paths = {int(v) for s in stops if s is not None for v in s[0][1:-1]}
    used = sorted(v for v in on_paths if v not in cg.services)
    index = {v: k for k, v in enumerate(used)}
    svc_used = sorted({cg.services[v] for v in on_paths if v in cg.services})
    svc_index = {sv: len(used) + k for k, sv in enumerate(svc_used)}
    svc_node = {}
    for v, sv in cg.services.items():
        if v in on_paths:
            svc_node.setdefault(sv, v)
    for v, sv in cg.services.items():
        if sv in svc_index:
            index[v] = svc_index[sv]
    n_acc = len(used) + len(svc_used)
    cand_node = np.array(used + [svc_node[sv] for sv in svc_used] + ([-1] * cg.n_seats if seat_candidates else []), dtype=np.int64)
    cand_seat = np.array([-1] * n_acc + (list(range(cg.n_seats)) if seat_candidates else []), dtype=np.int64)
    cand_service = np.array([-1] * len(used) + svc_used + ([-1] * cg.n_seats if seat_candidates else []), dtype=np.int64)
    paths: list[CorridorPath | None] = []
    for s in stops:
        if s is None:
            paths.append(None)
            continue
        nodes, km = s
        cand = []
        for v in nodes.tolist():
            seat = seat_key(cg, v)
            if seat is None:
                cand.append(index[v])
            else:
                cand.append(n_acc + seat if seat_candidates else -1)
        paths.append(make_path(km, cand))
    return paths, cand_node, cand_seat, cand_service


def path_lines(cg: CorridorGraph, od: ODPaths, simplify_m: float = 50.0) -> gpd.GeoSeries:
    """(Q,) WGS84 LineStrings of the paths (simplified to ``simplify_m`` metres; None when
    unreachable)."""
    geoms = [shapely.linestrings(cg.xy[n]).simplify(simplify_m) if len(n) >= 2 else None for n in od.nodes]
    return gpd.GeoSeries(geoms, crs=PROJECTED_CRS).to_crs(WGS84)
