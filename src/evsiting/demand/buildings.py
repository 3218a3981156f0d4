"""Building footprints as a demand weight inside each county (``demand.building_weights``).

OSM building footprints show where people live and work more sharply than the census kernel
around the county seat. When a building source is configured, each county's NEVs are spread
over its demand cells in proportion to

    (1 - s) x census/kernel share of the cell + s x building share of the cell,

where the census/kernel share is the one :func:`evsiting.demand.cells.build_demand_cells`
computes without buildings (it sums to 1 over the county), the building share is the cell's
footprint area (m², footprints clipped to the cell, planar in EPSG:32648) over the county's,
and ``s`` is the parameter ``demand_building_share`` (``data/parameters.csv``, overridable by
``demand.building_weights.share``). Cells without buildings keep the census part
(1 - s) x share; a county without any building keeps its census shares. The county totals
stay exact (largest remainder).

Sources: a ``.osm.pbf`` (``building=*`` polygons read with pyrosm) or any polygon file that
geopandas reads (GeoJSON, GeoPackage, Shapefile) in a declared coordinate system (an EPSG code,
``gcj02`` or ``bd09``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from evsiting.core.coords import normalise_crs_name, to_wgs84
from evsiting.core.errors import InputError
from evsiting.core.filecheck import VECTORS, check_file_kind, check_geojson_coordinates, expect_kind
from evsiting.io.points import read_osm_pbf
from evsiting.core.settings import PROJECTED_CRS, WGS84

#: Parameter (``data/parameters.csv``) holding the default share of the blend.
SHARE_PARAMETER = "demand_building_share"

_POLYGONS = ("Polygon", "MultiPolygon")


def buildings_from_pbf(path: str | Path, polygon: BaseGeometry | None = None) -> gpd.GeoDataFrame:
    """Building footprints (``building=*`` polygons) from an ``.osm.pbf`` with pyrosm, WGS84.

    Raises:
        InputError: missing or unreadable file.
    """
    b = read_osm_pbf(path, polygon, lambda osm: osm.get_buildings())
    if b is None or len(b) == 0:
        return gpd.GeoDataFrame(geometry=[], crs=WGS84)
    b = b[b.geom_type.isin(["Polygon", "MultiPolygon"])]
    return gpd.GeoDataFrame(geometry=b.geometry.to_numpy(), crs=WGS84)


def footprint_area_m2(cells: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame) -> np.ndarray:
    """Building footprint area inside each cell, m² (planar in EPSG:32648).

    Args:
        cells: (n,) polygon GeoDataFrame (e.g. H3 demand cells), any CRS.
        buildings: building polygons, any CRS.

    Returns:
        (n,) float64 m², in ``cells`` order; 0 where no building (use the census weight
        there: OSM building coverage in Guizhou is patchy).
    """
    return footprint_area(cells, buildings)[0]


def read_buildings(
    path: str | Path,
    crs: str = "EPSG:4326",
    polygon: BaseGeometry | None = None,
    field: str = "demand.building_weights.path",
) -> gpd.GeoDataFrame:
    """Building footprint polygons of a file, in WGS84, optionally only those meeting ``polygon``.

    Args:
        path: ``.osm.pbf`` (``building=*`` ways and relations, read with pyrosm; always WGS84)
            or a polygon file geopandas reads (GeoJSON, GeoPackage, Shapefile ...).
        crs: declared coordinate system of the file: ``EPSG:n``, ``gcj02`` or ``bd09``. A
            file's own CRS must agree with an EPSG declaration (GeoJSON is EPSG:4326); GIS
            files cannot carry ``gcj02``/``bd09``, so for those the file's CRS is ignored and
            the vertices are converted.
        polygon: study area (WGS84); footprints not intersecting it are dropped.
        field: config field named in errors about the file.

    Returns:
        GeoDataFrame (n,) of Polygon/MultiPolygon footprints in EPSG:4326 (geometry only),
        in file order.

    Raises:
        InputError: missing or unreadable file, a PBF declared in another system than
            EPSG:4326, a declared EPSG code contradicting the file's CRS, no building polygon
            (in the file or inside ``polygon``).
    """
    path = Path(path)
    check_file_kind(path, what="building polygons", missing="building file not found", field=field)
    kind = expect_kind(path, VECTORS | {"pbf"}, "building polygons: GeoJSON, GeoPackage, Shapefile or an .osm.pbf", field=field)
    try:
        name = normalise_crs_name(crs)
    except InputError as exc:
        raise InputError(exc.message, source=path, field="demand.building_weights.crs") from None
    if kind == "pbf":
        if name != "EPSG:4326":
            raise InputError(f"an OSM PBF is always in EPSG:4326 (WGS84) but {name} was declared", source=path, field="demand.building_weights.crs")
        try:  # pyrosm filters by the study area's bounding box (fast), the exact test follows
            with warnings.catch_warnings():  # pyrosm warns when the area has no building
                warnings.simplefilter("ignore", UserWarning)
                gdf = buildings_from_pbf(path, None if polygon is None else shapely.box(*polygon.bounds))
        except InputError as exc:
            raise InputError(exc.message, source=path, field=field) from None
        what = "OSM 'building' polygons"
    else:
        if kind == "json":
            check_geojson_coordinates(path)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                gdf = gpd.read_file(path)
        except Exception as exc:
            raise InputError(f"cannot read building file (malformed or unsupported): {str(exc).strip()}", source=path, field=field) from None
        if not isinstance(gdf, gpd.GeoDataFrame) or getattr(gdf, "_geometry_column_name", None) not in gdf.columns:
            raise InputError("the file has no geometry; expected building polygons", source=path, field=field)
        geom = gdf.geometry
        gdf = gpd.GeoDataFrame(geometry=geom[geom.notna() & ~geom.is_empty & geom.geom_type.isin(_POLYGONS)].to_numpy(), crs=gdf.crs)
        if name in ("gcj02", "bd09"):
            gdf = gdf.set_geometry(shapely.transform(gdf.geometry.to_numpy(), lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], name))), crs=WGS84)
        else:
            declared = pyproj.CRS.from_user_input(name)
            if gdf.crs is not None and not gdf.crs.equals(declared, ignore_axis_order=True):
                raise InputError(
                    f"the file's own coordinate system is {gdf.crs.to_string()} but {name} was declared; "
                    "declare the file's system (GeoJSON is always EPSG:4326)",
                    source=path,
                    field="demand.building_weights.crs",
                )
            gdf = gdf.set_crs(declared, allow_override=True).to_crs(WGS84)
        what = "Polygon/MultiPolygon features"
    outside = "no building polygons inside the study area: is it the right file (and coordinate system)?"
    if len(gdf) == 0:
        bbox_filtered = what.startswith("OSM") and polygon is not None
        raise InputError(outside if bbox_filtered else f"no building polygons: the file has no {what}", source=path, field=field)
    if polygon is not None:
        gdf = gdf[shapely.intersects(polygon, gdf.geometry.to_numpy())].reset_index(drop=True)
        if len(gdf) == 0:
            raise InputError(outside, source=path, field=field)
    return gdf.reset_index(drop=True)


def footprint_area(cells: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, crs: str = PROJECTED_CRS) -> tuple[np.ndarray, int]:
    """Building footprint area inside each cell (footprints clipped to the cell), m².

    Args:
        cells: (n,) polygon GeoDataFrame (demand cells), any CRS.
        buildings: footprint polygons, any CRS.
        crs: metric CRS the areas are planar in (default EPSG:32648, UTM 48N, Guizhou's).

    Returns:
        ((n,) float64 m² in ``cells`` order, 0 where no building; number of footprints that
        meet at least one cell). Overlapping footprints (e.g. a building and its parts) are
        each counted.
    """
    out = np.zeros(len(cells))
    if len(cells) == 0 or len(buildings) == 0:
        return out, 0
    c = cells.geometry.to_crs(crs).reset_index(drop=True)
    b = buildings.geometry.to_crs(crs).make_valid().reset_index(drop=True)
    ci, bi = b.sindex.query(c, predicate="intersects")
    if len(ci):
        np.add.at(out, ci, shapely.area(shapely.intersection(c.values[ci], b.values[bi])))
    return out, int(len(np.unique(bi)))


def blend_weights(weight: np.ndarray, building_area: np.ndarray, share: float) -> np.ndarray:
    """One county's cell weights blended with its building footprint area.

    Args:
        weight: (k,) non-negative census/kernel weights of the county's cells (any scale).
        building_area: (k,) footprint area of the cells, m².
        share: weight of the buildings in the blend, 0..1.

    Returns:
        (k,) weights: ``(1 - share) x weight / sum(weight) + share x area / sum(area)``;
        ``weight`` itself (the same array) when ``share`` is 0 or the county has no building.

    Raises:
        ValueError: share outside 0..1.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"building share must be within 0..1, got {share}")
    a = np.asarray(building_area, dtype=float)
    total = a.sum()
    if share == 0.0 or total <= 0.0:
        return weight
    w = np.asarray(weight, dtype=float)
    return (1.0 - share) * w / w.sum() + share * a / total


def building_share(params, override: float | None, source: object = "config") -> tuple[float, str]:
    """The blend share: ``override`` (config ``demand.building_weights.share``) or the
    parameter :data:`SHARE_PARAMETER`, with where it came from.

    Raises:
        InputError: the value is outside 0..1 (a share).
    """
    if override is not None:
        value, where, field = float(override), "config demand.building_weights.share", "demand.building_weights.share"
    else:
        value, where, field = params.value(SHARE_PARAMETER), params[SHARE_PARAMETER].source, f"parameters.{SHARE_PARAMETER}"
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise InputError(f"a share must be within 0..1, got {value:g}", source=source, field=field)
    return value, where
