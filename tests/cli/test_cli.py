"""CLI behaviour: prefecture selection and bad configs (exit 2, one line, nothing written)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evsiting.study.areas import Prefectures
from evsiting.core.errors import InputError
from evsiting.core.settings import configs_dir, resolve_path


def evsiting(*args, cwd=None):
    """The real command in its own process (``python -m evsiting.cli``): exit code and streams."""
    return subprocess.run([sys.executable, "-m", "evsiting.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def evsiting_here(*args):
    """The same command in this process (typer's CliRunner): same exit code, stdout and stderr,
    without a second interpreter start; the process-level path is kept by the tests using
    ``evsiting``."""
    from typer.testing import CliRunner

    from evsiting.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


@pytest.mark.parametrize("name", ["Guiyang", "guiyang", "贵阳市", "贵阳", "520100", "Qiandongnan", "黔东南苗族侗族自治州"])
def test_prefecture_names(name):
    prefs = Prefectures.from_csv(resolve_path("data:guizhou_census2020_population.csv"))
    assert prefs.resolve(name).adcode in (520100, 522600)


def test_unknown_prefecture_lists_valid_names():
    prefs = Prefectures.from_csv(resolve_path("data:guizhou_census2020_population.csv"))
    with pytest.raises(InputError, match="Guiyang"):
        prefs.resolve("Kunming")


def small_config(tmp_path: Path, **over) -> Path:
    # small on purpose (what is tested is the choice of prefecture, not the size): coarse cells,
    # 5 candidate cells per county, great-circle travel times
    raw = {"extends": str(configs_dir() / "guizhou.yaml"), "name": "t", "demand": {"h3_resolution": 6}, "candidates": {"per_county": 5},
           "impedance": {"method": "great_circle"}, "model": {"nevs_per_station": 5000}, "output_dir": str(tmp_path / "out")}
    for k, v in over.items():
        raw[k] = v
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


@pytest.mark.parametrize("name", ["Guiyang", "贵阳市", "520100"])
def test_run_one_prefecture_by_any_name(tmp_path, name):
    cfg = small_config(tmp_path)
    # the Chinese name through a real command line (argv encoding), the others in this process
    r = (evsiting if name == "贵阳市" else evsiting_here)("run", cfg, "--prefecture", name)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "t-guiyang"
    assert (out / "sites.geojson").exists() and (out / "manifest.json").exists()
    assert "Guiyang" in r.stdout and "Zunyi" not in r.stdout


@pytest.mark.parametrize(
    "over, words",
    [
        ({"modle": {"p": 3}}, ["modle", "unknown key"]),
        ({"model": {"p": -3, "nevs_per_station": None}}, ["model.p", "greater than 0"]),
        ({"prefectures": ["Atlantis"]}, ["prefectures", "Atlantis"]),
        ({"model": {"service_standard_min": 0}}, ["service_standard_min"]),
        ({"model": {"p": 5000, "nevs_per_station": None}}, ["model.p", "candidate sites"]),
    ],
)
def test_bad_config_exits_2_with_one_line_naming_the_field(tmp_path, over, words):
    cfg = small_config(tmp_path, **over)
    r = evsiting_here("run", cfg)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0]
    assert not (tmp_path / "out").exists()


def test_unknown_prefecture_option_exits_2(tmp_path):
    r = evsiting("run", small_config(tmp_path), "--prefecture", "Kunming")
    assert r.returncode == 2 and "Kunming" in r.stderr
    assert not (tmp_path / "out").exists()


def test_malformed_yaml_names_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodel: [p: 3\n")
    r = evsiting("run", path)
    assert r.returncode == 2 and "malformed YAML" in r.stderr and "line" in r.stderr
