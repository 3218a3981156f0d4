"""Batch runs: the 9 prefectures in parallel worker processes and the province roll-up.

The config is a temporary one extending configs/guizhou.yaml with few candidates, coarse H3
cells and one station per 20,000 NEVs, so each prefecture run takes a few seconds.
"""

from __future__ import annotations

import csv
import json

import pytest

from evsiting.config.schema import load_config
from evsiting.core.settings import configs_dir

from small_configs import small_province_config

PREFECTURE_SLUGS = ["guiyang", "liupanshui", "zunyi", "anshun", "bijie", "tongren", "qianxinan", "qiandongnan", "qiannan"]


def small_config(tmp_path, name="small", extra=""):
    return small_province_config(tmp_path, name, extra=extra)


@pytest.fixture(scope="module")
def batch(province_batch):
    """The session's small 9-prefecture batch (tests/runs/conftest.py), shared with
    test_batch_interrupt.py."""
    folder, res = province_batch
    return folder / "out", res


def test_all_prefectures_write_nine_folders_and_a_rollup(batch):
    out, res = batch
    assert not res.failed
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted([f"small-{s}" for s in PREFECTURE_SLUGS] + ["small-province"])
    for s in PREFECTURE_SLUGS:
        assert {"sites.geojson", "demand.geojson", "summary.json", "manifest.json"} <= {p.name for p in (out / f"small-{s}").iterdir()}
    layers = {p.name for p in (out / "small-guiyang").glob("*.geojson")}
    assert {"province_summary.json", "province_summary.csv"} | layers <= {p.name for p in (out / "small-province").iterdir()}
    # a map and a report in every folder, the roll-up's with every prefecture (issue 16)
    for name in [f"small-{s}" for s in PREFECTURE_SLUGS] + ["small-province"]:
        assert {"map.png", "report.html"} <= {p.name for p in (out / name).iterdir()}, name
    page = (out / "small-province" / "report.html").read_text(encoding="utf-8")
    assert all(n in page for n in ("Guiyang", "Qiannan", "Total", "Checked against observed figures"))
    roll = json.loads((out / "small-province" / "province_summary.json").read_text())
    per = [json.loads((out / f"small-{s}" / "summary.json").read_text()) for s in PREFECTURE_SLUGS]
    assert roll["stations_over_site_max"] == sum(p["stations_over_site_max"] for p in per)
    assert len(roll["warnings"]) == sum(len(p["warnings"]) for p in per)
    # the station list and county table of every prefecture, in one file each (issue 23)
    for table, key in (("stations.csv", None), ("counties.csv", "counties")):
        lines = (out / "small-province" / table).read_text(encoding="utf-8-sig").splitlines()
        parts = [(out / f"small-{s}" / table).read_text(encoding="utf-8-sig").splitlines() for s in PREFECTURE_SLUGS]
        assert lines[0] == parts[0][0] and len(lines) == 1 + sum(len(p) - 1 for p in parts)
    assert len(roll["counties"]) == sum(len(p["counties"]) for p in per) == 88
    assert "Stations (" in page and "By county" in page


def test_rollup_totals_are_the_sums_of_the_prefecture_outputs(batch):
    out, _ = batch
    roll = json.loads((out / "small-province" / "province_summary.json").read_text())
    per = [json.loads((out / f"small-{s}" / "summary.json").read_text())["total"] for s in PREFECTURE_SLUGS]
    for key in ("nev_count", "stations", "ports_dc", "ports_ac", "nev_covered"):
        assert roll["total"][key] == sum(p[key] for p in per), key
    for key in ("energy_kwh_day", "power_kw", "unserved_energy_kwh_day"):
        assert roll["total"][key] == pytest.approx(sum(p[key] for p in per), abs=0.01), key
    tot = roll["total"]
    assert tot["coverage_share"] == pytest.approx(tot["nev_covered"] / tot["nev_count"], abs=1e-6)
    assert tot["nev_per_public_charger"] == pytest.approx(tot["nev_count"] / (tot["ports_dc"] + tot["ports_ac"]), abs=1e-3)
    # base 2026 scenario: the province target, exactly
    assert tot["nev_count"] == 700_000
    assert roll["target"] == {"nev_target": 700_000, "target_year": 2026, "scenario_year": 2026, "nev_total": 700_000, "share_of_target": 1.0}
    assert roll["complete"] and [r["name_en"] for r in roll["prefectures"]] == [
        "Guiyang", "Liupanshui", "Zunyi", "Anshun", "Bijie", "Tongren", "Qianxinan", "Qiandongnan", "Qiannan"]


def test_merged_layers_hold_every_prefecture_feature(batch):
    out, _ = batch
    n_sites = n_cells = 0
    for s in PREFECTURE_SLUGS:
        n_sites += len(json.loads((out / f"small-{s}" / "sites.geojson").read_text())["features"])
        n_cells += len(json.loads((out / f"small-{s}" / "demand.geojson").read_text())["features"])
    sites = json.loads((out / "small-province" / "sites.geojson").read_text())["features"]
    cells = json.loads((out / "small-province" / "demand.geojson").read_text())["features"]
    assert len(sites) == n_sites and len(cells) == n_cells
    assert [f["id"] for f in sites] == list(range(len(sites)))
    assert len({f["properties"]["site_id"] for f in sites}) == len(sites)
    assert sum(f["properties"]["nev_count"] for f in cells) == 700_000
    rows = list(csv.DictReader((out / "small-province" / "province_summary.csv").open()))
    assert len(rows) == 10 and rows[-1]["name_en"] == "total" and int(rows[-1]["nev_count"]) == 700_000
    assert sum(int(r["stations"]) for r in rows[:-1]) == int(rows[-1]["stations"])


def test_a_failing_run_is_reported_and_the_others_are_written(tmp_path, shared):
    """evsiting batch with two scenario configs, one of which cannot be solved (p above the
    number of candidate sites): the other's run and roll-up are written, exit code 1."""
    from typer.testing import CliRunner

    from evsiting.cli import app

    good = small_config(tmp_path, "good", "prefectures: [Anshun]\n")
    bad = small_config(tmp_path, "bad", "prefectures: [Anshun]\n")
    bad.write_text(bad.read_text().replace("nevs_per_station: 20000", "nevs_per_station: 1"))
    res = CliRunner().invoke(app, ["batch", str(bad), str(good), "--workers", "1"])
    assert res.exit_code == 1, res.output
    assert "failed: bad/Anshun" in res.output and "candidate sites" in res.output
    assert (tmp_path / "out" / "good-anshun" / "summary.json").exists()
    roll = json.loads((tmp_path / "out" / "good-province" / "province_summary.json").read_text())
    assert roll["complete"] and roll["total"]["nev_count"] == json.loads((tmp_path / "out" / "good-anshun" / "summary.json").read_text())["total"]["nev_count"]
    assert not (tmp_path / "out" / "bad-anshun").exists() and not (tmp_path / "out" / "bad-province").exists()


def test_scenario_configs_load_with_distinct_names():
    names = [load_config(p).name for p in sorted((configs_dir() / "scenarios").glob("*.yaml"))]
    assert len(names) >= 3 and len(set(names)) == len(names)


def test_cli_prefecture_all_rejects_a_scheduler_without_dask(tmp_path, shared):
    from typer.testing import CliRunner

    from evsiting.cli import app

    res = CliRunner().invoke(app, ["run", str(small_config(tmp_path)), "--prefecture", "all", "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2
    assert "needs --executor dask" in res.output


def _summary(adcode, name, nev, covered, dc, ac, year=2026):
    """A SYNTHETIC run summary (the shape pipeline.run writes), for the roll-up arithmetic."""
    block = {"adcode": adcode, "name_zh": name, "name_en": name, "nev_count": nev, "energy_kwh_day": nev * 6.5, "stations": 2,
             "ports_dc": dc, "ports_ac": ac, "power_kw": dc * 120.0 + ac * 7.0, "nev_covered": covered,
             "coverage_share": round(covered / nev, 6), "energy_served_kwh_day": covered * 6.5,
             "unserved_energy_kwh_day": (nev - covered) * 6.5, "nev_per_public_charger": round(nev / (dc + ac), 3), "cost_cny": 1000.0}
    return {"year": year, "scenario": "base", "p": 2, "total": dict(block), "prefectures": [block],
            "depots": [{"adcode": adcode, "name_en": name, "nev_buses": 10, "depot_kwh_day": 100.0, "ports_depot": 3, "power_kw": 180.0}]}


def test_rollup_recomputes_ratios_from_sums_and_flags_missing_prefectures():
    from evsiting.core.errors import InputError
    from evsiting.runs.rollup import province_summary, summary_csv

    a, b = _summary(520400, "Anshun", 1000, 900, 10, 40), _summary(520100, "Guiyang", 3000, 1500, 20, 30)
    s = province_summary([a, b], ["x-anshun", "x-guiyang"], 700_000, 2026, missing=["Zunyi"])
    assert [r["adcode"] for r in s["prefectures"]] == [520100, 520400]
    t = s["total"]
    assert (t["nev_count"], t["nev_covered"], t["ports_dc"], t["ports_ac"], t["cost_cny"], t["ports_depot"]) == (4000, 2400, 30, 70, 2000.0, 6)
    assert t["coverage_share"] == 0.6 and t["nev_per_public_charger"] == 40.0  # not the mean of 0.9 and 0.5, or of 20 and 60
    assert not s["complete"] and s["missing"] == ["Zunyi"]
    assert s["target"]["share_of_target"] == round(4000 / 700_000, 6)
    assert summary_csv(s).splitlines()[-1].split(",")[2] == "total"
    with pytest.raises(InputError):
        province_summary([a, _summary(520100, "Guiyang", 3000, 1500, 20, 30, year=2030)], ["a", "b"], 700_000, 2026)
    with pytest.raises(InputError):
        province_summary([a, a], ["a", "b"], 700_000, 2026)


def test_rollup_of_capacitated_runs_without_p():
    """The capacitated model (the default) sizes itself: its summaries have no ``p``; the
    roll-up leaves p empty instead of failing (``run configs/guizhou.yaml --prefecture all``)."""
    from evsiting.runs.rollup import province_summary, summary_csv

    a, b = _summary(520400, "Anshun", 1000, 900, 10, 40), _summary(520100, "Guiyang", 3000, 1500, 20, 30)
    for x in (a, b):
        x.pop("p")
    s = province_summary([a, b], ["x-anshun", "x-guiyang"], 700_000, 2026)
    assert s["total"]["p"] is None and [r["p"] for r in s["prefectures"]] == [None, None]
    assert s["total"]["stations"] == 4 and s["complete"]
    rows = summary_csv(s).splitlines()
    assert rows[0].startswith("adcode,name_zh,name_en,run,p,") and rows[-1].startswith(",,total,,,")


def test_rollup_counts_stations_over_the_site_maximum_and_carries_every_warning():
    """Warnings travel up (issue 16): the roll-up sums stations_over_site_max and lists every
    run's warnings, prefixed by prefecture; a legacy summary without 'warnings' gives its own."""
    from evsiting.runs.rollup import province_summary, summary_csv

    a, b = _summary(520400, "Anshun", 1000, 900, 10, 40), _summary(520100, "Guiyang", 3000, 1500, 20, 30)
    a.update(stations_over_site_max=3, site_max_ports={"dc": 30, "ac": 50},
             warnings=["3 station(s) need more ports than one site holds (30 DC / 50 AC)", "sites.csv: 2 site(s) skipped"])
    b.update(stations_over_site_max=2, site_max_ports={"dc": 30, "ac": 50})  # written before 'warnings' existed
    s = province_summary([a, b], ["x-anshun", "x-guiyang"], 700_000, 2026, missing=["Zunyi"])
    assert s["stations_over_site_max"] == 5 == s["total"]["stations_over_site_max"]
    assert [r["stations_over_site_max"] for r in s["prefectures"]] == [2, 3]
    assert s["warnings"][0].startswith("Guiyang: 2 station(s) need more ports than one site holds")
    assert "Anshun: sites.csv: 2 site(s) skipped" in s["warnings"]
    assert s["warnings"][-1] == "no run for Zunyi: the roll-up is incomplete"
    header, *rows = summary_csv(s).splitlines()
    assert "stations_over_site_max" in header.split(",") and rows[-1].split(",")[header.split(",").index("stations_over_site_max")] == "5"


def test_rollup_compares_stations_with_the_urban_population_of_its_runs():
    """Synthetic summaries: three prefecture runs whose rows carry the census urban population
    (as run_summary writes it); the roll-up sums it and gives the same record a province run
    does. Runs written before the field existed give none."""
    from evsiting.runs.rollup import province_summary

    runs = [_summary(520100, "Guiyang", 3000, 3000, 20, 30), _summary(520400, "Anshun", 1000, 1000, 10, 40),
            _summary(520200, "Liupanshui", 2000, 2000, 10, 10)]
    assert "stations_by_urban_population" not in province_summary(runs, ["a", "b", "c"], 700_000, 2026)
    for s, urban in zip(runs, (400_000, 100_000, 200_000)):
        s["prefectures"][0]["urban_population"] = urban
        s["prefectures"][0]["stations"] = urban // 10_000
    roll = province_summary(runs, ["a", "b", "c"], 700_000, 2026)
    rec = roll["stations_by_urban_population"]
    assert roll["total"]["urban_population"] == 700_000
    assert rec["r_urban_population"] == pytest.approx(1.0) and abs(rec["max_share_gap"]) < 1e-9
    assert [r["station_share"] for r in roll["prefectures"]] == [round(40 / 70, 4), round(20 / 70, 4), round(10 / 70, 4)]
