"""User point files (CSV lon/lat or GeoJSON/GeoPackage) read with a declared coordinate
system, checked, and converted to WGS84.

A planner's list of sites exported from Amap or Baidu is in GCJ-02 or BD-09, 300-600 m off
OSM in Guizhou; the declared ``crs`` (``gcj02``, ``bd09`` or ``EPSG:n``) says how to convert.
Every failure names the file, the row (CSV line or feature number) or column, and what was
expected, as an :class:`~evsiting.core.errors.InputError`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from evsiting.core.coords import normalise_crs_name, to_wgs84
from evsiting.core.errors import InputError
from evsiting.core.filecheck import (
    KINDS,
    TABLES,
    VECTORS,
    check_file_kind,
    check_geojson_coordinates,
    csv_header,
    sniff,
)
from evsiting.core.settings import WGS84

#: What a point file may be, for messages.
POINT_FILES = "points: a CSV with lon/lat columns, or GeoJSON/GeoPackage/Shapefile points"

#: Encodings tried in turn for CSV files: UTF-8 (with or without a byte-order mark, as Excel
#: writes it), then GB18030, the superset of GBK/GB2312 that Chinese Excel and WPS export.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")


def _read_csv(path: Path, sep: str = ",") -> pd.DataFrame:
    """Read a CSV (or another text table with separator ``sep``) as text columns' natural
    types, trying :data:`CSV_ENCODINGS`.

    Raises:
        InputError: malformed CSV (the parser's message names the line), empty file, two
            columns of one name, or an encoding that is neither UTF-8 nor GB18030.
    """
    last = None
    if path.stat().st_size:
        csv_header(path, sep)
    for enc in CSV_ENCODINGS:
        try:
            return pd.read_csv(path, encoding=enc, sep=sep)
        except UnicodeDecodeError as exc:
            last = exc
        except pd.errors.EmptyDataError:
            raise InputError("malformed CSV: the file is empty; expected a header row and one row per point", source=path) from None
        except pd.errors.ParserError as exc:
            raise InputError(f"malformed CSV: {str(exc).strip()}; expected the same number of fields on every line", source=path) from None
        except Exception as exc:  # pragma: no cover - other pandas I/O errors
            raise InputError(f"cannot read CSV: {exc}", source=path) from None
    raise InputError(f"cannot decode CSV as UTF-8 or GB18030 ({last}); save it as UTF-8", source=path)


def _plain(value):
    """A numpy scalar as the Python value (for readable messages)."""
    return value.item() if hasattr(value, "item") else value


def _looks_geographic(name: str) -> bool:
    if name in ("gcj02", "bd09"):
        return True
    try:
        return pyproj.CRS.from_user_input(name).is_geographic
    except pyproj.exceptions.CRSError:  # pragma: no cover - normalise_crs_name checked it
        return False


def read_points(
    path: Path,
    crs: str = "EPSG:4326",
    lon_column: str = "lon",
    lat_column: str = "lat",
    id_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Read points and return them in WGS84 (EPSG:4326).

    Args:
        path: ``.csv`` with ``lon_column``/``lat_column`` in ``crs`` (UTF-8 or GB18030), or
            any vector file geopandas reads. GIS files cannot declare ``gcj02``/``bd09``: for
            those the file's own CRS is ignored; for an EPSG code the file's CRS must agree
            with the declared one (or be absent).
        crs: declared coordinate system of the coordinates (``gcj02``, ``bd09``, ``EPSG:n``).
        lon_column, lat_column: CSV columns of x (longitude or easting) and y.
        id_column: optional column that must hold unique, non-empty ids.

    Returns:
        GeoDataFrame (n,) of Points in EPSG:4326 with the file's other columns. Rows with
        empty or NaN coordinates (or null/empty geometries) are dropped; ``attrs`` holds
        ``dropped_empty`` (how many), ``declared_crs`` (normalised) and ``source_rows``
        (list, for each kept point its 1-based CSV data row, the header not counted, or its
        1-based feature number in a vector file). Messages name rows the same way.

    Raises:
        InputError: missing file or column, malformed file, non-numeric or infinite
            coordinates, coordinates that look projected (metres) where degrees are declared
            or like degrees where a projected system is declared, a declared EPSG code that
            contradicts the file's own CRS, non-point geometries, duplicate or empty ids, no
            rows left after dropping empty ones.
    """
    path = Path(path)
    check_file_kind(path, what=POINT_FILES)
    kind = sniff(path)
    if kind not in TABLES | VECTORS | {"empty"}:
        raise InputError(f"the file is {KINDS[kind]}, whatever its name says; expected {POINT_FILES}", source=path)
    name = normalise_crs_name(crs)
    if kind in TABLES or kind == "empty":
        pts = _table_points(path, kind, lon_column, lat_column)
    else:
        pts = _vector_points(path, kind, name)
    if len(pts.df) == 0:
        detail = f"all {pts.total} {pts.what} have empty or NaN coordinates" if pts.total else "the file has no rows"
        raise InputError(f"no points with coordinates: {detail}; expected at least one point", source=path)
    label = "row" if pts.what == "rows" else "feature"
    _check_units(pts, name, path, label=label, where=f"{lon_column}/{lat_column}" if pts.what == "rows" else "geometry")
    if id_column is not None:
        _check_ids(pts.df, id_column, pts.rows, path, label=label)
    lon, lat = to_wgs84(pts.x, pts.y, name)
    out = gpd.GeoDataFrame(pts.df, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)
    out.attrs["dropped_empty"] = pts.n_empty
    out.attrs["declared_crs"] = name
    out.attrs["source_rows"] = pts.rows.tolist()
    return out


@dataclass(frozen=True)
class _Points:
    """The points of a file before the checks of :func:`read_points`: the other columns of
    the kept rows (``df``), their 1-based ``rows``, coordinates ``x``, ``y`` in the declared
    system, how many were dropped as empty (``n_empty``) of ``total``, and ``what`` the file
    counts (``rows`` or ``features``)."""

    df: pd.DataFrame
    rows: np.ndarray
    x: np.ndarray
    y: np.ndarray
    n_empty: int
    total: int
    what: str


def _table_points(path: Path, kind: str, lon_column: str, lat_column: str) -> _Points:
    """The points of a CSV/TSV (rows with an empty coordinate dropped).

    Raises:
        InputError: a missing column (with a separator hint), a coordinate that is not a
            finite number.
    """
    df = _read_csv(path, "\t" if kind == "tsv" else ",")
    for col in (lon_column, lat_column):
        if col not in df.columns:
            hint = ""
            if len(df.columns) == 1 and (sep := next((c for c in ";\t|" if c in str(df.columns[0])), None)):
                hint = f"; the file seems to use {sep!r} as separator: save it with commas"
            raise InputError(f"missing column; expected '{lon_column}' and '{lat_column}', the file has {list(df.columns)}{hint}", source=path, field=col)
    rows = np.arange(len(df)) + 1  # data rows: the first row after the header is row 1
    x = pd.to_numeric(df[lon_column], errors="coerce")
    y = pd.to_numeric(df[lat_column], errors="coerce")
    bad = (x.isna() & df[lon_column].notna()) | (y.isna() & df[lat_column].notna())
    bad |= np.isinf(x.to_numpy(dtype=float)) | np.isinf(y.to_numpy(dtype=float))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"row {rows[i]}: coordinates must be finite numbers, got ({_plain(df[lon_column].iloc[i])!r}, {_plain(df[lat_column].iloc[i])!r})",
            source=path,
            field=f"{lon_column}/{lat_column}",
        )
    empty = np.array(x.isna() | y.isna(), dtype=bool)
    return _Points(df[~empty].reset_index(drop=True), rows[~empty], x[~empty].to_numpy(dtype=float),
                   y[~empty].to_numpy(dtype=float), int(np.sum(empty)), len(df), "rows")


def _vector_points(path: Path, kind: str, name: str) -> _Points:
    """The points of a GIS file (null, empty and NaN geometries dropped).

    Raises:
        InputError: unreadable file, no geometry, a non-point geometry, a file CRS that
            contradicts the declared EPSG code ``name``.
    """
    if kind == "json":
        check_geojson_coordinates(path)
    try:
        with warnings.catch_warnings():  # GDAL warns about the empty geometries dropped below
            warnings.simplefilter("ignore", RuntimeWarning)
            gdf = gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"cannot read (malformed or unsupported file): {str(exc).strip()}", source=path) from None
    if not isinstance(gdf, gpd.GeoDataFrame) or getattr(gdf, "_geometry_column_name", None) not in gdf.columns:
        raise InputError("the file has no geometry; expected points (or a CSV with lon/lat columns)", source=path, field="geometry")
    rows = np.arange(len(gdf)) + 1
    geom = gdf.geometry
    empty = np.array(geom.isna() | geom.is_empty, dtype=bool)
    kept = geom[~empty]
    if len(kept) and not (kept.geom_type == "Point").all():
        i = int(np.flatnonzero(~empty)[np.flatnonzero((kept.geom_type != "Point").to_numpy())[0]])
        raise InputError(f"feature {rows[i]}: expected Point geometries, got {geom.iloc[i].geom_type}", source=path, field="geometry")
    xs = np.full(len(gdf), np.nan)
    ys = np.full(len(gdf), np.nan)
    xs[~empty] = kept.x.to_numpy()
    ys[~empty] = kept.y.to_numpy()
    empty |= ~(np.isfinite(xs) & np.isfinite(ys))  # POINT (nan nan) counts as empty
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))[~empty].reset_index(drop=True)
    if name not in ("gcj02", "bd09") and gdf.crs is not None:
        file_crs = gdf.crs
        if not file_crs.equals(pyproj.CRS.from_user_input(name), ignore_axis_order=True):
            raise InputError(
                f"the file's own coordinate system is {file_crs.to_string()} but {name} was declared; "
                "declare the file's system (GeoJSON is always EPSG:4326)",
                source=path,
                field="crs",
            )
    return _Points(df, rows[~empty], xs[~empty], ys[~empty], int(np.sum(empty)), len(gdf), "features")


def _check_units(pts: _Points, name: str, path: Path, *, label: str, where: str) -> None:
    """Degrees where a geographic system ``name`` is declared (with a hint when lon and lat
    look swapped), metres where a projected one is.

    Raises:
        InputError: naming the first offending ``label`` (row or feature) and ``where``.
    """
    x, y, rows = pts.x, pts.y, pts.rows
    if _looks_geographic(name):
        far = (np.abs(x) > 180) | (np.abs(y) > 90)
        if far.any():
            i = int(np.flatnonzero(far)[0])
            if np.all((np.abs(y) <= 180) & (np.abs(x) <= 90)) or (abs(y[i]) <= 180 and abs(x[i]) <= 90):
                raise InputError(
                    f"{label} {rows[i]}: latitude {y[i]:g} is beyond ±90 degrees while ({y[i]:g}, {x[i]:g}) would be a "
                    f"valid longitude and latitude: are lon and lat swapped (in this row or the whole columns)?",
                    source=path,
                    field=where,
                )
            raise InputError(
                f"{label} {rows[i]}: ({x[i]:.10g}, {y[i]:.10g}) looks like projected coordinates (metres), not degrees, "
                f"but the declared system is {name}; declare the file's EPSG code (e.g. EPSG:32648, UTM 48N)",
                source=path,
                field=where,
            )
    elif np.all((np.abs(x) <= 180) & (np.abs(y) <= 90)):
        raise InputError(
            f"all coordinates lie within ±180/±90, like longitude/latitude degrees, but the declared system {name} "
            f"is projected (e.g. {label} {rows[0]}: ({x[0]:g}, {y[0]:g})); declare EPSG:4326, gcj02 or bd09",
            source=path,
            field="crs",
        )


def _check_ids(df: pd.DataFrame, id_column: str, rows: np.ndarray, path: Path, *, label: str) -> None:
    """``id_column`` exists and holds unique, non-empty ids.

    Raises:
        InputError: naming the file, the column and the first offending rows or features (``label``).
    """
    if id_column not in df.columns:
        raise InputError(f"missing id column; the file has {list(df.columns)}", source=path, field=id_column)
    ids = df[id_column]
    blank = (ids.isna() | (ids.astype(str).str.strip() == "")).to_numpy()
    if blank.any():
        raise InputError(f"{label} {rows[int(np.flatnonzero(blank)[0])]}: empty id; every point needs a unique id", source=path, field=id_column)
    dup_mask = ids.astype(str).duplicated(keep=False).to_numpy()
    if dup_mask.any():
        key = ids.astype(str)
        dups = key[dup_mask].unique().tolist()
        first = dups[0]
        at = rows[(key == first).to_numpy()].tolist()
        raise InputError(
            f"duplicate ids {dups[:5]}{' ...' if len(dups) > 5 else ''} ({len(dups)} in all; '{first}' on {label}s {at[:5]}); ids must be unique",
            source=path,
            field=id_column,
        )


#: Columns taken as ids and names of a point file that names none (first found, exact name).
CONVENTIONAL_ID_COLUMNS = ("id", "site_id", "ID", "Id")
CONVENTIONAL_NAME_COLUMNS = ("name", "site_name", "Name", "NAME")


def conventional_columns(points: gpd.GeoDataFrame, id_column: str | None, name_column: str | None,
                         source: object) -> tuple[str | None, str | None, list[str]]:
    """The id and name columns of a point file: the configured ones, else a conventional
    column (:data:`CONVENTIONAL_ID_COLUMNS`, :data:`CONVENTIONAL_NAME_COLUMNS`) when the file
    has one. A conventional id column is used only when its values are unique and non-empty;
    otherwise ids stay the file name and row, with a warning.

    Args:
        points: from :func:`read_points` (read without an id column when none is configured).
        id_column, name_column: the configured columns (``id_column``/``name_column``), or None.
        source: the file, for the warning.

    Returns:
        (id column or None, name column or None, warning lines).
    """
    warn: list[str] = []
    if id_column is None:
        found = next((c for c in CONVENTIONAL_ID_COLUMNS if c in points.columns), None)
        if found is not None:
            key = points[found]
            blank = key.isna() | (key.astype(str).str.strip() == "")
            if blank.any() or key.astype(str).duplicated().any():
                warn.append(f"warning: {source}: column '{found}' is not used as site ids (empty or repeated values); "
                            "ids are the file name and row: set id_column to choose a column")
            else:
                id_column = found
    if name_column is None:
        name_column = next((c for c in CONVENTIONAL_NAME_COLUMNS if c in points.columns), None)
    return id_column, name_column, warn


def dropped_warning(points: gpd.GeoDataFrame, source: object) -> str | None:
    """The warning line for rows :func:`read_points` dropped, or None when none were."""
    n = int(points.attrs.get("dropped_empty", 0))
    if not n:
        return None
    return f"warning: {source}: {n} row(s) with empty or NaN coordinates dropped, {len(points)} kept"


#: Units of parameters the model divides by: zero is refused for them (when their documented
#: range is positive).
def read_osm_pbf(path: str | Path, polygon, read):
    """``read(osm)`` on ``pyrosm.OSM(path, bounding_box=polygon)`` (WGS84 polygon or None).

    Raises:
        InputError: the file is missing, or pyrosm fails on it (it raises several types on bad
            files).
    """
    import pyrosm

    path = Path(path)
    if not path.exists():
        raise InputError("file not found", source=path)
    try:
        return read(pyrosm.OSM(str(path), bounding_box=polygon))
    except Exception as exc:
        raise InputError(f"cannot read OSM PBF: {exc}", source=path) from None


#: File systems that are not storage (kernel and device views): nothing can be written there.
PSEUDO_FILESYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
    "configfs", "fusectl", "mqueue", "hugetlbfs", "autofs", "binfmt_misc", "efivarfs", "rpc_pipefs", "nsfs",
})


def _filesystem_type(path: Path) -> str | None:
    """The type of the file system holding ``path`` (longest mount point of /proc/self/mounts),
    None when unknown (not Linux)."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    best, kind = "", None
    target = str(path)
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def check_output_folder(path: Path, field: str = "output_dir", names: list[str] | tuple[str, ...] = ()) -> None:
    """Check before a run that its outputs can be written under ``path`` (checked again at
    the end): a non-empty path without dangling links on the way, each name within the file
    system's limit (NAME_MAX, 255 bytes; ``names``: folder names to be created inside, e.g. the
    run folders), the nearest existing folder on the way a writable folder (not a file) on a
    real file system (not /proc, /sys or another pseudo-filesystem, not read-only).

    Raises:
        InputError: naming ``path`` and ``field`` (``output_dir`` or ``--out``).
    """
    if str(path).strip() == "":
        raise InputError("empty path; give a folder for the run folders", source=None, field=field)
    p = Path(path).absolute()
    probe = Path(p.anchor)  # the deepest existing folder on the way, reached from the root
    for part in p.parts[1:]:
        nxt = probe / part
        if len(part.encode()) > 255 or not nxt.exists():
            break
        probe = nxt
    try:
        name_max = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in [*p.parts[1:], *names]:
        if len(part.encode()) > name_max:
            shown = part if len(part) <= 60 else part[:40] + "..." + part[-10:]
            raise InputError(f"the name '{shown}' ({len(part.encode())} bytes with the run folder's name) is longer than the "
                             f"file system allows ({name_max} bytes); choose a shorter folder or run name", source=p, field=field)
    if len(str(p).encode()) > 3800:
        raise InputError(f"the path is {len(str(p).encode())} bytes long; the file system allows about 4,096", source=p, field=field)
    for link in [q for q in [p, *p.parents] if q.is_symlink() and not q.exists()]:
        raise InputError(f"'{link}' is a link to '{link.readlink()}', which does not exist", source=p, field=field)
    if not probe.is_dir():
        raise InputError(f"'{probe}' is a file, not a folder; expected a folder for the run folders", source=p, field=field)
    kind = _filesystem_type(probe.resolve())
    if kind in PSEUDO_FILESYSTEMS:
        raise InputError(f"'{probe}' is on a {kind} pseudo-filesystem, where nothing can be stored; choose a folder on a disk",
                         source=p, field=field)
    try:
        readonly = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    if readonly:
        raise InputError(f"'{probe}' is on a read-only file system", source=p, field=field)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"no permission to write in '{probe}'", source=p, field=field)
