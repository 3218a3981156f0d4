"""map.png and report.html (issue 16): self-contained page, tables, map elements; fast, on
small synthetic layers (not real data) inside the real Anshun boundaries."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from evsiting.report import html as report

EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", re.I)


def _layers():
    """Synthetic stations and cells near Anshun (106.0E, 26.25N)."""
    sites = gpd.GeoDataFrame({"site_id": ["a", "b", "c"], "facility_type": ["chosen", "required", "candidate"],
                              "ports_dc": [10, 2, 0], "ports_ac": [40, 4, 0], "over_site_max": [True, False, False]},
                             geometry=[Point(105.95, 26.25), Point(106.1, 26.3), Point(106.0, 26.2)], crs="EPSG:4326")
    cells = gpd.GeoDataFrame({"nev_count": [100, 5], "area_km2": [5.0, 5.0]},
                             geometry=[box(105.94, 26.24, 105.96, 26.26), box(106.09, 26.29, 106.11, 26.31)], crs="EPSG:4326")
    return sites, cells


SUMMARY = {
    "run": "synthetic", "year": 2026, "scenario": "base", "model": "CapacitatedSiting", "service_standard_min": 15.0,
    "capital_cost_cny": 12_345_678.0,
    "total": {"nev_count": 1000, "energy_kwh_day": 6500.0, "energy_served_kwh_day": 6175.0, "stations": 2, "ports_dc": 12,
              "ports_ac": 44, "coverage_share": 0.95, "unserved_energy_kwh_day": 325.0, "nev_per_public_charger": 17.857,
              "cost_cny": 12_345_678.0},
    "prefectures": [{"adcode": 520400, "name_en": "Anshun", "nev_count": 1000, "stations": 2, "ports_dc": 12, "ports_ac": 44,
                     "coverage_share": 0.95, "energy_served_kwh_day": 6175.0, "unserved_energy_kwh_day": 325.0,
                     "nev_per_public_charger": 17.857, "cost_cny": 12_345_678.0}],
    "validation": [{"label": "NEVs per public port", "unit": "NEVs/port", "run_value": 17.857, "observed_value": 9.3,
                    "observed_date": "2025-12", "scope": "China", "run_over_observed": 1.92, "why": "<b>not bold</b>",
                    "source": "NEA, https://example.org/x"}],
}


def test_headline_numbers():
    h = dict(report.headline(SUMMARY["total"], SUMMARY["capital_cost_cny"]))
    assert h["stations"] == "2" and h["ports (DC + AC)"] == "56 (12 + 44)" and h["NEVs per public port"] == "17.9"
    assert h["served share of public energy"] == "95.0%" and h["capital cost"] == "12.3 M CNY"


def test_report_is_self_contained_and_holds_the_tables(tmp_path):
    sites, cells = _layers()
    m, r = report.write_run_report(tmp_path, SUMMARY, {"solver": {"name": "highs", "status": "optimal", "gap": 0.0}},
                                   sites, cells, charts=[("A chart", b"\x89PNG\r\n\x1a\nfake")], warnings=["3 station(s) over"])
    assert m.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = r.read_text(encoding="utf-8")
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert page.count("data:image/png;base64,") == 2  # the map and the chart, embedded
    assert "By prefecture" in page and "Anshun" in page and "Checked against observed figures" in page
    assert "NEVs per public port" in page and "3 station(s) over" in page and "&lt;b&gt;not bold&lt;/b&gt;" in page
    assert "https://example.org/x" in page  # a source's address is text, not a link
    assert "12.3 M CNY" in page


def test_scale_bar_length_is_round_and_about_a_fifth_of_the_width():
    for width, want in ((100.0, 20.0), (60.0, 10.0), (400.0, 100.0), (3.0, 0.5)):
        assert report._nice_length_km(width) == pytest.approx(want)


def test_map_draws_only_open_stations_sized_by_ports():
    sites, cells = _layers()
    opened = report.open_sites(sites)
    assert opened["site_id"].tolist() == ["a", "b"]
    assert report._size([50], 50)[0] > report._size([6], 50)[0] > 0
    assert report._size_keys(50) == [5, 20, 50]
    png = report.map_png([report.MapPanel("x", opened, cells, [520400], [("stations", "2")])], "synthetic")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    two = report.map_png([report.MapPanel("x", opened, cells, [520400]), report.MapPanel("y", opened, None, [520400])], "two")
    assert two[:8] == b"\x89PNG\r\n\x1a\n" and two != png
    with pytest.raises(ValueError):
        report.map_png([], "none")


def test_write_bytes_atomic_leaves_no_temporary_file(tmp_path):
    report.write_bytes_atomic(tmp_path / "a.html", "x")
    report.write_bytes_atomic(tmp_path / "a.html", "y")
    assert (tmp_path / "a.html").read_text() == "y" and [p.name for p in tmp_path.iterdir()] == ["a.html"]


def test_years_and_codes_have_no_thousands_separator():
    page = report.table_html([{"year": 2026, "adcode": 520400, "nev_count": 46428}], [("year", "y"), ("adcode", "a"), ("nev_count", "n")])
    assert ">2026<" in page and ">520400<" in page and ">46,428<" in page


def test_map_without_boundaries_or_cells_still_draws():
    sites, _ = _layers()
    png = report.map_png([report.MapPanel("", report.open_sites(sites).iloc[:1], None, [])], "one station, no area")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
