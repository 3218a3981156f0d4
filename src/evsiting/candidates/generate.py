"""Candidate sites: where a charging station may be built.

By default (:class:`evsiting.config.schema.CandidatesConfig`):

- the demand points of the most demanded cells of each county (``per_county``; all cells
  when None), source ``demand_cell``;
- the county seats (the seat points of the seats file), source ``county_seat``;
- the most demanded cell of each coarser H3 parent cell (``parent_resolution``), source
  ``parent_cell``;
- any user files of sites (read with their declared coordinate system) and OSM features;
- then a gap fill (:func:`reach_all`): demand cells with NEVs that no candidate reaches within
  the service standard get candidates of their own, chosen greedily (source ``gap_fill``),
  so that every cell with NEVs is reached, or is named with the reason.

Demand-cell candidates are named ``<county name_zh> #<rank>``, rank 1 being the county's cell
with most NEVs; seats ``<county name_zh> seat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import scipy.sparse as sp

from evsiting.core.errors import InputError
from evsiting.models._core import pair_within
from evsiting.models.coverage import greedy_max_cover
from evsiting.core.settings import WGS84

CANDIDATE_COLUMNS = ["site_id", "source", "county_adcode", "prefecture_adcode", "name"]


def _plain(v):
    """A numpy scalar as the Python value it holds (for messages: 3, not np.int64(3))."""
    return v.item() if hasattr(v, "item") else v


def _by_demand(cells: gpd.GeoDataFrame, key: str) -> pd.DataFrame:
    """Cells with NEVs sorted by ``key``, most NEVs first (ties: lower ``demand_id``)."""
    return cells[cells["nev_count"] > 0].sort_values([key, "nev_count", "demand_id"], ascending=[True, False, True])


def county_rank(cells: gpd.GeoDataFrame) -> pd.Series:
    """Rank of each cell with NEVs in its county, 1 = most NEVs (ties: lower ``demand_id``),
    indexed like ``cells``; the names of demand-cell candidates use it."""
    df = _by_demand(cells, "county_adcode")
    return df.groupby("county_adcode", sort=False).cumcount() + 1


def _cell_sites(cells: gpd.GeoDataFrame, df: pd.DataFrame, source: str) -> gpd.GeoDataFrame:
    """Candidate sites at the demand points of the rows ``df`` of ``cells``, in ``df``'s order."""
    rank = county_rank(cells).reindex(df.index)
    names = df["county_name"].astype(str) + " #" + rank.astype("Int64").astype(str) if "county_name" in df.columns else None
    return gpd.GeoDataFrame(
        {
            "site_id": "c-" + df["demand_id"],
            "source": source,
            "county_adcode": df["county_adcode"].astype(int),
            "prefecture_adcode": df["prefecture_adcode"].astype(int),
            "name": names,
        },
        geometry=gpd.points_from_xy(df["lon"], df["lat"]),
        crs=WGS84,
    )


def from_demand_cells(cells: gpd.GeoDataFrame, per_county: int | None) -> gpd.GeoDataFrame:
    """Candidate sites at the demand points of the ``per_county`` cells with most NEVs in
    each county (ties: lower ``demand_id``), or all cells with NEVs when ``per_county`` is None.

    Args:
        cells: demand cells from :func:`evsiting.demand.cells.build_demand_cells`.

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS`; ``site_id`` = ``c-<demand_id>``,
        ``name`` = ``<county name_zh> #<rank>``, ``source`` = ``demand_cell``.
    """
    df = _by_demand(cells, "county_adcode")
    if per_county is not None:
        df = df.groupby("county_adcode", sort=True).head(per_county)
    return _cell_sites(cells, df, "demand_cell")


def from_parent_cells(cells: gpd.GeoDataFrame, resolution: int) -> gpd.GeoDataFrame:
    """The most demanded cell (ties: lower ``demand_id``) of each H3 parent cell at
    ``resolution``: candidates spread over the whole area, one per about 250 km² at
    resolution 5, 36 km² at 6, each at a local peak of demand (a township centre, usually).

    Args:
        cells: demand cells with ``h3`` at a resolution finer than ``resolution``.
        resolution: H3 resolution of the parents (0..15).

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS`, ``source`` = ``parent_cell``,
        in parent order.

    Raises:
        InputError: ``resolution`` not coarser than the cells' resolution.
    """
    df = cells[cells["nev_count"] > 0]
    if len(df) and resolution >= h3.get_resolution(df["h3"].iloc[0]):
        raise InputError(f"parent resolution {resolution} must be coarser (smaller) than the demand cells' "
                         f"resolution {h3.get_resolution(df['h3'].iloc[0])}", source="config", field="candidates.parent_resolution")
    df = df.assign(_parent=[h3.cell_to_parent(c, resolution) for c in df["h3"]])
    df = _by_demand(df, "_parent").groupby("_parent", sort=True).head(1)
    return _cell_sites(cells, df, "parent_cell")


def from_county_seats(seats: gpd.GeoDataFrame, counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One candidate at each study county's seat point.

    Args:
        seats: county seats (points, converted to WGS84) with ``adcode``.
        counties: study counties with ``adcode``, ``name_zh``, ``prefecture_adcode``.

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS`; ``site_id`` =
        ``seat-<adcode>``, ``name`` = ``<name_zh> seat``, ``source`` = ``county_seat``;
        counties without a seat point get none.
    """
    s = seats.to_crs(WGS84)
    s = s.assign(adcode=s["adcode"].astype(int)).drop_duplicates("adcode")
    c = counties[["adcode", "name_zh", "prefecture_adcode"]].assign(adcode=counties["adcode"].astype(int))
    df = s[["adcode", "geometry"]].merge(c, on="adcode").sort_values("adcode")
    return gpd.GeoDataFrame(
        {
            "site_id": "seat-" + df["adcode"].astype(str),
            "source": "county_seat",
            "county_adcode": df["adcode"].to_numpy(),
            "prefecture_adcode": df["prefecture_adcode"].astype(int).to_numpy(),
            "name": (df["name_zh"].astype(str) + " seat").to_numpy(),
        },
        geometry=df.geometry.to_numpy(),
        crs=WGS84,
    )


def generated(cells: gpd.GeoDataFrame, per_county: int | None = None, parent_resolution: int | None = None,
              seats: gpd.GeoDataFrame | None = None, counties: gpd.GeoDataFrame | None = None,
              *, demand_cells: bool = True) -> gpd.GeoDataFrame:
    """The generated candidate layers, without repeats: the per-county list
    (:func:`from_demand_cells`, when ``demand_cells``), the county seats (when ``seats`` and
    ``counties`` are given) and the parent cells (:func:`from_parent_cells`, when
    ``parent_resolution`` is not None) that are not already in the per-county list.

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS`, in that order of layers.
    """
    parts = [from_demand_cells(cells, per_county)] if demand_cells else []
    if seats is not None and counties is not None:
        parts.append(from_county_seats(seats, counties))
    if parent_resolution is not None:
        par = from_parent_cells(cells, parent_resolution)
        taken = set(parts[0]["site_id"]) if demand_cells else set()
        parts.append(par[~par["site_id"].isin(taken)])
    parts = [p for p in parts if len(p)]
    if not parts:
        return gpd.GeoDataFrame({c: [] for c in CANDIDATE_COLUMNS}, geometry=[], crs=WGS84)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=WGS84)


def from_points(
    points: gpd.GeoDataFrame,
    counties: gpd.GeoDataFrame,
    source: str,
    id_column: str | None,
    name_column: str | None,
    *, region: gpd.GeoDataFrame | None = None,
    region_name: str = "the province",
    port_columns: dict[str, str | None] | None = None,
) -> gpd.GeoDataFrame:
    """Candidate sites from a user point layer (WGS84), tagged with their county.

    Args:
        points: from :func:`evsiting.io.points.read_points` (its ``attrs["source_rows"]`` name
            the file's rows in messages).
        counties: the study area's county polygons (WGS84) with ``adcode`` and
            ``prefecture_adcode``.
        source: the file, for messages and the ``source`` column.
        region: optional wider area the file may cover (the province's counties, when the
            run is restricted to some prefectures): points inside ``region`` but outside the
            study area are skipped, their count in ``attrs["skipped_outside"]``, so one
            province-wide file serves every prefecture run; ``region_name`` names it in
            messages.
        port_columns: ``{"dc_ports_column": col, "ac_ports_column": col, "max_kw_column":
            col}`` (None = absent): installed ports (whole numbers, columns ``existing_dc`` /
            ``existing_ac``) and the installed kW a station at the site may hold (positive or
            blank, column ``max_station_kw``: a hub with a grid connection of its own).

    Returns:
        WGS84 point GeoDataFrame with :data:`CANDIDATE_COLUMNS`; ``site_id`` = ``u-<id>``
        (``u-<file stem>-<row>`` without an id column, row = the 1-based data row or
        feature); ``name`` from ``name_column``, else the id; ``attrs["skipped_outside"]``
        and ``attrs["skipped_sites"]`` (labels of the skipped points, :func:`skipped_warning`).

    Raises:
        InputError: a point lies outside the study area (and outside ``region``), naming
            how many, the first row and its coordinates, with a hint when swapping lon/lat
            would put them inside; an id or name column that is missing.
    """
    rows_all = points.attrs.get("source_rows") or list(range(1, len(points) + 1))
    joined = gpd.sjoin(points, counties[["adcode", "prefecture_adcode", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    outside = joined["adcode"].isna().to_numpy()
    skipped, skipped_labels = 0, []
    if outside.any() and region is not None:
        in_region = points.geometry.within(region.geometry.union_all()).to_numpy()
        skip = outside & in_region
        skipped = int(skip.sum())
        skipped_labels = _site_labels(points[skip], [r for r, k in zip(rows_all, skip) if k], id_column, name_column)
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
            "name": _names_or_ids(points[name_column] if name_column else None, ids),
        },
        geometry=points.geometry.to_numpy(),
        crs=WGS84,
    )
    for key, col in (port_columns or {}).items():
        if col is None:
            continue
        if col not in points.columns:
            raise InputError(f"no column '{col}' (named by {key}); the file has {[c for c in points.columns if c != points.geometry.name]}", source=source, field=key)
        if key == "max_kw_column":  # kW a station at the site may hold (a hub); blank = the default limit
            kw = pd.to_numeric(points[col], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero((points[col].notna().to_numpy() & np.isnan(kw)) | (kw <= 0) | np.isinf(kw))
            if bad.size:
                raise InputError(f"'{col}' must hold positive numbers of kW (or be blank); row "
                                 f"{rows_all[bad[0]] if len(rows_all) == len(kw) else bad[0] + 1} has {_plain(points[col].iloc[bad[0]])!r}",
                                 source=source, field=key)
            out["max_station_kw"] = kw
            continue
        vals = pd.to_numeric(points[col], errors="coerce").fillna(0.0).to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(vals) | (vals < 0) | (vals != np.round(vals)))
        if bad.size:
            raise InputError(f"'{col}' must hold whole, non-negative numbers of ports; row {rows_all[bad[0]] if len(rows_all) == len(vals) else bad[0] + 1} has {_plain(points[col].iloc[bad[0]])!r}",
                             source=source, field=key)
        out["existing_dc" if "dc" in key else "existing_ac"] = vals.astype(np.int64)
    out.attrs["skipped_outside"] = skipped
    out.attrs["skipped_sites"] = skipped_labels
    return out


def _site_labels(points: gpd.GeoDataFrame, rows: list[int], id_column: str | None, name_column: str | None) -> list[str]:
    """How a message names points of a file: ``name (id)``, the name, the id, or ``row N``."""
    out = []
    for (_, rec), r in zip(points.iterrows(), rows):
        name = rec.get(name_column) if name_column and name_column in points.columns else None
        ident = rec.get(id_column) if id_column and id_column in points.columns else None
        name = None if name is None or pd.isna(name) else str(name)
        ident = None if ident is None or pd.isna(ident) else str(ident)
        out.append(f"{name} ({ident})" if name and ident else name or ident or f"row {r}")
    return out


def skipped_warning(sites: gpd.GeoDataFrame, source: object, shown: int = 5) -> str | None:
    """The warning line for the sites of a file :func:`from_points` skipped because they lie
    in other prefectures of the province, naming the first ``shown`` of them, or None."""
    n = int(sites.attrs.get("skipped_outside", 0))
    if not n:
        return None
    labels = sites.attrs.get("skipped_sites", [])
    named = ", ".join(labels[:shown]) + (f" and {n - shown} more" if n > shown else "")
    return f"warning: {source}: {n} site(s) in other prefectures skipped ({named}), {len(sites)} in the study area"


def _names_or_ids(names: pd.Series | None, ids: pd.Series) -> np.ndarray:
    """(n,) object array: each point's name, or its id where the name is missing or blank
    (every site gets a label a map can show)."""
    idv = ids.astype(str).to_numpy()
    if names is None:
        return idv.astype(object)
    nm = names.to_numpy(dtype=object)
    blank = pd.isna(names).to_numpy() | (names.astype(str).str.strip() == "").to_numpy()
    return np.where(blank, idv, nm.astype(str)).astype(object)


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
    """Candidate sites from OSM features (:mod:`evsiting.candidates.osm`: fuel,
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
            "name": _osm_names(joined, counties),
            "required": joined["existing"].astype(bool).to_numpy(),
        },
        geometry=joined.geometry.to_numpy(),
        crs=WGS84,
    )


def _osm_names(joined: pd.DataFrame, counties: gpd.GeoDataFrame) -> np.ndarray:
    """OSM names, and ``<county name_zh> <kind>`` (e.g. ``西秀区 parking``) for features
    without one, so every site has a label."""
    county = joined["adcode"].map(counties.set_index("adcode")["name_zh"]) if "name_zh" in counties.columns else None
    fallback = (county.fillna("").astype(str) + " " if county is not None else "") + joined["kind"].astype(str)
    nm = joined["name"]
    blank = nm.isna() | (nm.astype(str).str.strip() == "")
    return np.where(blank.to_numpy(), fallback.str.strip().to_numpy(), nm.astype(str).to_numpy()).astype(object)


@dataclass
class Reach:
    """What :func:`reach_all` found.

    Attributes:
        candidates: the input candidates (same order) followed by the gap-fill ones in the
            order the greedy chose them (source ``gap_fill``); WGS84 points.
        matrix: csr (n_cells, len(candidates)) of travel minutes up to the cutoff of
            ``matrix_fn`` (the service standard or more), columns in ``candidates`` order
            (absent = beyond the cutoff).
        ceiling_before, ceiling: share of NEVs within the standard of any candidate, before
            and after the gap fill (0..1).
        added: number of gap-fill candidates.
        unreached: the cells with NEVs that no candidate reaches, most NEVs first: columns
            ``demand_id``, ``county_adcode``, ``county_name``, ``prefecture_adcode``,
            ``nev_count``, ``lon``, ``lat`` (WGS84 degrees) and ``reason``.
        standard_min: the service standard (minutes) that "reach" refers to: one value or
            one per cell.
    """

    candidates: gpd.GeoDataFrame
    matrix: sp.csr_matrix
    ceiling_before: float
    ceiling: float
    added: int
    unreached: pd.DataFrame
    standard_min: float | np.ndarray


def reached_rows(matrix: sp.csr_matrix, standard_min: float | np.ndarray = np.inf) -> np.ndarray:
    """(n_cells,) bool: the row of ``matrix`` (csr minutes) has a stored pair within
    ``standard_min`` (one value or one per row; a stored 0.0 is a real pair)."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    out = np.zeros(matrix.shape[0], dtype=bool)
    out[rows[pair_within(matrix, standard_min)]] = True
    return out


def reached_share(nev: np.ndarray, matrix: sp.csr_matrix, standard_min: float | np.ndarray = np.inf) -> float:
    """Share of ``nev`` (n_cells,) in rows of ``matrix`` (csr, n_cells x m) with a stored
    pair within ``standard_min``: the coverage ceiling of the candidates (0 when there are
    no NEVs)."""
    total = float(nev.sum())
    return float(nev[reached_rows(matrix, standard_min)].sum()) / total if total else 0.0


def reach_all(
    cells: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    matrix_fn: Callable[[gpd.GeoDataFrame], sp.spmatrix],
    standard_min: float | np.ndarray,
    fill: bool = True,
    *, target_ceiling: float = 1.0,
    max_added: int | None = None,
) -> Reach:
    """Travel times to the candidates and a gap fill: candidates of their own for the demand
    cells with NEVs that no candidate reaches within ``standard_min``.

    The gap fill offers every unreached cell with NEVs as a site (at its demand point; most
    NEVs first, ties lower ``demand_id``), computes their travel times with ``matrix_fn`` and
    adds them by greedy maximal covering over the unreached cells: the site reaching the most
    unreached NEVs first (ties: earlier in that order), until ``target_ceiling`` of all NEVs is
    reached, no site reaches more, or ``max_added`` sites were added. One round suffices: a
    cell whose own demand point is within the standard of itself (0 min for ``great_circle``
    and ``expressway``) is reached by its own site at the latest.

    Args:
        cells: demand cells (n_cells,) with ``demand_id``, ``nev_count``, ``county_adcode``,
            ``county_name``, ``prefecture_adcode``, ``lon``/``lat`` (WGS84 degrees).
        candidates: candidate sites (WGS84 points) with :data:`CANDIDATE_COLUMNS`.
        matrix_fn: ``matrix_fn(sites) -> csr (n_cells, len(sites))`` of travel minutes from
            each cell's demand point to each site, only pairs within a cutoff >=
            ``standard_min`` stored (as :func:`evsiting.network.impedance.travel_time_matrix`); a
            pair's time must not depend on the other sites (the matrix is assembled from
            column blocks).
        standard_min: the service standard (minutes): a cell is reached by a pair within it;
            one value or (n_cells,) (each cell's own standard).
        fill: run the gap fill (False: only the travel times and the unreached cells).
        target_ceiling: stop once this share of NEVs (0..1] is reached; 1 = every cell.
        max_added: most gap-fill sites (None: no limit).

    Returns:
        :class:`Reach`.

    Raises:
        ValueError: ``matrix_fn`` returned a matrix of the wrong shape; ``target_ceiling``
            outside (0, 1]; ``max_added`` < 0.
    """
    if not 0 < target_ceiling <= 1:
        raise ValueError("target_ceiling must be in (0, 1]")
    if max_added is not None and max_added < 0:
        raise ValueError("max_added must be >= 0")

    def call(sites: gpd.GeoDataFrame) -> sp.csr_matrix:
        m = sp.csr_matrix(matrix_fn(sites))
        if m.shape != (len(cells), len(sites)):
            raise ValueError(f"matrix_fn returned shape {m.shape}, expected {(len(cells), len(sites))}")
        return m

    nev = cells["nev_count"].to_numpy()
    matrix = call(candidates)
    before = reached_share(nev, matrix, standard_min)
    todo = np.flatnonzero(~reached_rows(matrix, standard_min) & (nev > 0))
    reason = np.full(len(cells), "", dtype=object)
    std_n = np.broadcast_to(np.asarray(standard_min, dtype=float), (len(cells),))
    std = np.array([f"no candidate within {v:g} min" for v in std_n], dtype=object)
    added = 0
    if len(todo) and not fill:
        reason[todo] = std[todo] + "; candidates.fill_gaps is off"
    elif len(todo) and before >= target_ceiling:
        reason[todo] = std[todo] + f"; candidates.target_ceiling {target_ceiling:g} was met without a gap fill"
    elif len(todo):
        pool_df = cells.iloc[todo].sort_values(["nev_count", "demand_id"], ascending=[False, True])
        pool_df = pool_df[~("c-" + pool_df["demand_id"]).isin(candidates["site_id"])]
        pool = _cell_sites(cells, pool_df, "gap_fill")
        pm = call(pool)
        sub = sp.csr_matrix(pm[todo])
        sub.data = np.where(pair_within(sub, std_n[todo]), 1.0, 0.0)  # reach, not minutes (a stored 0.0 is a real pair)
        sub.eliminate_zeros()
        w = nev[todo].astype(np.float64)
        order = greedy_max_cover(sub, w, sub.shape[1])
        # NEVs newly reached by each pick, in greedy order, to stop at the target
        left, gains = w.copy(), np.zeros(len(order))
        csc = sp.csc_matrix(sub)
        for k, j in enumerate(order.tolist()):
            rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
            gains[k] = left[rows].sum()
            left[rows] = 0.0
        need = target_ceiling * float(nev.sum()) - before * float(nev.sum())
        k = min(int(np.searchsorted(np.cumsum(gains), need - 1e-9)) + 1, len(order))
        capped = max_added is not None and k > max_added
        chosen = order[: max_added if capped else k]
        added = len(chosen)
        candidates = gpd.GeoDataFrame(pd.concat([candidates, pool.iloc[chosen]], ignore_index=True), crs=WGS84)
        if "required" in candidates.columns:
            candidates["required"] = candidates["required"].fillna(False).astype(bool)
        matrix = sp.hstack([matrix, pm[:, chosen]], format="csr")
        coverable = np.diff(sub.indptr) > 0
        left_rows = ~reached_rows(matrix, standard_min)[todo]
        why = np.where(
            ~coverable,
            std[todo] + ": not even a site in the cell itself (its demand point is not within the standard of itself)",
            std[todo] + (f"; the gap fill stopped at candidates.max_added = {max_added}" if capped
                         else f"; the gap fill stopped at candidates.target_ceiling = {target_ceiling:g}"),
        )
        reason[todo[left_rows]] = why[left_rows]
    left_idx = np.flatnonzero(~reached_rows(matrix, standard_min) & (nev > 0))
    cols = ["demand_id", "county_adcode", "county_name", "prefecture_adcode", "nev_count", "lon", "lat"]
    unreached = pd.DataFrame(cells.iloc[left_idx][[c for c in cols if c in cells.columns]]).assign(reason=reason[left_idx])
    unreached = unreached.sort_values(["nev_count", "demand_id"], ascending=[False, True]).reset_index(drop=True)
    return Reach(candidates, matrix, before, reached_share(nev, matrix, standard_min), added, unreached, standard_min)


def reach_summary(reach: Reach, cells: gpd.GeoDataFrame, listed: int = 100) -> dict:
    """The summary's ``candidates`` entry: counts by source, the coverage ceiling before the
    gap fill, sites added, and the unreached cells (count, NEVs, the first ``listed`` with
    their reason, most NEVs first) and the ceiling of each prefecture (by adcode, 0..1).
    """
    nev = cells["nev_count"].to_numpy()
    reached = reached_rows(reach.matrix, reach.standard_min)
    pref = cells["prefecture_adcode"].to_numpy()
    per = {}
    for a in np.unique(pref).tolist():
        sel = pref == a
        per[int(a)] = round(float(nev[sel & reached].sum()) / max(float(nev[sel].sum()), 1.0), 6)
    u = reach.unreached
    return {
        "total": int(len(reach.candidates)),
        "by_source": {str(k): int(v) for k, v in reach.candidates["source"].astype(str).value_counts().sort_index().items()},
        "coverage_ceiling_before_gap_fill": round(reach.ceiling_before, 6),
        "gap_fill_added": int(reach.added),
        # sites at cells whose energy the sites in reach could not hold (capacitated model)
        "capacity_fill_added": int((reach.candidates["source"].astype(str) == "capacity_fill").sum()),
        "unreached_cells": int(len(u)),
        "unreached_nev": int(u["nev_count"].sum()),
        "unreached": u.head(listed).to_dict(orient="records"),
        "coverage_ceiling_by_prefecture": per,
    }


def merged_info(infos: list[dict], matrix: sp.csr_matrix) -> dict:
    """The manifest's impedance record of a matrix assembled by :func:`reach_all` from the
    ``infos`` of its ``matrix_fn`` calls (first: the candidates; second: the gap-fill pool):
    the first call's record, ``pairs`` = the pairs of the assembled ``matrix``; with a gap fill
    the per-call counts (``pairs``, ``pairs_via_expressway``) move to ``matrix_calls``.

    Raises:
        ValueError: no call was made.
    """
    if not infos:
        raise ValueError("no travel-time call recorded")
    info = dict(infos[0])
    if len(infos) > 1:
        info.pop("pairs_via_expressway", None)
        info["matrix_calls"] = [{k: i[k] for k in ("pairs", "pairs_via_expressway") if k in i} for i in infos]
    info["pairs"] = int(matrix.nnz)
    return info
