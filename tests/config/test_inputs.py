"""The config's paths resolved once (evsiting.config.inputs): relative to the config file,
``data:`` to the package data, optional files None; the checked record reaches the study."""

from __future__ import annotations

from pathlib import Path

import pytest

from evsiting.config.inputs import resolve_inputs
from evsiting.config.schema import load_config
from evsiting.core.errors import InputError
from evsiting.core.settings import configs_dir, data_dir


def _config(folder: Path, body: str) -> Path:
    p = folder / "synthetic.yaml"
    p.write_text("name: synthetic\nmodel: {type: lscp}\n" + body, encoding="utf-8")
    return p


def test_paths_resolve_relative_to_the_config_file_not_the_working_directory(tmp_path, monkeypatch):
    sub = tmp_path / "cfgs"
    sub.mkdir()
    cfg = load_config(_config(sub, "output_dir: out\ncandidates:\n  files:\n    - {path: sites/a.csv}\n"
                                   "    - {path: /abs/b.csv}\n"
                                   "buildout:\n  coverage:\n    - {places: county_seats, year: 2026}\n"
                                   "    - {places: {path: towns.csv}, year: 2026}\n"))
    monkeypatch.chdir(tmp_path)  # elsewhere: the paths must not follow the working directory
    r = resolve_inputs(cfg)
    assert r.candidate_files == (sub / "sites" / "a.csv", Path("/abs/b.csv"))
    assert r.output_dir == sub / "out"
    assert r.parameters == (data_dir() / "parameters.csv").resolve()
    assert r.coverage_places == (None, sub / "towns.csv")
    assert r.network is None and r.cache_dir is None and r.building_weights is None and r.services_file is None
    assert r.source == cfg.source


def test_a_network_section_resolves_its_file_and_cache_folder(tmp_path):
    cfg = load_config(_config(tmp_path, "network: {source: file, path: roads.osm.pbf, cache_dir: cache}\n"
                                        "demand:\n  building_weights: {source: network}\n"))
    r = resolve_inputs(cfg)
    assert (r.network, r.cache_dir) == (tmp_path / "roads.osm.pbf", tmp_path / "cache")
    assert r.building_weights is None  # source network: the network's file


def test_the_context_checks_the_inputs_and_reads_the_parameters_once_and_the_study_carries_them(shared, tmp_path):
    from evsiting.stages.context import RunContext
    from evsiting.stages.s1_study import load_study

    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    ctx = RunContext.open(cfg, tmp_path, write=False)
    assert ctx.inputs == resolve_inputs(cfg)
    study = load_study(cfg, inputs=ctx.inputs, params=ctx.params)
    assert study.inputs is ctx.inputs and study.params is ctx.params
    assert ctx.params.path == ctx.inputs.parameters
    by_value = {f["path"]: f["resolved"] for f in study.files}
    assert by_value[cfg.data.counties] == str(ctx.inputs.counties)


def test_a_missing_candidate_file_is_named_by_the_config_and_its_key(tmp_path):
    from evsiting.stages.context import RunContext

    cfg = load_config(_config(tmp_path, "candidates:\n  files:\n    - {path: nowhere.csv}\n"))
    with pytest.raises(InputError) as err:
        RunContext.open(cfg, tmp_path / "out", write=False)
    assert err.value.field == "candidates.files.0.path"
    assert str(tmp_path / "synthetic.yaml") in str(err.value)
