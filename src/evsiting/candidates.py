"""Candidate sites: where a charging station may be built.

By default the demand points of the most demanded cells of each county (``per_county``; all
cells when None), plus any user files of sites (read with their declared coordinate system).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError
from .settings import WGS84

CANDIDATE_COLUMNS = ["site_id", "source", "county_adcode", "prefecture_adcode", "name"]


def from_demand_cells(cells: gpd.GeoDataFrame, per_county: int | None) -> gpd.GeoDataFrame:
    """Candidate sites at the demand points of the ``per_county`` cells with most NEVs in
    each county (ties: lower ``demand_id``), or all cells with NEVs when ``per_county`` is None.

    Args:
        cells: demand cells from :func:`evsiting.demand.cells.build_demand_cells`.

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS`; ``site_id`` = ``c-<demand_id>``.
    """
    df = cells[cells["nev_count"] > 0].sort_values(["county_adcode", "nev_count", "demand_id"], ascending=[True, False, True])
    if per_county is not None:
        df = df.groupby("county_adcode", sort=True).head(per_county)
    return gpd.GeoDataFrame(
        {
            "site_id": "c-" + df["demand_id"],
            "source": "demand_cell",
            "county_adcode": df["county_adcode"].astype(int),
            "prefecture_adcode": df["prefecture_adcode"].astype(int),
            "name": None,
        },
        geometry=gpd.points_from_xy(df["lon"], df["lat"]),
        crs=WGS84,
    )


def from_points(
    points: gpd.GeoDataFrame,
    counties: gpd.GeoDataFrame,
    source: str,
    id_column: str | None,
    name_column: str | None,
    region: gpd.GeoDataFrame | None = None,
    region_name: str = "the province",
    port_columns: dict[str, str | None] | None = None,
) -> gpd.GeoDataFrame:
    """Candidate sites from a user point layer (WGS84), tagged with their county.

    Args:
        points: from :func:`evsiting.inputs.read_points` (its ``attrs["source_rows"]`` name
            the file's rows in messages).
        counties: the study area's county polygons (WGS84) with ``adcode`` and
            ``prefecture_adcode``.
        source: the file, for messages and the ``source`` column.
        region: optional wider area the file may cover (the province's counties, when the
            run is restricted to some prefectures): points inside ``region`` but outside the
            study area are skipped, their count in ``attrs["skipped_outside"]``, so one
            province-wide file serves every prefecture run; ``region_name`` names it in
            messages.

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS`; ``site_id`` = ``u-<id>``
        (``u-<file stem>-<row>`` without an id column).

    Raises:
        InputError: a point lies outside the study area (and outside ``region``), naming
            how many, the first row and its coordinates, with a hint when swapping lon/lat
            would put them inside; an id or name column that is missing.
    """
    rows_all = points.attrs.get("source_rows") or list(range(2, len(points) + 2))
    joined = gpd.sjoin(points, counties[["adcode", "prefecture_adcode", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    outside = joined["adcode"].isna().to_numpy()
    skipped = 0
    if outside.any() and region is not None:
        in_region = points.geometry.within(region.geometry.union_all()).to_numpy()
        skip = outside & in_region
        skipped = int(skip.sum())
        keep = ~skip
        points = points[keep]
        joined = joined[keep]
        outside = outside[keep]
        rows_all = [r for r, k in zip(rows_all, keep) if k]
    if outside.any():
        rows = rows_all
        area_gdf = region if region is not None else counties
        idx = np.flatnonzero(outside)
        first = int(idx[0])
        p = points.geometry.iloc[first]
        out_pts = points.geometry.iloc[idx]
        swapped = gpd.GeoSeries(gpd.points_from_xy(out_pts.y, out_pts.x), crs=WGS84)
        area = area_gdf.geometry.union_all()
        n_swap = int(swapped.within(area).sum())
        hint = ""
        if n_swap:
            hint = (f"; swapping longitude and latitude would put {n_swap} of them inside: "
                    "are the lon/lat columns swapped?")
        b = area_gdf.total_bounds
        raise InputError(
            f"{len(idx)} point(s) outside the study area{'' if region is None else ' and ' + region_name} (lon {b[0]:.3f}..{b[2]:.3f}, lat {b[1]:.3f}..{b[3]:.3f}), "
            f"first at row {rows[first]} (WGS84 {p.x:.6f}, {p.y:.6f}){hint}",
            source=source,
        )
    for col, what in ((id_column, "id_column"), (name_column, "name_column")):
        if col is not None and col not in points.columns:
            raise InputError(f"no column '{col}' (named by {what}); the file has {[c for c in points.columns if c != points.geometry.name]}", source=source, field=what)
    if id_column:
        ids = points[id_column].astype(str)
    else:  # no ids: file name and row, unique across files
        ids = pd.Series([f"{Path(source).stem}-{r}" for r in rows_all], index=points.index)
    out = gpd.GeoDataFrame(
        {
            "site_id": "u-" + ids.to_numpy(),
            "source": source,
            "county_adcode": joined["adcode"].astype(int).to_numpy(),
            "prefecture_adcode": joined["prefecture_adcode"].astype(int).to_numpy(),
            "name": points[name_column].astype(str).to_numpy() if name_column else None,
        },
        geometry=points.geometry.to_numpy(),
        crs=WGS84,
    )
    for key, col in (port_columns or {}).items():
        if col is None:
            continue
        if col not in points.columns:
            raise InputError(f"no column '{col}' (named by {key}); the file has {[c for c in points.columns if c != points.geometry.name]}", source=source, field=key)
        vals = pd.to_numeric(points[col], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(vals) | (vals < 0) | (vals != np.round(vals)))
        if bad.size:
            raise InputError(f"'{col}' must hold whole, non-negative numbers of ports; row {rows_all[bad[0]] if len(rows_all) == len(vals) else bad[0] + 1} has {points[col].iloc[bad[0]]!r}",
                             source=source, field=key)
        out["existing_dc" if "dc" in key else "existing_ac"] = vals.astype(np.int64)
    out.attrs["skipped_outside"] = skipped
    return out


def combine(parts: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Concatenate candidate layers; sorted by ``site_id``.

    Raises:
        InputError: no candidates at all, or duplicate site ids across layers.
    """
    parts = [p for p in parts if len(p)]
    if not parts:
        raise InputError("no candidate sites: enable candidates.from_demand_cells or give candidate files", field="candidates")
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=WGS84)
    dup = out["site_id"][out["site_id"].duplicated()].unique().tolist()
    if dup:
        srcs = sorted(set(out.loc[out["site_id"] == dup[0], "source"].astype(str)))
        raise InputError(
            f"duplicate site ids {dup[:5]} ({len(dup)} in all; '{dup[0]}' comes from {srcs}); "
            "site ids must be unique across candidate files",
            field="candidates.files",
        )
    out["required"] = out["required"].fillna(False).astype(bool) if "required" in out.columns else False
    return out.sort_values("site_id").reset_index(drop=True)


def from_osm(osm: gpd.GeoDataFrame, counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Candidate sites from OSM features (:mod:`evsiting.network.candidates_osm`: fuel,
    parking, charging stations, malls, motorway services, bus stations).

    Existing charging stations (``existing``) become required facilities: always open.
    Features outside the study counties are dropped.

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS` and ``required``;
        ``site_id`` = ``osm-<type>-<id>``, ``source`` = ``osm:<kind>``.
    """
    if len(osm) == 0:
        return gpd.GeoDataFrame({c: [] for c in CANDIDATE_COLUMNS + ["required"]}, geometry=[], crs=WGS84)
    joined = gpd.sjoin(osm.to_crs(WGS84), counties[["adcode", "prefecture_adcode", "geometry"]], how="inner", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    return gpd.GeoDataFrame(
        {
            "site_id": "osm-" + joined["osm_type"].astype(str) + "-" + joined["osm_id"].astype(str),
            "source": "osm:" + joined["kind"].astype(str),
            "county_adcode": joined["adcode"].astype(int).to_numpy(),
            "prefecture_adcode": joined["prefecture_adcode"].astype(int).to_numpy(),
            "name": joined["name"].to_numpy(),
            "required": joined["existing"].astype(bool).to_numpy(),
        },
        geometry=joined.geometry.to_numpy(),
        crs=WGS84,
    )
