"""Every model of the registry runs from a config (``model.type``) on Anshun and writes the
usual layers, summary.json and manifest.json; a model block replaces the one it extends."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import yaml

from evsiting.config.schema import MODEL_CONFIGS, config_from_dict, load_config
from evsiting.core.errors import InputError
from evsiting.runs.run import run
from evsiting.stages.s5_model import REGISTRY

from locations import BASE_YAML

BASE = BASE_YAML  # small Anshun run, great-circle times


def extending(tmp_path: Path, model: dict, name: str = "m") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"extends": str(BASE), "name": name, "model": model}))
    return path


def test_registry_and_config_know_the_same_models():
    assert set(MODEL_CONFIGS) == {"mclp", "lscp", "pmedian", "pcenter", "capacitated"}
    assert set(REGISTRY) == set(MODEL_CONFIGS.values())  # one adapter per config block class


def test_a_model_block_replaces_the_extended_one(tmp_path):
    cfg = load_config(extending(tmp_path, {"type": "pmedian", "p": 4}))
    assert cfg.model.type == "pmedian" and cfg.model.p == 4 and cfg.model.nevs_per_station is None
    # the other sections still merge
    assert cfg.candidates.per_county == 5 and cfg.impedance.method == "great_circle"


def test_a_model_block_of_the_same_type_merges_over_the_extended_one(tmp_path):
    """``configs/guizhou.yaml`` has a capacitated block with zone standards: an extending block
    of the same type that turns on the power limit keeps them (it replaced them with the
    15-minute default before, silently), and one that sets a single standard drops them."""
    guizhou = Path(__file__).resolve().parents[2] / "configs" / "guizhou.yaml"
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"extends": str(guizhou), "name": "p",
                                    "model": {"type": "capacitated", "power_limit": True}}))
    cfg = load_config(path)
    assert cfg.model.power_limit and cfg.model.zone_standards and cfg.model.type == "capacitated"
    path.write_text(yaml.safe_dump({"extends": str(guizhou), "name": "p",
                                    "model": {"type": "capacitated", "service_standard_min": 20}}))
    cfg = load_config(path)
    assert not cfg.model.zone_standards and cfg.model.service_standard_min == 20
    assert "service_standard_min" in cfg.model.model_fields_set


@pytest.mark.parametrize(
    "model, field, words",
    [
        ({"type": "lscp", "p": 3}, "model.p", "unknown key"),
        ({"type": "pmedian", "pp": 3}, "model.pp", "did you mean 'p'"),
        ({"type": "pmedain", "p": 3}, "model.type", "did you mean 'pmedian'"),
        ({"type": "pcenter"}, "model", "exactly one of 'p' and 'nevs_per_station'"),
        ({"type": "capacitated", "service_standard_min": -1}, "model.service_standard_min", "greater than 0"),
    ],
)
def test_model_keys_are_checked_per_type(model, field, words):
    with pytest.raises(InputError) as exc:
        config_from_dict({"name": "x", "model": model})
    assert exc.value.field == field and words in exc.value.message


@pytest.mark.parametrize(
    "model",
    [
        {"type": "mclp", "p": 4},
        {"type": "lscp"},
        {"type": "pmedian", "p": 8, "max_travel_min": 120},
        {"type": "pcenter", "p": 8, "max_travel_min": 120},
        {"type": "capacitated"},
    ],
    ids=lambda m: m["type"],
)
def test_each_model_runs_from_a_config_and_writes_the_usual_files(tmp_path, shared, model):
    cfg = load_config(extending(tmp_path, model, model["type"]))
    cfg.solver.mip_gap = 0.01  # the capacitated model is slow to prove the last fraction
    cfg.demand.h3_resolution = 6  # 386 demand cells instead of 2,133: the model choice is tested, not the size
    res = run(cfg, out_base=tmp_path / "out")
    files = {p.name for p in res.out_dir.iterdir()}
    assert {"sites.geojson", "demand.geojson", "allocation.geojson", "service_areas.geojson", "run.gpkg",
            "summary.json", "manifest.json"} <= files
    summary = json.loads((res.out_dir / "summary.json").read_text())
    manifest = json.loads((res.out_dir / "manifest.json").read_text())
    assert manifest["config"]["model"]["type"] == model["type"]
    assert manifest["solver"]["status"] in ("optimal", "feasible") and summary["total"]["stations"] >= 1
    sites = gpd.read_file(res.out_dir / "sites.geojson")
    chosen = sites[sites["facility_type"] != "candidate"]
    assert len(chosen) == summary["total"]["sites"]
    assert int(chosen["stations"].sum()) == summary["total"]["stations"]  # a cell site may hold several
    if model["type"] in ("pmedian", "pcenter"):
        key = "objective_weighted_travel_min" if model["type"] == "pmedian" else "objective_max_travel_min"
        assert summary[key] == pytest.approx(manifest["solver"]["objective"], rel=1e-6)
        assert chosen["max_travel_min"].notna().all() and (chosen["mean_travel_min"] <= chosen["max_travel_min"]).all()
        if model["type"] == "pcenter":
            assert chosen["max_travel_min"].max() == pytest.approx(summary[key], abs=1e-3)
    if model["type"] == "capacitated":  # the model's ports fit the sites and serve the energy
        assert (chosen["ports_dc"] <= 30 * chosen["stations"]).all() and (chosen["ports_ac"] <= 50 * chosen["stations"]).all()
        assert summary["objective_cost_cny"] == pytest.approx(manifest["solver"]["objective"])


def test_assigned_travel_counts_only_demand_points_and_weights_the_mean():
    """SYNTHETIC cells: a cell without NEVs assigned farther away is not a demand point (p-center
    leaves it out of its objective), and the mean is NEV-weighted (p-median's objective)."""
    import geopandas as gpd
    from shapely.geometry import Point

    from evsiting.stages.s7_outputs import with_assigned_travel

    cells = gpd.GeoDataFrame({"station_id": ["a", "a", "a", "b", None], "travel_min": [10.0, 20.0, 59.0, 5.0, 1.0],
                              "nev_count": [3, 1, 0, 2, 7]}, geometry=[Point(0, 0)] * 5, crs=4326)
    sites = gpd.GeoDataFrame({"site_id": ["a", "b", "c"], "total_minutes": [0, 0, 0]}, geometry=[Point(0, 0)] * 3, crs=4326)
    out = with_assigned_travel(sites, cells)
    assert out["max_travel_min"].tolist()[:2] == [20.0, 5.0] and out["max_travel_min"].isna().tolist()[2]
    assert out["mean_travel_min"].tolist()[:2] == [pytest.approx(12.5), 5.0]
