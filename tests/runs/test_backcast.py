"""Back-cast (issue #13 item 6): the same pipeline for Guizhou's fleet in 2021 and 2023 beside
the public piles counted (end 2021) and planned (2021-2023 plan) then. Anshun, short limit."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
from typer.testing import CliRunner

from evsiting.cli import app
from evsiting.config.schema import load_config
from evsiting.demand.segments import province_demand
from evsiting.core.errors import InputError
from evsiting.core.settings import configs_dir
from evsiting.report.reality import backcast_fleet, render_backcast


def evsiting(*args):
    """The command in this process (typer's CliRunner; the real process is tested in tests/cli)."""
    r = CliRunner().invoke(app, [str(a) for a in args])
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


@pytest.fixture(scope="module")
def anshun_backcast(tmp_path_factory, shared):
    out = tmp_path_factory.mktemp("out")
    # Anshun at H3 resolution 6 with great-circle times: the back-cast's years, fleets and
    # observed figures are tested, not the size of the run
    cfg = out / "anshun.yaml"
    cfg.write_text(f"extends: {configs_dir() / 'prefectures' / 'anshun.yaml'}\nname: anshun\n"
                   "demand:\n  h3_resolution: 6\nimpedance:\n  method: great_circle\n", encoding="utf-8")
    r = evsiting("validate", "backcast", cfg, "--prefecture", "Anshun", "--out", out, "--time-limit", "10")
    assert r.returncode == 0, r.stderr
    return r, out / "anshun-anshun-backcast"


def test_backcast_writes_csv_and_json(anshun_backcast):
    r, folder = anshun_backcast
    table = pd.read_csv(folder / "backcast.csv")
    doc = json.loads((folder / "backcast.json").read_text(encoding="utf-8"))
    assert not list(folder.parent.glob(".anshun-anshun-backcast.partial-*"))
    assert list(table["year"]) == [2021, 2023, 2023]
    assert list(table["metric"]) == ["public_piles", "planned_piles", "planned_power_kw"]
    assert list(table["observed_province"]) == [26_000, 38_000, 1_600_000]
    # 2021: the observed 79,000 EVs; 2023: the fleet projection (projected, not observed)
    by_year = {run["year"]: run for run in doc["runs"]}
    assert by_year[2021]["nev_total"] == 79_000 and by_year[2021]["run_year"] == 2022
    assert "observed" in by_year[2021]["nev_source"]
    assert table.loc[1, "nev_province"] == province_demand(2023)["nev_total"]
    assert "projected" in by_year[2023]["nev_source"] and "not found" in by_year[2023]["nev_source"]
    for row in table.itertuples():
        share = row.nev_area / row.nev_province
        assert 0 < share < 1 and row.area_share == pytest.approx(share)
        assert row.observed_area == pytest.approx(row.observed_province * share)
        assert row.run_over_observed == pytest.approx(row.run_value / row.observed_area)
        # the stations serve the demand within reach, in whole ports per station: at most the rule
        # on all demand plus rounding (below 5 % here)
        assert row.run_value <= 1.05 * row.rule_all_demand
    assert table.loc[0, "run_value"] == by_year[2021]["total"]["ports_dc"] + by_year[2021]["total"]["ports_ac"]
    assert table.loc[2, "run_value"] == pytest.approx(by_year[2023]["total"]["power_kw"])
    # each run carries the validation table of an ordinary run
    assert by_year[2023]["validation"] and by_year[2023]["validation"][0]["metric"] == "nev_per_public_port"
    assert "Back-cast" in r.stdout and "public piles" in r.stdout and "planned kW" in r.stdout
    assert doc["comparisons"][0]["why"] and render_backcast(table).count("why:") == 3
    # the folder has its chart and report; the progress header names the whole fleet, not a cut text
    assert (folder / "backcast.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "modelled, not observed" in page and "public piles (counted)" in page
    assert "back-cast 2021: observed fleet at the end of 2021, 79,000 NEVs in Guizhou" in r.stderr


def test_backcast_fleet_needs_an_observed_stock_before_the_projection():
    cfg = load_config(configs_dir() / "guizhou.yaml")
    assert backcast_fleet(2022, cfg)["nev_total"] == 165_000
    assert backcast_fleet(2025, cfg)["nev_total"] is None
    with pytest.raises(InputError, match="2020"):
        backcast_fleet(2020, cfg)


def test_backcast_bad_years():
    r = evsiting("validate", "backcast", configs_dir() / "guizhou.yaml", "--years", "20x1")
    assert r.returncode == 2 and "--years" in r.stderr
