"""Chinese web-map datums: GCJ-02 (Amap, Tencent, Google China) and BD-09 (Baidu) <-> WGS84.

GCJ-02 is WGS84 plus a published, deliberately non-linear offset (300-600 m in Guizhou);
BD-09 is a further rotation-and-shift of GCJ-02. PyPI was checked (2026-11) for a well-kept
library: ``coordtransform`` 0.2.1 is maintained but its GCJ-02 -> WGS84 is the one-step
approximation (up to 2.4 m off in Guizhou, 4.9 m over China, above the 0.5 m wanted
here); ``geocoordinates-rs`` is
pre-1.0 with a per-point interface; ``eviltransform``, ``coord-convert`` and ``prcoords`` have
had no release since 2018-2019. So this module implements the widely published forward
transform (Krasovsky 1940 ellipsoid constants a = 6378245 m, e² = 0.00669342162296594323) and
inverts it by fixed-point iteration to 1e-12 degrees (well under a millimetre). Tests:
``tests/core/test_coords.py`` (published reference pairs, round trips, the 岑巩县 seat).

All functions are vectorised: they take and return numpy arrays (or floats) of longitude and
latitude in degrees. Points outside mainland China's bounding box are returned unchanged, as
the transform is only defined inside China.
"""

from __future__ import annotations

import numpy as np
import pyproj

from evsiting.core.errors import InputError

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _dlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    r += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    r += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    r += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    r += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lon, lat):
    """WGS84 -> GCJ-02 (the published forward transform). Degrees in, degrees out."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon, lat, tol_deg: float = 1e-12, max_iter: int = 30):
    """GCJ-02 -> WGS84 by fixed-point iteration of :func:`wgs84_to_gcj02`.

    Converges to ``tol_deg`` (default 1e-12 degrees, about 0.1 micrometre) in a handful of
    iterations because the offset varies slowly with position.
    """
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if np.all(np.abs(e_lon) < tol_deg) and np.all(np.abs(e_lat) < tol_deg):
            break
    return w_lon, w_lat


def gcj02_to_bd09(lon, lat):
    """GCJ-02 -> BD-09 (Baidu's published transform)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat):
    """BD-09 -> GCJ-02 (closed-form inverse used by Baidu; residual under 1e-6 degrees)."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_wgs84(lon, lat):
    """BD-09 -> WGS84 (via GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon, lat):
    """WGS84 -> BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def normalise_crs_name(crs: str) -> str:
    """Canonical form of a declared input coordinate system: ``gcj02``, ``bd09`` or ``EPSG:n``.

    Raises:
        InputError: not one of those.
    """
    text = str(crs).strip()
    low = text.lower().replace("-", "").replace("_", "")
    if low in {"gcj02", "gcj", "mars", "amap"}:
        return "gcj02"
    if low in {"bd09", "bd09ll", "baidu"}:
        return "bd09"
    if low in {"wgs84", "4326"}:
        return "EPSG:4326"
    try:
        parsed = pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError:
        raise InputError(f"unknown coordinate system '{crs}'; use an EPSG code, 'gcj02' or 'bd09'", field="crs") from None
    ell = parsed.ellipsoid
    if ell is None or not 6.3e6 < ell.semi_major_metre < 6.4e6:
        raise InputError(f"'{crs}' ({parsed.name}) is not a coordinate system of the Earth; use an EPSG code, 'gcj02' or 'bd09'", field="crs")
    return parsed.to_string()


def to_wgs84(x, y, crs: str):
    """Convert coordinates in a declared system to WGS84 lon/lat degrees.

    Args:
        x, y: arrays of coordinates (lon/lat degrees for geographic systems, metres or the
            CRS's unit for projected ones).
        crs: ``gcj02``, ``bd09`` or anything pyproj accepts (``EPSG:32648`` ...).

    Returns:
        (lon, lat) numpy arrays in EPSG:4326.
    """
    name = normalise_crs_name(crs)
    if name == "gcj02":
        return gcj02_to_wgs84(x, y)
    if name == "bd09":
        return bd09_to_wgs84(x, y)
    tr = pyproj.Transformer.from_crs(name, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon), np.asarray(lat)
