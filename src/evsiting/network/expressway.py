"""Province-scale travel times over the expressway network, without a full road graph.

Input: OSM ``highway=motorway`` lines (``shared:guizhou_motorways_osm.geojson``, ODbL; see
``../shared/data/SOURCES.md``: each carriageway is a separate line, ways were merged by route
and simplified upstream, and slip roads (``motorway_link``) are not included).

Travel time from demand point i to candidate j, in minutes::

    t(i, j) = min( direct(i, j),
                   min over access points a, b of  local(i, a) + ramp + expressway(a, b) + local(b, j) )

- ``direct`` and ``local`` legs: great-circle distance x ``circuity_factor`` /
  ``local_road_speed_kmh`` (as :func:`evsiting.network.great_circle.great_circle_matrix`).
- ``expressway(a, b)``: shortest path on the motorway graph at ``expressway_speed_kmh``.
- ``ramp``: ``expressway_ramp_time_min`` once per trip that uses the expressway (slip roads and
  toll plaza).

How the graph is built (choices, because the file has no slip roads and merged lines):

- Every vertex of every line is a node; vertices closer than 1 m are merged.
- **Undirected.** Upstream merging and simplification may have reversed lines, so line
  direction is not trusted; both carriageways are kept, each usable both ways. With both
  carriageways present, this changes travel times only by the carriageway offset (tens of
  metres).
- **Line ends are snapped** to the nearest point of another line within
  ``expressway_snap_tolerance_m``: without slip roads, a motorway that ends at a hub
  interchange stops short of the line it joins (measured in the file: 343 of 614 line ends
  touch another line, 547 are within 50 m, 597 within 200 m).
- **Crossings are junctions**: where two lines cross, they are joined. In OSM the main lines
  of a hub interchange cross on different levels and are linked only by the slip roads that
  the file lacks; Chinese expressways crossing each other almost always have a hub
  interchange (assumption; a crossing without one would be given a connection it lacks).
- **Access points** (where a vehicle gets on or off): interchanges (nodes where lines of two
  or more routes, by ``ref``, meet or cross; the two carriageways of one route cross each
  other hundreds of times after the upstream simplification, which is no interchange), line
  ends (dead ends: province border, end of the motorway), and one point every
  ``expressway_access_spacing_km`` along each line standing for the local-road
  interchanges, whose positions the file does not hold. On the shared file (2026-05): 45,810
  nodes, 917 crossings joined, 258 line ends snapped, 1,521 access points, 19 components, the
  largest holding 92 % of the length.

Distances are planar in EPSG:32648 (scale error < 0.1 % in Guizhou).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numba
import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from evsiting.core.errors import InputError
from evsiting.config.params import Parameters
from evsiting.core.settings import PROJECTED_CRS, WGS84, resolve_path, sha256
from .great_circle import great_circle_matrix
from .matrix import arcs_to_csr, bounded_search, default_workers

#: Vertices closer than this are one node (metres): coordinates that differ only by
#: rounding in the upstream GCJ-02 -> WGS84 conversion.
MERGE_TOLERANCE_M = 1.0

DEFAULT_MOTORWAYS = "shared:guizhou_motorways_osm.geojson"


def load_motorway_lines(path: str | Path) -> gpd.GeoDataFrame:
    """Read motorway lines and project them to ``PROJECTED_CRS``.

    Args:
        path: GeoJSON/GeoPackage of (Multi)LineStrings; ``data:``/``shared:`` prefixes allowed.
            A file without a CRS is taken as WGS84.

    Returns:
        GeoDataFrame of single LineStrings in EPSG:32648 (metres), empty/zero-length lines
        dropped, with columns ``line`` (0..L-1) and ``route`` (``ref``, else ``name``, else
        unique per line).

    Raises:
        InputError: missing file, unreadable, no line geometries.
    """
    path = resolve_path(path)
    if not path.exists():
        raise InputError("motorway file not found", source=path)
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several error types
        raise InputError(f"cannot read motorway lines: {exc}", source=path) from None
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    gdf = gdf[gdf.geom_type.isin(["LineString", "MultiLineString"])].explode(index_parts=False)
    gdf = gdf.to_crs(PROJECTED_CRS)
    gdf = gdf[gdf.geometry.length > 0].reset_index(drop=True)
    if gdf.empty:
        raise InputError("no LineString geometries", source=path)
    gdf["line"] = np.arange(len(gdf))
    gdf["route"] = [_route_key(r) for r in gdf.to_dict("records")]
    return gdf[["line", "route", "geometry"]]


def _route_key(rec: dict) -> str:
    """Route of a line: its ``ref`` (e.g. ``G60``), else its ``name``, else the line itself."""
    for key in ("ref", "name"):
        val = rec.get(key)
        if isinstance(val, str) and val.strip():
            return val.strip()
    return f"line{rec['line']}"


def motorways_from_overpass(polygon, out: str | Path, cache_dir: str | Path = "cache/osm") -> Path:
    """Fetch the same layer as ``shared:guizhou_motorways_osm.geojson`` from Overpass.

    ``highway=motorway`` ways inside ``polygon`` (WGS84) via ``osmnx.features_from_polygon``
    (responses cached in ``cache_dir``), written as WGS84 GeoJSON LineStrings with ``osm_id``,
    ``ref``, ``name``, ``highway``. Unlike the shared file these ways are neither merged nor
    simplified; :func:`build_expressway_network` takes either.

    Returns:
        ``out``.

    Raises:
        InputError: the request failed or found no motorway.
    """
    import osmnx as ox

    ox.settings.use_cache = True
    ox.settings.cache_folder = str(cache_dir)
    try:
        feats = ox.features_from_polygon(polygon, tags={"highway": "motorway"})
    except Exception as exc:
        raise InputError(f"Overpass request failed: {exc}", source="overpass") from None
    feats = feats.reset_index()
    feats = feats[feats.geom_type.isin(["LineString", "MultiLineString"])]
    if "highway" in feats.columns:
        feats = feats[feats["highway"] == "motorway"]
    if feats.empty:
        raise InputError("no highway=motorway ways in the polygon", source="overpass")
    cols = {"id": "osm_id"}
    feats = feats.rename(columns=cols)
    keep = [c for c in ("osm_id", "ref", "name", "highway") if c in feats.columns]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame(feats[keep], geometry=feats.geometry, crs=WGS84).to_file(out, driver="GeoJSON")
    return out


@dataclass
class ExpresswayNetwork:
    """The motorway graph.

    Attributes:
        xy: (K, 2) node coordinates, EPSG:32648 metres.
        length_m: (K, K) symmetric CSR of edge lengths in metres.
        access: (A,) sorted node indices where vehicles get on or off.
        info: counts for the manifest (lines, nodes, edges, access points, snapped ends,
            crossings, components, largest component share of length).
    """

    xy: np.ndarray
    length_m: sp.csr_matrix
    access: np.ndarray
    info: dict = field(default_factory=dict)

    def access_points(self) -> gpd.GeoDataFrame:
        """(A,) WGS84 point GeoDataFrame of the access points (column ``node``)."""
        pts = gpd.GeoSeries(shapely.points(self.xy[self.access]), crs=PROJECTED_CRS).to_crs(WGS84)
        return gpd.GeoDataFrame({"node": self.access}, geometry=pts.values, crs=WGS84)


def build_expressway_network(
    lines: gpd.GeoDataFrame,
    snap_tolerance_m: float,
    access_spacing_m: float,
    connect_crossings: bool = True,
) -> ExpresswayNetwork:
    """Build the undirected motorway graph (see the module doc for every choice).

    Args:
        lines: (L,) LineStrings in a projected CRS in metres (:func:`load_motorway_lines`);
            an optional ``route`` column tells which lines belong to one route.
        snap_tolerance_m: line ends within this distance of another line are joined to it
            (metres, >= 0).
        access_spacing_m: one access point every this many metres along each line (> 0).
        connect_crossings: join lines where they cross.

    Returns:
        :class:`ExpresswayNetwork`.

    Raises:
        InputError: bad tolerance or spacing, or no lines.
    """
    if snap_tolerance_m < 0 or not access_spacing_m > 0:
        raise InputError("snap tolerance must be >= 0 and access spacing > 0", source="parameters")
    geoms = list(lines.geometry)
    if not geoms:
        raise InputError("no motorway lines", source="motorways")
    sg = _segments(geoms)
    # Split points: (segment, fraction t), in this order: crossings, snapped line ends, spaced points
    sp_seg: list[np.ndarray] = []
    sp_t: list[np.ndarray] = []
    n_cross = 0
    if connect_crossings:
        i, j, ti, tj = _crossings(sg)
        n_cross = int(len(i))
        sp_seg += [i, j]
        sp_t += [ti, tj]
    # connector edges between a line end and its snap point (index into the split points)
    end_nodes, sj, t, n_touching = _snapped_ends(sg, snap_tolerance_m)
    n_snapped = int(len(sj)) - n_touching
    extra_v_split = []
    if len(sj):
        base = sum(len(s) for s in sp_seg)
        sp_seg.append(sj)
        sp_t.append(t)
        extra_v_split = list(base + np.arange(len(sj)))
    s_seg, s_t = _spaced_points(sg, access_spacing_m)
    spaced_split: list[int] = []
    if len(s_seg):
        base = sum(len(s) for s in sp_seg)
        sp_seg.append(s_seg)
        sp_t.append(s_t)
        spaced_split = list(base + np.arange(len(s_seg)))
    split_seg = np.concatenate(sp_seg) if sp_seg else np.empty(0, np.int64)
    split_t = np.concatenate(sp_t) if sp_t else np.empty(0)
    node_xy, eu, ev, split_node = _chained_edges(sg, split_seg, split_t, list(end_nodes), extra_v_split)
    label, xy, length = _merged_graph(node_xy, eu, ev)
    access = _access_nodes(lines, sg, label, length, split_seg=split_seg,
                           spaced_nodes=split_node[np.asarray(spaced_split, dtype=np.int64)])
    ncomp, comp = connected_components(length, directed=False)
    comp_len = np.bincount(comp[length.tocoo().row], weights=length.tocoo().data / 2, minlength=ncomp)
    info = {
        "lines": len(sg.nv),
        "nodes": len(xy),
        "edges": int(length.nnz // 2),
        "length_km": round(float(length.sum() / 2 / 1000), 1),
        "access_points": int(len(access)),
        "access_points_spaced": int(len(s_seg)),
        "crossings_joined": n_cross,
        "line_ends_snapped": n_snapped,
        "line_ends_touching": n_touching,
        "components": int(ncomp),
        "largest_component_length_share": round(float(comp_len.max() / comp_len.sum()), 4) if comp_len.sum() else 0.0,
        "snap_tolerance_m": snap_tolerance_m,
        "access_spacing_m": access_spacing_m,
        "directed": False,
    }
    return ExpresswayNetwork(xy=xy, length_m=length, access=access, info=info)


@dataclass(frozen=True)
class _Segments:
    """The motorway lines as vertices and straight segments (EPSG:32648 metres): ``nv``
    vertices per line, all vertices ``vxy`` with their line ``vline``, each line's first
    vertex ``vstart``; segment k joins vertex ``seg_a[k]`` (at ``A[k]``) to ``seg_b[k]`` (at
    ``B[k]``) on line ``seg_line[k]``; ``seg_geoms`` and their ``tree``."""

    nv: np.ndarray
    vxy: np.ndarray
    vline: np.ndarray
    vstart: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_line: np.ndarray
    A: np.ndarray
    B: np.ndarray
    seg_geoms: np.ndarray
    tree: shapely.STRtree

    def fractions(self, seg: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Position of points ``P`` (n, 2) along segments ``seg`` (n,), 0..1 (clipped)."""
        d = self.B[seg] - self.A[seg]
        L2 = (d * d).sum(axis=1)
        t = np.where(L2 > 0, ((P - self.A[seg]) * d).sum(axis=1) / np.where(L2 > 0, L2, 1), 0.0)
        return np.clip(t, 0.0, 1.0)


def _segments(geoms: list) -> _Segments:
    """:class:`_Segments` of LineStrings ``geoms`` (L >= 1)."""
    coords = [np.asarray(g.coords)[:, :2] for g in geoms]
    nv = np.array([len(c) for c in coords])
    vxy = np.vstack(coords)  # all vertices
    vline = np.repeat(np.arange(len(coords)), nv)
    vstart = np.concatenate([[0], np.cumsum(nv)[:-1]])
    # segments: vertex k -> k+1 within a line
    is_last = np.zeros(len(vxy), dtype=bool)
    is_last[vstart + nv - 1] = True
    seg_a = np.flatnonzero(~is_last)
    seg_b = seg_a + 1
    A, B = vxy[seg_a], vxy[seg_b]
    seg_geoms = shapely.linestrings(np.stack([A, B], axis=1))
    return _Segments(nv, vxy, vline, vstart, seg_a, seg_b, vline[seg_a], A, B, seg_geoms, shapely.STRtree(seg_geoms))


def _crossings(sg: _Segments) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Proper crossings of segments of different lines: (segment i, segment j, position on
    i, position on j); lines that merely touch at shared vertices merge anyway."""
    i, j = sg.tree.query(sg.seg_geoms, predicate="intersects")
    keep = (i < j) & (sg.seg_line[i] != sg.seg_line[j])
    i, j = i[keep], j[keep]
    inter = shapely.intersection(sg.seg_geoms[i], sg.seg_geoms[j])
    # a point where they cross; for a collinear overlap, its first coordinate
    pts = np.array([np.asarray(g.coords)[0] if not g.is_empty and g.geom_type in ("Point", "LineString") else (np.nan, np.nan)
                    for g in inter]) if len(inter) else np.empty((0, 2))
    ok = np.isfinite(pts).all(axis=1) if len(pts) else np.zeros(0, dtype=bool)
    i, j, pts = i[ok], j[ok], pts[ok]
    ti, tj = sg.fractions(i, pts), sg.fractions(j, pts)
    interior = ((ti > 0) & (ti < 1)) | ((tj > 0) & (tj < 1))
    return i[interior], j[interior], ti[interior], tj[interior]


def _snapped_ends(sg: _Segments, snap_tolerance_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Line ends snapped to the nearest segment of another line within the tolerance:
    (end vertex, segment, position on it, how many of them touch already (closer than
    :data:`MERGE_TOLERANCE_M`))."""
    ends = np.concatenate([sg.vstart, sg.vstart + sg.nv - 1])
    end_pts = shapely.points(sg.vxy[ends])
    pi, sj = sg.tree.query(end_pts, predicate="dwithin", distance=snap_tolerance_m)
    keep = sg.seg_line[sj] != sg.vline[ends[pi]]
    pi, sj = pi[keep], sj[keep]
    if not len(pi):
        return ends[pi], sj, np.empty(0), 0
    dist = shapely.distance(end_pts[pi], sg.seg_geoms[sj])
    order = np.lexsort((sj, dist, pi))
    pi, sj, dist = pi[order], sj[order], dist[order]
    first = np.ones(len(pi), dtype=bool)
    first[1:] = pi[1:] != pi[:-1]
    pi, sj, dist = pi[first], sj[first], dist[first]
    return ends[pi], sj, sg.fractions(sj, sg.vxy[ends[pi]]), int((dist < MERGE_TOLERANCE_M).sum())


def _spaced_points(sg: _Segments, access_spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Access points every ``access_spacing_m`` along each line (from its start, none at its
    end): (segment, position on it)."""
    seg_len = np.hypot(*(sg.B - sg.A).T)
    n_lines = len(sg.nv)
    line_len = np.bincount(sg.seg_line, weights=seg_len, minlength=n_lines)
    seg_cum_end = np.cumsum(seg_len)
    line_first_seg = np.searchsorted(sg.seg_line, np.arange(n_lines))
    s_seg, s_t = [], []
    for li in range(n_lines):
        k = int(line_len[li] // access_spacing_m)
        if line_len[li] % access_spacing_m == 0:
            k -= 1
        if k <= 0:
            continue
        pos = np.arange(1, k + 1) * access_spacing_m
        f = line_first_seg[li]
        offset = seg_cum_end[f - 1] if f > 0 else 0.0
        nseg = sg.nv[li] - 1
        cum = seg_cum_end[f:f + nseg] - offset
        which = np.minimum(np.searchsorted(cum, pos, side="left"), nseg - 1)
        start = np.where(which > 0, cum[which - 1], 0.0)
        tt = np.where(seg_len[f + which] > 0, (pos - start) / np.where(seg_len[f + which] > 0, seg_len[f + which], 1), 0.0)
        s_seg.append(f + which)
        s_t.append(np.clip(tt, 0, 1))
    if not s_seg:
        return np.empty(0, np.int64), np.empty(0)
    return np.concatenate(s_seg), np.concatenate(s_t)


def _chained_edges(sg: _Segments, split_seg: np.ndarray, split_t: np.ndarray, extra_u: list,
                   extra_v_split: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The vertices and split points as nodes, and the edges chaining them along each segment
    (start vertex, split points by position, end vertex) plus the connectors from line ends
    ``extra_u`` to their split points ``extra_v_split``: (node xy, edge ends u, v, node of
    each split point)."""
    split_xy = sg.A[split_seg] + split_t[:, None] * (sg.B[split_seg] - sg.A[split_seg])
    node_xy = np.vstack([sg.vxy, split_xy])
    split_node = len(sg.vxy) + np.arange(len(split_seg))
    n_seg = len(sg.seg_a)
    ev_seg = np.concatenate([np.arange(n_seg), split_seg, np.arange(n_seg)])
    ev_t = np.concatenate([np.zeros(n_seg), split_t, np.ones(n_seg)])
    ev_rank = np.concatenate([np.zeros(n_seg), np.ones(len(split_seg)), np.full(n_seg, 2)])
    ev_node = np.concatenate([sg.seg_a, split_node, sg.seg_b])
    order = np.lexsort((ev_rank, ev_t, ev_seg))
    ev_seg, ev_node = ev_seg[order], ev_node[order]
    same = ev_seg[1:] == ev_seg[:-1]
    eu = np.concatenate([ev_node[:-1][same], np.asarray(extra_u, dtype=np.int64)])
    ev = np.concatenate([ev_node[1:][same], split_node[np.asarray(extra_v_split, dtype=np.int64)]])
    return node_xy, eu, ev, split_node


def _merged_graph(node_xy: np.ndarray, eu: np.ndarray, ev: np.ndarray) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix]:
    """Nodes within :data:`MERGE_TOLERANCE_M` merged (each takes the coordinates of its first
    node): (merged label of each node, (K, 2) xy, (K, K) symmetric CSR of edge lengths in metres)."""
    pairs = cKDTree(node_xy).query_pairs(MERGE_TOLERANCE_M, output_type="ndarray")
    g = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(node_xy),) * 2) if len(pairs) else sp.coo_matrix((len(node_xy),) * 2)
    _, label = connected_components(g, directed=False)
    K = int(label.max()) + 1
    rep = np.full(K, -1, dtype=np.int64)
    rep[label[::-1]] = np.arange(len(label))[::-1]
    xy = node_xy[rep]
    u, v = label[eu], label[ev]
    w = np.hypot(*(xy[u] - xy[v]).T)
    return label, xy, arcs_to_csr(np.concatenate([u, v]), np.concatenate([v, u]), np.concatenate([w, w]), K)


def _access_nodes(lines: gpd.GeoDataFrame, sg: _Segments, label: np.ndarray, length: sp.csr_matrix, *,
                  split_seg: np.ndarray, spaced_nodes: np.ndarray) -> np.ndarray:
    """Access points (sorted merged nodes): line ends (degree 1), interchanges (degree >= 3
    joining lines of two or more routes; the carriageways of one route cross each other often
    after simplification, which is no interchange), and the spaced points ``spaced_nodes``."""
    K = length.shape[0]
    route_names = lines["route"].to_numpy() if "route" in lines else np.arange(len(sg.nv)).astype(str)
    _, route_id = np.unique(route_names.astype(str), return_inverse=True)
    node_route = np.concatenate([route_id[sg.vline], route_id[sg.seg_line[split_seg]]])
    lr = np.unique(np.stack([label, node_route], axis=1), axis=0)
    n_routes = np.bincount(lr[:, 0], minlength=K)
    degree = np.diff(length.indptr)
    access_mask = (degree == 1) | ((degree >= 3) & (n_routes >= 2))
    if len(spaced_nodes):
        access_mask[label[spaced_nodes]] = True
    return np.flatnonzero(access_mask)


@numba.njit(nogil=True, cache=True)
def _three_leg(acc_p, acc_i, acc_d, exp_p, exp_i, exp_d, egr_p, egr_i, egr_d,
               dir_p, dir_i, dir_d, rows, n_access, n_cand, ramp, cutoff):
    """For each demand row: min(direct, access + ramp + expressway + egress) within cutoff."""
    best_b = np.full(n_access, np.inf)
    tb = np.empty(n_access, np.int64)
    cand = np.full(n_cand, np.inf)
    tc = np.empty(n_cand, np.int64)
    cap = 1024
    o_r = np.empty(cap, np.int64)
    o_c = np.empty(cap, np.int64)
    o_v = np.empty(cap, np.float64)
    nout = 0
    for i in rows:
        nb = 0
        for e in range(acc_p[i], acc_p[i + 1]):
            a = acc_i[e]
            t1 = acc_d[e]
            for f in range(exp_p[a], exp_p[a + 1]):
                b = exp_i[f]
                t = t1 + exp_d[f]
                if t + ramp <= cutoff and t < best_b[b]:
                    if best_b[b] == np.inf:
                        tb[nb] = b
                        nb += 1
                    best_b[b] = t
        nc = 0
        for e in range(dir_p[i], dir_p[i + 1]):
            j = dir_i[e]
            if cand[j] == np.inf:
                tc[nc] = j
                nc += 1
            cand[j] = min(cand[j], dir_d[e])
        for k in range(nb):
            b = tb[k]
            t0 = best_b[b] + ramp
            for e in range(egr_p[b], egr_p[b + 1]):
                j = egr_i[e]
                t = t0 + egr_d[e]
                if t <= cutoff and t < cand[j]:
                    if cand[j] == np.inf:
                        tc[nc] = j
                        nc += 1
                    cand[j] = t
            best_b[b] = np.inf
        cols = np.sort(tc[:nc])
        if nout + nc > cap:
            while nout + nc > cap:
                cap *= 2
            t_r = np.empty(cap, np.int64)
            t_c = np.empty(cap, np.int64)
            t_v = np.empty(cap, np.float64)
            for k in range(nout):  # an element loop, not t_r[:nout] = o_r[:nout]: a slice copy
                t_r[k] = o_r[k]  # compiles numba's shape-mismatch message (seconds on a fresh clone)
                t_c[k] = o_c[k]
                t_v[k] = o_v[k]
            o_r, o_c, o_v = t_r, t_c, t_v
        for k in range(nc):
            j = cols[k]
            o_r[nout] = i
            o_c[nout] = j
            o_v[nout] = cand[j]
            nout += 1
            cand[j] = np.inf
    return o_r[:nout].copy(), o_c[:nout].copy(), o_v[:nout].copy()


class ExpresswayNetworks:
    """The expressway networks built for one owner (a run's travel provider), reused while the
    motorway file's bytes (SHA-256) and the two parameters that shape the graph stay the same.
    Holds one network (a province network is large); nothing is shared between owners."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._net: ExpresswayNetwork | None = None

    def get(self, path: Path, digest: str, tol_m: float, spacing_m: float) -> ExpresswayNetwork:
        """The network of ``path`` (content ``digest``), built on the first call for this key."""
        key = (digest, tol_m, spacing_m)
        if self._net is None or self._key != key:
            self._net = build_expressway_network(load_motorway_lines(path), tol_m, spacing_m)
            self._key = key
        return self._net


def expressway_network_for(path: str | Path, params: Parameters,
                           networks: ExpresswayNetworks | None = None) -> tuple[ExpresswayNetwork, Path, str]:
    """Load and build the expressway network (reused from ``networks`` when it holds the one of
    this file content and these parameters; built afresh without ``networks``).

    Uses parameters ``expressway_snap_tolerance_m`` (m) and ``expressway_access_spacing_km``
    (km). Returns (network, resolved path, file sha256).

    Raises:
        InputError: missing/unreadable file, unknown parameter.
    """
    path = resolve_path(path)
    if not path.exists():
        raise InputError("motorway file not found", source=path, field="data.motorways")
    digest = sha256(path)
    tol = params.value("expressway_snap_tolerance_m")
    spacing = params.value("expressway_access_spacing_km") * 1000.0
    if networks is None:
        return build_expressway_network(load_motorway_lines(path), tol, spacing), path, digest
    return networks.get(path, digest, tol, spacing), path, digest


def expressway_matrix(
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    params: Parameters,
    cutoff_min: float,
    motorways: str | Path = DEFAULT_MOTORWAYS,
    *, workers: int | None = None,
    networks: ExpresswayNetworks | None = None,
) -> tuple[sp.csr_matrix, dict]:
    """Demand x candidate travel minutes via local roads and expressways (module doc).

    Args:
        demand: (n,) point GeoDataFrame, any CRS.
        candidates: (m,) point GeoDataFrame, any CRS.
        params: ``circuity_factor`` (ratio), ``local_road_speed_kmh``, ``expressway_speed_kmh``
            (km/h), ``expressway_ramp_time_min`` (min), ``expressway_snap_tolerance_m`` (m),
            ``expressway_access_spacing_km`` (km); each with its source in
            ``data/parameters.csv``.
        cutoff_min: service standard in minutes (> 0); pairs above it are absent.
        motorways: motorway lines file (default ``shared:guizhou_motorways_osm.geojson``).
        workers: threads (default all CPUs this process may use).
        networks: where the built network is kept between calls (default: built for this call).

    Returns:
        (csr (n, m) float64 minutes, info dict for the manifest: method, file, sha256, network
        counts, parameters, ``pairs``, ``pairs_via_expressway``).

    Raises:
        ValueError: cutoff_min <= 0.
        InputError: motorway file missing or unreadable.
    """
    if cutoff_min <= 0:
        raise ValueError("cutoff_min must be positive")
    net, path, digest = expressway_network_for(motorways, params, networks)
    speed = params.value("expressway_speed_kmh")
    ramp = params.value("expressway_ramp_time_min")
    n, m = len(demand), len(candidates)
    direct = great_circle_matrix(demand, candidates, params, cutoff_min)
    leg_cut = cutoff_min - ramp
    info = {
        "method": "expressway",
        "approximation": True,
        "motorways": str(path),
        "motorways_sha256": digest,
        "network": dict(net.info),
        "circuity_factor": params.value("circuity_factor"),
        "local_road_speed_kmh": params.value("local_road_speed_kmh"),
        "expressway_speed_kmh": speed,
        "expressway_ramp_time_min": ramp,
    }
    if n == 0 or m == 0 or leg_cut <= 0 or len(net.access) == 0:
        info.update(pairs=int(direct.nnz), pairs_via_expressway=0)
        return direct, info
    ap = net.access_points()
    acc = great_circle_matrix(demand, ap, params, leg_cut)
    egr = great_circle_matrix(ap, candidates, params, leg_cut)
    minutes = net.length_m.copy()
    minutes.data = minutes.data / 1000.0 / speed * 60.0
    exp = bounded_search(minutes, net.access, net.access, leg_cut, workers)
    workers = workers or default_workers()
    chunks = np.array_split(np.arange(n, dtype=np.int64), max(1, min(n, 8 * workers)))
    arrs = [np.ascontiguousarray(x) for x in (acc.indptr, acc.indices, acc.data, exp.indptr, exp.indices, exp.data,
                                              egr.indptr, egr.indices, egr.data, direct.indptr, direct.indices, direct.data)]
    arrs = [a.astype(np.int64) if a.dtype.kind == "i" else a.astype(np.float64) for a in arrs]

    def run(rows):
        return _three_leg(*arrs, rows, len(ap), m, float(ramp), float(cutoff_min))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(run, chunks))
    r = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    v = np.concatenate([p[2] for p in parts])
    mat = sp.csr_matrix((v, (r, c)), shape=(n, m))
    mat.sort_indices()
    # pairs whose time beats the direct one (or that only the expressway reaches)
    mc, dc = mat.tocoo(), direct.tocoo()
    mk = mc.row.astype(np.int64) * m + mc.col
    dk = dc.row.astype(np.int64) * m + dc.col
    pos = np.minimum(np.searchsorted(dk, mk), max(len(dk) - 1, 0))
    found = (dk[pos] == mk) if len(dk) else np.zeros(len(mk), dtype=bool)
    faster = ~found | (mc.data < (dc.data[pos] if len(dk) else 0))
    info.update(pairs=int(mat.nnz), pairs_via_expressway=int(faster.sum()))
    return mat, info
