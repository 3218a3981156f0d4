"""User point files (CSV lon/lat or GeoJSON/GeoPackage) read with a declared coordinate
system and converted to WGS84.

A planner's list of sites exported from Amap or Baidu is in GCJ-02 or BD-09, 300-600 m off
OSM in Guizhou; the declared ``crs`` (``gcj02``, ``bd09`` or ``EPSG:n``) says how to convert.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .coords import normalise_crs_name, to_wgs84
from .errors import InputError
from .settings import WGS84


def read_points(
    path: Path,
    crs: str = "EPSG:4326",
    lon_column: str = "lon",
    lat_column: str = "lat",
    id_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Read points and return them in WGS84 (EPSG:4326).

    Args:
        path: ``.csv`` with ``lon_column``/``lat_column`` in ``crs``, or any vector file
            geopandas reads (its own CRS is ignored for ``gcj02``/``bd09``, which GIS files
            cannot declare; for EPSG codes the file's CRS must agree or be absent).
        crs: declared coordinate system of the coordinates.
        id_column: optional column that must hold unique, non-empty ids.

    Returns:
        GeoDataFrame (n,) of Points in EPSG:4326 with the file's other columns; rows with
        empty coordinates are dropped (their count in ``attrs["dropped_empty"]``).

    Raises:
        InputError: missing file/column, non-numeric coordinates, coordinates that look
            projected (metres) where degrees are declared, duplicate or empty ids, no rows.
    """
    if not path.exists():
        raise InputError("file not found", source=path)
    name = normalise_crs_name(crs)
    if path.suffix.lower() == ".csv":
        try:
            df = pd.read_csv(path)
        except Exception as exc:
            raise InputError(f"cannot read CSV: {exc}", source=path) from None
        for col in (lon_column, lat_column):
            if col not in df.columns:
                raise InputError(f"missing column; columns are {list(df.columns)}", source=path, field=col)
        x = pd.to_numeric(df[lon_column], errors="coerce")
        y = pd.to_numeric(df[lat_column], errors="coerce")
        bad = (x.isna() & df[lon_column].notna()) | (y.isna() & df[lat_column].notna())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise InputError(f"row {row}: coordinates must be numbers", source=path, field=f"{lon_column}/{lat_column}")
        empty = x.isna() | y.isna()
        df = df[~empty].reset_index(drop=True)
        x, y = x[~empty].to_numpy(), y[~empty].to_numpy()
    else:
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:
            raise InputError(f"cannot read: {exc}", source=path) from None
        empty = gdf.geometry.isna() | gdf.geometry.is_empty
        gdf = gdf[~empty].reset_index(drop=True)
        if not (gdf.geom_type == "Point").all():
            raise InputError("expected Point geometries", source=path, field="geometry")
        x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
        df = pd.DataFrame(gdf.drop(columns="geometry"))
        if name not in ("gcj02", "bd09") and gdf.crs is not None:
            name = gdf.crs.to_string()
    if len(df) == 0:
        raise InputError("no points with coordinates", source=path)
    geographic = name in ("gcj02", "bd09") or name == "EPSG:4326"
    if geographic and (np.abs(x).max() > 180 or np.abs(y).max() > 90):
        raise InputError(
            f"coordinates look projected (metres), not degrees, but the declared system is {name}; declare its EPSG code",
            source=path,
            field=f"{lon_column}/{lat_column}",
        )
    if id_column is not None:
        if id_column not in df.columns:
            raise InputError("missing id column", source=path, field=id_column)
        ids = df[id_column]
        if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
            raise InputError("empty id", source=path, field=id_column)
        dup = ids[ids.duplicated()].astype(str).unique().tolist()
        if dup:
            raise InputError(f"duplicate ids {dup[:5]}", source=path, field=id_column)
    lon, lat = to_wgs84(x, y, name)
    out = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
    out.attrs["dropped_empty"] = int(empty.sum())
    out.attrs["declared_crs"] = normalise_crs_name(crs)
    return out
