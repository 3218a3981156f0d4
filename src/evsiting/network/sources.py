"""Load a drive network as an osmnx MultiDiGraph from Overpass, Geofabrik or a local file.

Every source returns the same kind of graph: an osmnx-compatible ``MultiDiGraph`` of the
drive network (one-way streets as single arcs, ``length`` in metres on every edge, ``x``/``y``
on every node), clipped to the study polygon buffered by ``buffer_m`` (so roads just outside
the boundary that serve it are kept), still in WGS84; :func:`prepare_graph` (in
:mod:`evsiting.network.road`) projects it to the one province CRS.

Sources:

- ``overpass``: ``osmnx.graph_from_polygon(network_type="drive")`` with osmnx's response cache
  (``osmnx.settings.use_cache``) in ``cache_dir``;
- ``geofabrik``: the Guizhou extract, downloaded once into ``cache_dir`` (resumed with an HTTP
  Range request, size checked against ``Content-Length`` and MD5 against Geofabrik's ``.md5``
  file), then read as a PBF file;
- ``file``: ``.osm.pbf`` (pyrosm, ``network_type="driving"``, the osmnx drive filter),
  ``.osm``/``.osm.bz2``/``.xml`` (``osmnx.graph_from_xml`` then the osmnx drive filter applied to
  the edges' tags), or ``.graphml`` (``osmnx.load_graphml``, taken as is).
"""

from __future__ import annotations

import bz2
import hashlib
import math
import re
import shutil
import tempfile
import urllib.request
from pathlib import Path

import geopandas as gpd
import networkx as nx
import osmnx as ox
import shapely
from shapely.geometry.base import BaseGeometry

from evsiting.core.errors import InputError
from evsiting.core.filecheck import NETWORKS, check_file_kind, expect_kind, sniff
from evsiting.core.settings import PROJECTED_CRS, WGS84, sha256

#: Guizhou extract (Geofabrik, ODbL data). The ``.md5`` beside it holds its checksum.
GEOFABRIK_GUIZHOU_URL = "https://download.geofabrik.de/asia/china/guizhou-latest.osm.pbf"

#: Highway classes the osmnx ``drive`` filter excludes (osmnx 2.x ``_get_network_filter``).
_DRIVE_EXCLUDED_HIGHWAY = set(
    "abandoned bridleway bus_guideway construction corridor cycleway elevator escalator footway no "
    "path pedestrian planned platform proposed raceway razed rest_area service services steps track".split()
)
_DRIVE_EXCLUDED_SERVICE = {"alley", "driveway", "emergency_access", "parking", "parking_aisle", "private"}


def buffered_polygon(polygon: BaseGeometry, buffer_m: float, crs: str = PROJECTED_CRS) -> BaseGeometry:
    """The WGS84 ``polygon`` buffered by ``buffer_m`` metres (buffered in ``crs``), in WGS84.

    Raises:
        InputError: empty polygon or negative buffer.
    """
    if polygon is None or polygon.is_empty:
        raise InputError("the study polygon is empty", source="network")
    if buffer_m < 0:
        raise InputError("buffer must be >= 0 m", source="config", field="network.buffer_m")
    if buffer_m == 0:
        return polygon
    s = gpd.GeoSeries([polygon], crs=WGS84).to_crs(crs).buffer(buffer_m).to_crs(WGS84)
    return s.iloc[0]


def _is_drivable(data: dict) -> bool:
    def first(v):
        return v[0] if isinstance(v, list) else v

    hw = first(data.get("highway"))
    if not isinstance(hw, str) or hw in _DRIVE_EXCLUDED_HIGHWAY:
        return False
    if first(data.get("area")) == "yes" or first(data.get("access")) == "private":
        return False
    if first(data.get("motor_vehicle")) == "no" or first(data.get("motorcar")) == "no":
        return False
    return first(data.get("service")) not in _DRIVE_EXCLUDED_SERVICE


def drive_filter(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Keep the edges the osmnx ``drive`` filter would keep (by their tags) and the nodes they
    touch. Returns a new graph."""
    H = G.copy()
    H.remove_edges_from([(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if not _is_drivable(d)])
    H.remove_nodes_from([n for n in list(H.nodes) if H.degree(n) == 0])
    return H


def clip_graph(G: nx.MultiDiGraph, polygon: BaseGeometry | None) -> nx.MultiDiGraph:
    """Keep the nodes inside ``polygon`` (WGS84; None keeps all). Uses node ``x``/``y`` (lon/lat)."""
    if polygon is None:
        return G
    nodes = list(G.nodes)
    x = [G.nodes[n]["x"] for n in nodes]
    y = [G.nodes[n]["y"] for n in nodes]
    inside = shapely.contains_xy(polygon, x, y)
    return G.subgraph([n for n, ok in zip(nodes, inside) if ok]).copy()


def graph_from_pbf(path: str | Path, polygon: BaseGeometry | None = None, simplify: bool = True) -> nx.MultiDiGraph:
    """Drive network from an ``.osm.pbf`` with pyrosm, clipped to ``polygon`` (WGS84).

    pyrosm's ``driving`` filter is the osmnx ``drive`` filter; its ``to_graph(...,
    osmnx_compatible=True)`` gives one arc per travel direction (``oneway`` = yes/true/1/-1/
    reverse, roundabouts and motorways one-way) with ``length`` in metres.

    Raises:
        InputError: unreadable file, or no drivable road in it (or in the polygon).
    """
    import pyrosm

    path = Path(path)
    try:
        osm = pyrosm.OSM(str(path), bounding_box=polygon)
        nodes, edges = osm.get_network(network_type="driving", nodes=True)
    except Exception as exc:  # pyrosm raises several types on bad files
        raise InputError(f"cannot read OSM PBF: {exc}", source=path) from None
    if edges is None or len(edges) == 0:
        raise InputError("no drivable roads in the file (within the study area)", source=path)
    G = osm.to_graph(nodes, edges, graph_type="networkx", retain_all=True, osmnx_compatible=True, simplify=simplify)
    G.graph["crs"] = WGS84
    return clip_graph(G, polygon)


def graph_from_osm_xml(path: str | Path, polygon: BaseGeometry | None = None, simplify: bool = True) -> nx.MultiDiGraph:
    """Drive network from ``.osm``/``.xml`` or ``.osm.bz2`` OSM XML with osmnx, clipped.

    ``osmnx.graph_from_xml`` reads every way; the osmnx drive filter is then applied to the
    edges' tags, and the graph is simplified (``osmnx.simplification.simplify_graph``).

    Raises:
        InputError: unreadable file or no drivable road.
    """
    path = Path(path)
    tmp = None
    try:
        if sniff(path) == "bz2":  # by content, whatever the name
            tmp = tempfile.NamedTemporaryFile(suffix=".osm", delete=False)
            with bz2.open(path, "rb") as src, open(tmp.name, "wb") as dst:
                shutil.copyfileobj(src, dst)
            src_path = Path(tmp.name)
        else:
            src_path = path
        G = ox.graph_from_xml(src_path, simplify=False, retain_all=True)
    except Exception as exc:
        raise InputError(f"cannot read OSM XML: {exc}", source=path) from None
    finally:
        if tmp is not None:
            Path(tmp.name).unlink(missing_ok=True)
    G = clip_graph(drive_filter(G), polygon)
    if G.number_of_edges() == 0:
        raise InputError("no drivable roads in the file (within the study area)", source=path)
    if not simplify:
        return G
    # a node where highway class or maxspeed changes is kept (as pyrosm does), so that a
    # merged edge has one class and one speed
    return ox.simplification.simplify_graph(G, edge_attrs_differ=["highway", "maxspeed"])


def graph_from_file(path: str | Path, polygon: BaseGeometry | None = None, simplify: bool = True) -> nx.MultiDiGraph:
    """Drive network from a local file, by its content (OSM XML, bzip2 OSM XML, PBF or GraphML,
    whatever its name), clipped to ``polygon``.

    ``simplify``: merge chains of degree-2 nodes into single edges (osmnx simplification; a
    node where ``highway`` or ``maxspeed`` changes is kept). GraphML is taken as stored.

    Raises:
        InputError: missing file or a folder, another kind of file, unreadable file, a GraphML
            node without coordinates, no drivable road.
    """
    path = Path(path)
    check_file_kind(path, what="a road network file", missing="network file not found", field="network.path")
    kind = expect_kind(path, NETWORKS, "a road network: .osm, .osm.bz2, .osm.pbf or GraphML", field="network.path")
    if kind == "pbf":
        return graph_from_pbf(path, polygon, simplify)
    if kind in ("osm", "bz2"):
        return graph_from_osm_xml(path, polygon, simplify)
    try:
        G = ox.load_graphml(path)
    except Exception as exc:
        raise InputError(f"cannot read GraphML: {exc}", source=path, field="network.path") from None
    for node, data in G.nodes(data=True):
        try:
            ok = all(math.isfinite(float(data[k])) for k in ("x", "y"))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError(f"node {node} has no numeric coordinates (attributes 'x' and 'y'); save the graph with "
                             "osmnx.save_graphml, or give the .osm/.osm.pbf file", source=path, field="network.path")
    if str(G.graph.get("crs", WGS84)).upper() not in (WGS84, "EPSG:4326", "OGC:CRS84"):
        G = ox.projection.project_graph(G, to_latlong=True)
    return clip_graph(G, polygon)


def graph_from_overpass(polygon: BaseGeometry, cache_dir: str | Path) -> nx.MultiDiGraph:
    """Drive network inside ``polygon`` (WGS84, already buffered) from the Overpass API with
    osmnx, responses cached in ``cache_dir`` (``osmnx.settings.use_cache``/``cache_folder``).

    Raises:
        InputError: the download failed (no network, Overpass error) or returned no roads.
    """
    ox.settings.use_cache = True
    ox.settings.cache_folder = str(cache_dir)
    try:
        return ox.graph_from_polygon(polygon, network_type="drive", simplify=True, retain_all=True, truncate_by_edge=True)
    except Exception as exc:
        raise InputError(f"Overpass download failed: {exc}", source="overpass") from None


def _http_get(url: str, headers: dict | None = None, timeout: float = 60):
    req = urllib.request.Request(url, headers={"User-Agent": "evsiting", **(headers or {})})
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - https URL from config


def md5_of(path: Path) -> str:
    """Hex MD5 of a file (Geofabrik publishes MD5 sums)."""
    h = hashlib.md5()  # noqa: S324 - checksum, not security
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_extract(url: str, cache_dir: str | Path, opener=_http_get) -> Path:
    """Download ``url`` into ``cache_dir`` once, resume-safe, checked.

    The file is written to ``NAME.part`` and resumed from its size with an HTTP ``Range``
    request; when complete its size must equal the server's ``Content-Length`` and its MD5
    the one in ``URL.md5`` (when the server publishes one), then it is renamed to ``NAME``.
    An existing ``NAME`` whose ``NAME.md5`` matches is reused without any request.

    Args:
        url: e.g. :data:`GEOFABRIK_GUIZHOU_URL`.
        cache_dir: folder (created).
        opener: ``opener(url, headers) -> response`` (for tests).

    Returns:
        Path of the complete file.

    Raises:
        InputError: download failed, size or checksum mismatch (the partial file is removed
            on a checksum mismatch).
    """
    cache_dir = Path(cache_dir)
    if cache_dir.exists() and not cache_dir.is_dir():
        raise InputError("the download cache folder is a file; give a folder", source=cache_dir, field="network.cache_dir")
    name = url.rstrip("/").rsplit("/", 1)[-1]
    final, part, md5_file = cache_dir / name, cache_dir / (name + ".part"), cache_dir / (name + ".md5")
    if final.exists() and md5_file.exists() and md5_file.read_text().split()[0] == md5_of(final):
        return final
    try:
        expected_md5 = None
        try:
            with opener(url + ".md5", {}) as resp:
                text = resp.read().decode("ascii", "replace")
            m = re.match(r"\s*([0-9a-fA-F]{32})", text)
            expected_md5 = m.group(1).lower() if m else None
        except Exception:
            expected_md5 = None
        start = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        with opener(url, headers) as resp:
            # the cache folder appears only once the server answers: a failed download leaves nothing
            try:
                cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot create the download cache folder: {exc.strerror}", source=cache_dir,
                                 field="network.cache_dir") from None
            status = getattr(resp, "status", 200)
            if start and status != 206:  # server ignored the range: start again
                start = 0
            length = resp.headers.get("Content-Length")
            total = start + int(length) if length is not None else None
            with open(part, "ab" if start else "wb") as fh:
                shutil.copyfileobj(resp, fh, length=1 << 20)
    except InputError:
        raise
    except Exception as exc:
        kept = " (the partial file is kept and resumed next time)" if part.exists() else ""
        raise InputError(f"download of {url} failed{kept}: {exc}; check the address and the connection, or give a local "
                         "extract (network.source: file, network.path)", source="config", field="network.geofabrik_url") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise InputError(f"incomplete download: {size} of {total} bytes (run again to resume)", source=url)
    got = md5_of(part)
    if expected_md5 and got != expected_md5:
        part.unlink()
        raise InputError(f"checksum mismatch: md5 {got}, expected {expected_md5}; removed, run again", source=url)
    part.replace(final)
    md5_file.write_text(f"{got}  {name}\n")
    return final


def load_graph(
    source: str,
    polygon: BaseGeometry,
    buffer_m: float,
    path: str | Path | None = None,
    cache_dir: str | Path = "cache/osm",
    *, url: str = GEOFABRIK_GUIZHOU_URL,
) -> tuple[nx.MultiDiGraph, dict]:
    """Load the drive network of the buffered study polygon from ``source``.

    Args:
        source: ``overpass``, ``geofabrik`` or ``file``.
        polygon: study area, WGS84.
        buffer_m: buffer in metres around the study area.
        path: the file for ``file``.
        cache_dir: osmnx cache / download folder.
        url: the extract for ``geofabrik``.

    Returns:
        (WGS84 MultiDiGraph, info with ``source``, ``file``, ``file_sha256`` when from a file,
        ``nodes``, ``edges``).

    Raises:
        InputError: unknown source, missing path, download or read failure.
    """
    area = buffered_polygon(polygon, buffer_m)
    info: dict = {"source": source, "buffer_m": buffer_m}
    if source == "overpass":
        G = graph_from_overpass(area, cache_dir)
    elif source == "geofabrik":
        file = download_extract(url, cache_dir)
        G = graph_from_file(file, area)
        info.update(file=str(file), url=url)
    elif source == "file":
        if path is None:
            raise InputError("source 'file' needs a path", source="config", field="network.path")
        try:
            G = graph_from_file(path, area)
        except InputError as exc:  # name the key that gave the file
            raise InputError(exc.message, source=exc.source, field=exc.field or "network.path") from None
        info["file"] = str(path)
    else:
        raise InputError(f"unknown network source '{source}'", source="config", field="network.source")
    if "file" in info:
        info["file_sha256"] = sha256(info["file"])
    info.update(nodes=G.number_of_nodes(), edges=G.number_of_edges())
    return G, info
