"""The validation layer and the error plumbing of issue 15, piece by piece: file kinds by
content, parameter bounds and blame, the models' argument names translated to config keys,
the determinism record, the all-or-none commit of a batch's folders, and click's usage errors
as one ``error:`` line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from evsiting.cli import app
from evsiting.core.errors import InfeasibleError, InputError
from evsiting.core.filecheck import check_geojson_coordinates, csv_header, parse_config_text, sniff


@pytest.mark.parametrize("content, kind", [
    (b"lon,lat\n1,2\n", "csv"), (b"lon\tlat\n1\t2\n", "tsv"), (b"lon;lat\n1;2\n", "ssv"),
    (b'{"type": "FeatureCollection"}', "json"), (b"SQLite format 3\x00rest", "gpkg"), (b"\n\n", "empty"),
    (b"<?xml version='1.0'?><osm version='0.6'>", "osm"), (b"<?xml version='1.0'?><graphml>", "graphml"),
    (b"BZh91AY&SY", "bz2"), (b"\x00\x00\x00\x0d\n\tOSMHeader", "pbf"), (b"\x00\x01\x02\x03", "binary"),
])
def test_files_are_judged_by_content_not_name(tmp_path, content, kind):
    p = tmp_path / "synthetic.csv"  # the name says CSV whatever the content
    p.write_bytes(content)
    assert sniff(p) == kind


def test_a_damaged_binary_keeps_its_named_format_so_the_reader_names_the_error(tmp_path):
    p = tmp_path / "synthetic.osm.pbf"
    p.write_bytes(b"\x00\x01 not a pbf" * 50)
    assert sniff(p) == "pbf"


def test_duplicate_columns_and_text_coordinates(tmp_path):
    p = tmp_path / "synthetic.csv"
    p.write_text("id,lon,lat,id\n")
    with pytest.raises(InputError, match="two columns named 'id' \\(columns 1 and 4\\)"):
        csv_header(p)
    g = tmp_path / "synthetic.geojson"
    g.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
                 '"geometry":{"type":"Polygon","coordinates":[[[106,26],[106.1,26],["106.1",26.1],[106,26]]]}}]}')
    with pytest.raises(InputError, match="feature 1: coordinates must be numbers, got '106.1'"):
        check_geojson_coordinates(g)


@pytest.mark.parametrize("text, words", [
    ("a: 1\nb:\n  c: 2\n  c: 3\n", ["b.c", "duplicate key 'c'", "lines 3 and 4"]),
    ("a: &x\n  b: *x\n", ["a.b", "alias cycle"]),
    ("a: [&x [*x]]\n", ["alias cycle"]),
])
def test_config_text_checks(tmp_path, text, words):
    p = tmp_path / "synthetic.yaml"
    p.write_text(text)
    with pytest.raises(InputError) as e:
        parse_config_text(p)
    for w in words:
        assert w in str(e.value)


def test_yaml_12_booleans(tmp_path):
    p = tmp_path / "synthetic.yaml"
    p.write_text("a: yes\nb: on\nc: true\nd: False\ne: 1\n")
    assert parse_config_text(p) == {"a": "yes", "b": "on", "c": True, "d": False, "e": 1}


def test_parameter_bounds_and_blame():
    from evsiting.config.checks import check_parameter_overrides
    from evsiting.config.params import load_parameters

    params = load_parameters()
    for over, word in [({"dc_utilisation_hours": 24.5}, "from 0 to 24 h/day"), ({"public_charging_share": 1.01}, "a fraction"),
                       ({"circuity_factor": 0.9}, "from 1 to 10"), ({"site_max_dc_ports": 10.5}, "whole number"),
                       ({"dc_max_mean_wait_min": 0}, "positive"), ({"expressway_speed_kmh": True}, "boolean")]:
        with pytest.raises(InputError, match=word) as e:
            check_parameter_overrides(params, over, "synthetic.yaml")
        assert e.value.source == "synthetic.yaml" and e.value.field == f"parameters.{next(iter(over))}"
    check_parameter_overrides(params, {"dc_utilisation_hours": 24, "fleet_new_vehicle_sales_growth": -0.5}, "synthetic.yaml")
    over = params.with_overrides({"seg_taxi_share": 0.9}, "config parameters", "synthetic.yaml")
    assert over.blame("seg_taxi_share", "seg_logistics_share") == {"source": "synthetic.yaml", "field": "parameters.seg_taxi_share"}
    assert over.blame("seg_logistics_share")["source"] == str(params.path)
    from evsiting.demand.fleet import split_segments

    with pytest.raises(InputError) as e:
        split_segments(1000, 10, params.with_overrides({"seg_taxi_share": 0.96}, "config parameters", "synthetic.yaml"))
    assert e.value.source == "synthetic.yaml" and e.value.field == "parameters.seg_taxi_share"


def test_model_argument_names_become_config_keys(monkeypatch):
    from evsiting.config.schema import MCLPConfig
    from evsiting.stages import s5_model

    block = MCLPConfig(p=3)

    def infeasible(*a):
        raise InfeasibleError("p_facilities=3 is larger than the 2 candidate sites; lower p_facilities or add candidates")

    monkeypatch.setitem(s5_model.REGISTRY, MCLPConfig, infeasible)
    with pytest.raises(InfeasibleError) as e:
        s5_model.solve_model(block, None, None)
    assert "p_facilities" not in str(e.value) and "model.p=3" in str(e.value) and e.value.field == "model.p"

    def bad_radius(*a):
        raise InputError("service_radius must be finite and non-negative (minutes)", field="service_radius")

    monkeypatch.setitem(s5_model.REGISTRY, MCLPConfig, bad_radius)
    with pytest.raises(InputError) as e:
        s5_model.solve_model(block, None, None)
    assert e.value.field == "model.service_standard_min" and "service_radius" not in str(e.value)


def test_the_determinism_record():
    from evsiting.models import LocationResult
    from evsiting.stages.s5_model import determinism

    def result(status, message="", **stats):
        return LocationResult("MCLP", status, 1.0, 1.0, 0.0, np.array([0]), np.array([0]), 1.0, "cbc", message=message, stats=stats)

    assert determinism(result("optimal"), 60)["deterministic"] is True
    assert determinism(result("feasible", "stopped at the requested mip_gap=0.01"), 60)["deterministic"] is True
    d = determinism(result("feasible", "time limit reached; best solution kept"), 60)
    assert d["deterministic"] is False and "60 s" in d["why"]
    assert determinism(result("feasible", time_limited_steps=["incumbent"]), 5)["deterministic"] is False
    assert determinism(result("optimal", full_cover="unknown"), 5)["deterministic"] is False


def _folder(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "summary.json").write_text(text)
    (path / ".evsiting-outputs").write_text("summary.json\n")
    return path


def test_commit_checks_every_target_first_and_swaps_all(tmp_path):
    from evsiting.io.writers import commit

    out = tmp_path / "out"
    a, b = _folder(out / "a", "old a"), out / "b"
    b.mkdir(parents=True)
    (b / "notes.txt").write_text("the user's")  # not an output folder: never replaced
    staged = [(_folder(tmp_path / "st" / "a", "new a"), a), (_folder(tmp_path / "st" / "b", "new b"), b)]
    with pytest.raises(InputError, match="not an evsiting output folder"):
        commit(staged)
    assert (a / "summary.json").read_text() == "old a"  # nothing swapped
    (b / "notes.txt").unlink()
    b.rmdir()
    assert commit(staged) == [a, b]
    assert (a / "summary.json").read_text() == "new a" and (b / "summary.json").read_text() == "new b"
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


def test_ctrl_c_during_the_commit_is_held_until_every_folder_is_in_place(tmp_path, monkeypatch):
    import evsiting.io.writers as outputs

    out = tmp_path / "out"
    olds = [_folder(out / n, f"old {n}") for n in "abc"]
    staged = [(_folder(tmp_path / "st" / n, f"new {n}"), out / n) for n in "abc"]
    swap = outputs._swap_in
    calls = []

    def interrupted_swap(st, target):
        calls.append(target)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C after the first folder
        return swap(st, target)

    monkeypatch.setattr(outputs, "_swap_in", interrupted_swap)
    # the handler before the commit: Python's default_int_handler, or SIG_IGN when the suite
    # runs as a background job of a non-interactive shell (which ignores SIGINT for it)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(outputs.InterruptedAfterWrite) as e:
        outputs.commit(staged)
    assert e.value.written == olds
    assert [(p / "summary.json").read_text() for p in olds] == ["new a", "new b", "new c"]
    assert signal.getsignal(signal.SIGINT) is before  # restored


@pytest.mark.parametrize("args, words", [
    (["run"], ["Missing argument", "evsiting run --help"]),
    (["run", "x.yaml", "--tim", "3"], ["No such option: --tim", "Possible options"]),
    (["run", "x.yaml", "--workers", "two"], ["field '--workers'", "'two'"]),
    (["batch", "x.yaml", "--out="], ["field '--out'", "empty value"]),
])
def test_usage_errors_are_one_error_line_with_exit_2(args, words):
    r = CliRunner().invoke(app, args, prog_name="evsiting")
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
