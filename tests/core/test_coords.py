"""GCJ-02 / BD-09 <-> WGS84 (evsiting.core.coords): published reference pairs, round trips under
0.5 m inside China, and independent evidence from the real county seats.

Library check (2026-11): on PyPI, ``coordtransform`` 0.2.1 (2026) is kept up but its
GCJ-02 -> WGS84 is the one-step approximation w = 2g - f(g) (up to 2.4 m off in Guizhou, see
the test below, above the 0.5 m this project needs); ``geocoordinates-rs`` 0.14 is pre-1.0 with a per-point FFI;
``eviltransform``/``coord-convert``/``prcoords`` have had no release since 2018-2019. So
evsiting keeps its own vectorised forward transform and iterative inverse.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
from shapely.geometry import Point

from evsiting.core.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    normalise_crs_name,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from evsiting.core.errors import InputError
from evsiting.core.settings import resolve_path

GEOD = pyproj.Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# Reference pairs published in the README of github.com/wandergis/coordtransform (the widely
# used JavaScript implementation; section "示例用法", input (116.404, 39.915) in Beijing):
#   bd09togcj02  -> [116.39762729119315, 39.90865673957631]
#   gcj02tobd09  -> [116.41036949371029, 39.92133699351021]
#   wgs84togcj02 -> [116.41024449916938, 39.91640428150164]
#   gcj02towgs84 -> [116.39775550083061, 39.91359571849836]  (one-step approximate inverse)
WANDERGIS_IN = (116.404, 39.915)


def test_forward_transforms_match_the_published_pairs():
    assert np.allclose(wgs84_to_gcj02(*WANDERGIS_IN), (116.41024449916938, 39.91640428150164), atol=1e-11, rtol=0)
    assert np.allclose(gcj02_to_bd09(*WANDERGIS_IN), (116.41036949371029, 39.92133699351021), atol=1e-11, rtol=0)
    assert np.allclose(bd09_to_gcj02(*WANDERGIS_IN), (116.39762729119315, 39.90865673957631), atol=1e-11, rtol=0)


def test_inverse_is_exact_where_the_published_one_step_inverse_is_approximate():
    w = gcj02_to_wgs84(*WANDERGIS_IN)
    # ours maps back onto the input exactly ...
    assert metres(*wgs84_to_gcj02(*w), *WANDERGIS_IN) < 1e-6
    # ... and is within a metre of the published one-step value (its approximation error)
    assert metres(*w, 116.39775550083061, 39.91359571849836) < 1.0


def test_beijing_railway_station_pair_from_the_geochina_documentation():
    """R package geoChina 1.3.0, help page of ``gcj2wgs`` (rdocumentation.org): Beijing railway
    station WGS-84 (39.90105, 116.42079), GCJ-02 (39.90245, 116.42703), "verified by Google
    Earth"; given to 5 decimals (about 1 m)."""
    g = wgs84_to_gcj02(116.42079, 39.90105)
    assert metres(*g, 116.42703, 39.90245) < 1.5
    w = gcj02_to_wgs84(116.42703, 39.90245)
    assert metres(*w, 116.42079, 39.90105) < 1.5


def china_grid(step: float = 0.5):
    lon, lat = np.meshgrid(np.arange(73.5, 135.0, step), np.arange(18.2, 53.5, step))
    return lon.ravel(), lat.ravel()


@pytest.mark.parametrize("grid", ["china", "guizhou"])
def test_round_trips_are_under_half_a_metre(grid):
    if grid == "china":
        lon, lat = china_grid()
    else:  # Guizhou's bounding box, every ~2.5 km
        lon, lat = (a.ravel() for a in np.meshgrid(np.arange(103.6, 109.6, 0.025), np.arange(24.6, 29.2, 0.025)))
    for fwd, inv in ((wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84)):
        back = inv(*fwd(lon, lat))
        assert metres(lon, lat, *back).max() < 0.5
        # and the other way round (a point read from Amap/Baidu, converted, re-encoded)
        again = fwd(*inv(lon, lat))
        assert metres(lon, lat, *again).max() < 0.5
    # the transform really moves points (so a round trip is not trivially exact): tens of
    # metres to 1 km over China's bounding box, 300-600 m in Guizhou
    shift = metres(lon, lat, *wgs84_to_gcj02(lon, lat))
    low, high = (20, 1000) if grid == "china" else (250, 700)
    assert low < shift.min() and shift.max() < high


def test_scalars_arrays_and_outside_china():
    lon, lat = wgs84_to_gcj02(106.7, 26.6)
    assert np.ndim(lon) == 0 and 300 < metres(106.7, 26.6, lon, lat) < 700  # Guiyang: 300-600 m
    out = gcj02_to_wgs84([2.35, -74.0], [48.85, 40.7])  # Paris, New York: unchanged
    assert np.array_equal(out[0], [2.35, -74.0]) and np.array_equal(out[1], [48.85, 40.7])


def test_censhui_seat_is_inside_its_county_only_after_conversion(shared):
    """Independent evidence (../shared/data/SOURCES.md): the Amap seat of 岑巩县 (522626) lies
    0.23 km outside its county, in 镇远县 (522625); converted from GCJ-02 it lies inside."""
    import pandas as pd

    seats = pd.read_csv(shared / "guizhou_county_seats.csv")
    s = seats[seats["adcode"] == 522626].iloc[0]
    counties = gpd.read_file(resolve_path("data:guizhou_counties.geojson")).set_index("district_adcode")
    cengong, zhenyuan = counties.geometry.loc[522626], counties.geometry.loc[522625]
    raw = Point(s["lon"], s["lat"])
    conv = Point(*(float(v) for v in gcj02_to_wgs84(s["lon"], s["lat"])))
    assert not cengong.contains(raw) and zhenyuan.contains(raw)
    assert cengong.contains(conv)
    # BD-09 would be the wrong datum for this file: it pushes the point the other way
    wrong = Point(*(float(v) for v in bd09_to_wgs84(s["lon"], s["lat"])))
    assert not cengong.contains(wrong)


@pytest.mark.parametrize(
    "text, expected",
    [("gcj02", "gcj02"), ("GCJ-02", "gcj02"), ("amap", "gcj02"), ("BD09", "bd09"), ("baidu", "bd09"),
     ("wgs84", "EPSG:4326"), ("EPSG:4326", "EPSG:4326"), ("epsg:32648", "EPSG:32648"), ("4490", "EPSG:4490")],
)
def test_crs_names(text, expected):
    assert normalise_crs_name(text) == expected


@pytest.mark.parametrize("text, words", [("bd09mc", "unknown coordinate system"), ("mars2000", "not a coordinate system of the Earth")])
def test_bad_crs_names(text, words):
    with pytest.raises(InputError, match=words):
        normalise_crs_name(text)


def test_to_wgs84_dispatches_on_the_declared_system():
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True).transform(106.7, 26.6)
    assert np.allclose(to_wgs84([x], [y], "EPSG:32648"), ([106.7], [26.6]), atol=1e-9)
    assert np.allclose(to_wgs84(106.7, 26.6, "gcj02"), gcj02_to_wgs84(106.7, 26.6))
    assert np.allclose(to_wgs84(106.7, 26.6, "bd09"), bd09_to_wgs84(106.7, 26.6))


def test_one_step_inverse_used_by_libraries_would_not_meet_half_a_metre():
    """Why evsiting iterates: the one-step inverse w = 2g - f(g) is off by metres."""
    lon, lat = (a.ravel() for a in np.meshgrid(np.arange(103.6, 109.6, 0.05), np.arange(24.6, 29.2, 0.05)))
    f = wgs84_to_gcj02(lon, lat)
    one_step = (2 * lon - f[0], 2 * lat - f[1])
    err_one = metres(*wgs84_to_gcj02(*one_step), lon, lat)
    err_ours = metres(*wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat)), lon, lat)
    assert err_one.max() > 1.5 and err_ours.max() < 1e-3
