"""Candidate sites from OSM features (building footprints: :mod:`evsiting.demand.buildings`).

Candidate kinds (OSM tags): ``amenity=fuel``, ``amenity=parking``, ``amenity=charging_station``
(existing stations: ``existing=True``, to be kept as required facilities), ``shop=mall``,
``highway=services``, ``amenity=bus_station``. Polygons (e.g. car parks drawn as areas) are
represented by a point on their surface (``representative_point``, always inside). Read from a
``.osm.pbf`` with pyrosm (``OSM.get_pois(custom_filter=...)``) or from Overpass with
``osmnx.features_from_polygon``.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from evsiting.core.errors import InputError
from evsiting.io.points import read_osm_pbf
from evsiting.core.settings import PROJECTED_CRS, WGS84

#: OSM key -> values taken as candidate sites.
CANDIDATE_TAGS: dict[str, list[str]] = {
    "amenity": ["fuel", "parking", "charging_station", "bus_station"],
    "shop": ["mall"],
    "highway": ["services"],
}

#: Order in which a feature's kind is decided when it has several matching tags.
_KIND_ORDER = [("amenity", "charging_station"), ("amenity", "fuel"), ("highway", "services"),
               ("amenity", "bus_station"), ("shop", "mall"), ("amenity", "parking")]


def _to_candidates(feats: gpd.GeoDataFrame, id_col: str, type_col: str | None) -> gpd.GeoDataFrame:
    cols = ["osm_id", "osm_type", "kind", "name", "existing", "geometry"]
    if feats is None or len(feats) == 0:
        return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=WGS84)
    feats = feats.to_crs(WGS84)
    kind = pd.Series([None] * len(feats), index=feats.index, dtype=object)
    for key, val in reversed(_KIND_ORDER):
        if key in feats.columns:
            kind[feats[key].astype(str) == val] = val
    feats = feats.assign(kind=kind)[kind.notna()]
    geom = feats.geometry.to_crs(PROJECTED_CRS).representative_point().to_crs(WGS84)
    out = gpd.GeoDataFrame(
        {
            "osm_id": feats[id_col].astype("int64").to_numpy(),
            "osm_type": feats[type_col].astype(str).to_numpy() if type_col else "unknown",
            "kind": feats["kind"].to_numpy(),
            "name": feats["name"].to_numpy() if "name" in feats.columns else None,
            "existing": (feats["kind"] == "charging_station").to_numpy(),
        },
        geometry=geom.to_numpy(),
        crs=WGS84,
    )
    out = out.drop_duplicates(["osm_type", "osm_id"]).sort_values(["osm_type", "osm_id"]).reset_index(drop=True)
    return out


def candidates_from_pbf(path: str | Path, polygon: BaseGeometry | None = None) -> gpd.GeoDataFrame:
    """Candidate sites in an ``.osm.pbf`` (pyrosm), inside ``polygon`` (WGS84) when given.

    Returns:
        WGS84 point GeoDataFrame: ``osm_id``, ``osm_type`` (node/way/relation), ``kind``,
        ``name``, ``existing`` (bool, charging stations), sorted by (osm_type, osm_id).

    Raises:
        InputError: missing or unreadable file.
    """
    feats = read_osm_pbf(path, polygon, lambda osm: osm.get_pois(custom_filter=CANDIDATE_TAGS))
    out = _to_candidates(feats, "id", "osm_type")
    if polygon is not None and len(out):
        out = out[shapely.contains_xy(polygon, out.geometry.x.to_numpy(), out.geometry.y.to_numpy())].reset_index(drop=True)
    return out


def candidates_from_overpass(polygon: BaseGeometry, cache_dir: str | Path = "cache/osm") -> gpd.GeoDataFrame:
    """Candidate sites inside ``polygon`` (WGS84) from Overpass (``osmnx.features_from_polygon``,
    responses cached). Same columns as :func:`candidates_from_pbf`.

    Raises:
        InputError: the request failed.
    """
    import osmnx as ox

    ox.settings.use_cache = True
    ox.settings.cache_folder = str(cache_dir)
    try:
        feats = ox.features_from_polygon(polygon, tags=CANDIDATE_TAGS)
    except ox._errors.InsufficientResponseError:
        feats = None
    except Exception as exc:
        raise InputError(f"Overpass request failed: {exc}", source="overpass") from None
    if feats is None:
        return _to_candidates(None, "osm_id", None)
    feats = feats.reset_index()  # index levels element, id
    return _to_candidates(feats.rename(columns={"id": "osm_id", "element": "osm_type"}), "osm_id", "osm_type")
