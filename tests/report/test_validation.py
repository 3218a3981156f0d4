"""Validation of a run against observed charging figures (issue #13, item 6)."""

from __future__ import annotations

import pandas as pd
import pytest

from evsiting.core.errors import InputError
from evsiting.report.reality import (
    METRICS,
    load_observed,
    observed_value,
    render_validation,
    validate_summary,
    validation_table,
)

OBS = load_observed()

# China's public network, end 2025 (the inputs of the observed ratios): 43.97 M NEVs,
# 4.717 M public ports of which 45.8 % DC, 220 GW, 9.07 bn kWh in December.
CHINA = dict(nev_count=43.97e6, ports_dc=0.458 * 4.717e6, ports_ac=0.542 * 4.717e6, power_kw=220e6,
             energy_served_kwh_day=9.07e9 / 31)


def test_observed_file_has_every_metric_with_a_sourced_figure():
    assert set(METRICS) <= set(OBS["metric"])
    assert (OBS["source"].str.len() > 40).all() and (OBS["confidence"].str.len() > 0).all()
    assert set(OBS["scope"]) == {"China", "Guizhou"}
    assert observed_value("nev_stock", "Guizhou", "2021-12") == 79_000
    assert observed_value("public_piles", "Guizhou") == 26_000
    assert observed_value("planned_piles", "Guizhou") == 38_000
    assert observed_value("planned_power_kw", "Guizhou") == 1_600_000
    with pytest.raises(InputError):
        observed_value("nev_stock", "Guizhou")  # two dates: ambiguous


def test_observed_ratios_follow_from_their_inputs():
    v = {(r.metric, r.scope, r.date): r.value for r in OBS.itertuples()}
    assert v[("nev_per_public_port", "China", "2025-12")] == pytest.approx(43.97 / 4.717, abs=0.05)
    assert v[("kwh_per_public_port_day", "China", "2025-12")] == pytest.approx(9.07e9 / 4.717e6 / 31, abs=0.5)
    assert v[("full_power_hours_per_day", "China", "2025-12")] == pytest.approx(9.07e9 / 31 / 220e6, abs=0.005)
    assert v[("nev_per_public_port", "Guizhou", "2021-12")] == pytest.approx(79_000 / 26_000, abs=0.005)
    assert v[("kw_per_public_port", "Guizhou", "2023 (plan)")] == pytest.approx(1.6e6 / 38_000, abs=0.05)


def test_the_national_network_matches_its_own_figures():
    df = validation_table(**CHINA)
    china = df[(df["scope"] == "China") & (df["observed_date"] >= "2025")]
    assert set(china["metric"]) == set(METRICS)
    assert china["run_over_observed"].to_numpy() == pytest.approx(1.0, abs=0.02)
    assert (df["why"].str.len() > 20).all()
    assert set(df.columns) >= {"metric", "run_value", "observed_value", "observed_date", "scope", "run_over_observed", "why", "source"}


def test_unserved_energy_is_named_and_no_ports_gives_no_ratio():
    df = validation_table(1000, 0, 0, 0, 0.0, energy_kwh_day=6000.0)
    row = df[df["metric"] == "nev_per_public_port"].iloc[0]
    assert pd.isna(row["run_value"]) and pd.isna(row["run_over_observed"])
    assert validate_summary({"nev_count": 1000, "ports_dc": 0, "ports_ac": 0, "power_kw": 0.0,
                             "energy_served_kwh_day": 0.0})[0]["run_value"] is None
    assert "beyond the service standard" in row["why"]
    assert "-" in render_validation(df)
    with pytest.raises(ValueError):
        validation_table(0, 1, 1, 1, 1)


def test_summary_records_and_console_table():
    total = {"nev_count": 46_428, "ports_dc": 1_723, "ports_ac": 1_930, "power_kw": 173_749.0,
             "energy_served_kwh_day": 228_106.3, "energy_kwh_day": 304_973.8}
    recs = validate_summary(total)
    assert recs and all(isinstance(r["why"], str) for r in recs)
    first = recs[0]
    assert first["metric"] == "nev_per_public_port" and first["run_value"] == pytest.approx(46_428 / 3_653, rel=1e-5)
    text = render_validation(recs)
    for label in METRICS.values():
        assert label in text
    assert "China 2025-12" in text and "Guizhou 2021-12" in text
    assert validate_summary({"nev_count": 0}) == []
    assert render_validation([]) == ""


def test_bad_observed_file(tmp_path):
    p = tmp_path / "obs.csv"
    p.write_text("metric,value,unit,date,scope,source,confidence\nx,abc,u,2025,China,src,c\n", encoding="utf-8")
    with pytest.raises(InputError):
        load_observed(p)
    p.write_text("metric,value\nx,1\n", encoding="utf-8")
    with pytest.raises(InputError):
        load_observed(p)
    p.write_text("metric,value,unit,date,scope,source,confidence\nx,1,u,2025,China,,c\n", encoding="utf-8")
    with pytest.raises(InputError):
        load_observed(p)
    with pytest.raises(InputError):
        load_observed(tmp_path / "missing.csv")
    assert isinstance(load_observed(), pd.DataFrame)
