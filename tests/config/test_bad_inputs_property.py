"""Property test of the bad-input promise (issue 15): random malformations of a valid config
and of a valid candidate file each end with exit code 2, one ``error:`` line naming the file
(and, for config values, the dotted key), no traceback, and nothing written: a previous run's
folder stays byte for byte as it was and nothing appears beside it.

Only the validation path runs: the demand stage is replaced by a function that fails the test,
so a malformation that slipped through would be caught before any real work (and no model is
ever solved). Bounded (about 25 examples each), so it runs in seconds.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples import examples
from typer.testing import CliRunner

import evsiting.stages.instance as instance  # where every command calls the demand stage
from evsiting.cli import app

from locations import BASE_YAML

BASE = BASE_YAML  # a small valid Anshun run
PROPERTY = settings(max_examples=examples(25), deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Values no numeric key accepts (YAML text).
ALWAYS_BAD = [".nan", ".inf", "-.inf", "yes", "off", "true", "'abc'", "[1, 2]", "{a: 1}", "-1e12"]
#: Numeric keys and values beyond their own bounds (YAML text).
NUMERIC_KEYS = {
    "model.service_standard_min": ["0", "-15", "1000000", "241"],
    "model.nevs_per_station": ["0", "-2000"],
    "candidates.per_county": ["0", "-5", "2.5"],
    "candidates.target_ceiling": ["0", "1.5"],
    "candidates.max_added": ["-1", "0.5"],
    "demand.h3_resolution": ["3", "10", "15"],
    "demand.nev_total": ["0", "-700000"],
    "year": ["2019", "2041", "1e9"],
    "solver.time_limit_s": ["0", "-60"],
    "solver.mip_gap": ["-0.1", "2"],
    "parameters.dc_utilisation_hours": ["0", "25", "30", "-1"],
    "parameters.public_charging_share": ["-0.1", "1.2"],
    "parameters.local_road_speed_kmh": ["0", "-40", "1000"],
    "parameters.circuity_factor": ["0.5", "0", "11"],
    "parameters.dc_peak_hour_share": ["0", "1.5"],
    "parameters.site_max_dc_ports": ["-1", "2.5", "1e6"],
}
SECTIONS = ["model", "candidates", "demand", "solver", "fleet", "impedance"]
DATA_KEYS = ["counties", "prefecture_population", "county_population", "urbanisation", "household_cars", "motorways", "parameters"]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


def nested(dotted: str, value: str) -> str:
    """YAML text setting ``dotted`` (``a.b``) to ``value`` (YAML text)."""
    parts = dotted.split(".")
    lines = [f"{'  ' * i}{p}:" for i, p in enumerate(parts[:-1])]
    lines.append(f"{'  ' * (len(parts) - 1)}{parts[-1]}: {value}")
    return "\n".join(lines) + "\n"


def check_promise(work: Path, config: Path, words: list[str], args: tuple[str, ...] = ()) -> None:
    """Run the config with a previous output folder in place; assert the promise."""
    out = work / "out"
    (out / "bad").mkdir(parents=True)
    (out / "bad" / "summary.json").write_text('{"previous": true}\n')
    before = snapshot(work)

    def no_work(*a, **k):
        raise AssertionError("the malformed input passed validation and the run started its work")

    with mock.patch.object(instance, "build_demand", no_work):
        r = CliRunner().invoke(app, ["run", str(config), "--out", str(out), *args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.exit_code == 2, r.output
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert snapshot(work) == before


# --- configs ----------------------------------------------------------------------------------

@st.composite
def bad_config(draw) -> tuple[bytes, list[str]]:
    """(config bytes, words the error line must hold)."""
    head = f"extends: {BASE}\n"
    kind = draw(st.sampled_from(["value", "value", "value", "unknown_key", "duplicate_key", "not_utf8", "missing_data", "folder_data"]))
    if kind == "value":
        key = draw(st.sampled_from(sorted(NUMERIC_KEYS)))
        value = draw(st.sampled_from(ALWAYS_BAD + NUMERIC_KEYS[key]))
        model = "model:\n  nevs_per_station: 2000\n" if key.startswith("model.") and key != "model.nevs_per_station" else ""
        body = nested(key, value)
        if model:  # a model block replaces the base's whole: keep its size
            body = body.replace("model:\n", model, 1)
        return (head + body).encode(), ["config.yaml", f"'{key}'"]
    if kind == "unknown_key":
        section = draw(st.sampled_from(SECTIONS))
        typo = draw(st.text(alphabet="qxzjkv", min_size=3, max_size=8))
        return (head + f"{section}:\n  {typo}_{typo}: 1\n").encode(), ["config.yaml", f"{section}.{typo}_{typo}", "unknown key"]
    if kind == "duplicate_key":
        key = draw(st.sampled_from(["name", "year", "output_dir"]))
        return (head + f"{key}: a\n{key}: b\n").encode(), ["config.yaml", f"'{key}'", "duplicate key"]
    if kind == "not_utf8":
        byte = draw(st.sampled_from([b"\xe9", b"\xff", b"\xc3(", b"\x80"]))
        return head.encode() + b"# caf" + byte + b" note\nname: bad\n", ["config.yaml", "not UTF-8", "line 2"]
    key = draw(st.sampled_from(DATA_KEYS))
    if kind == "missing_data":
        return (head + f"data:\n  {key}: synthetic_missing_{key}.csv\n").encode(), ["config.yaml", f"'data.{key}'", "file not found"]
    return (head + f"data:\n  {key}: .\n").encode(), ["config.yaml", f"'data.{key}'", "is a folder"]


@PROPERTY
@given(bad_config())
def test_random_config_malformations_keep_the_promise(shared, case):
    text, words = case
    with tempfile.TemporaryDirectory(prefix="evsiting-prop-") as tmp:
        work = Path(tmp)
        cfg = work / "config.yaml"
        cfg.write_bytes(text)
        check_promise(work, cfg, words)


# --- candidate files --------------------------------------------------------------------------

ROWS = [("A1", "106.03", "26.19"), ("A2", "106.18", "26.44"), ("A3", "105.68", "26.34"), ("A4", "105.87", "25.80")]


@st.composite
def bad_candidates(draw) -> tuple[bytes, list[str]]:
    """(CSV bytes of a candidate file in GCJ-02, words the error line must hold)."""
    rows = [list(r) for r in ROWS]
    header = ["site", "lon", "lat"]
    i = draw(st.integers(0, len(rows) - 1))
    kind = draw(st.sampled_from(["text_coordinate", "infinite", "duplicate_id", "empty_id", "duplicate_column", "missing_column",
                                 "swapped", "projected", "far_away", "semicolons", "empty_file", "header_only"]))
    words = ["synthetic_sites.csv"]
    if kind == "text_coordinate":
        rows[i][1] = draw(st.sampled_from(["106°01'", "E106.03", "abc", "106,03", "1O6.03"]))
        words += [f"row {i + 1}", "finite numbers"]
    elif kind == "infinite":
        rows[i][2] = draw(st.sampled_from(["inf", "-inf", "Infinity"]))
        words += [f"row {i + 1}", "finite"]
    elif kind == "duplicate_id":
        j = draw(st.integers(0, len(rows) - 1).filter(lambda j: j != i))
        rows[i][0] = rows[j][0]
        words += ["duplicate ids", "'site'"]
    elif kind == "empty_id":
        rows[i][0] = ""
        words += [f"row {i + 1}", "empty id"]
    elif kind == "duplicate_column":
        col = draw(st.sampled_from(header))
        header.append(col)
        rows = [r + [r[header.index(col)]] for r in rows]
        words += [f"two columns named '{col}'"]
    elif kind == "missing_column":
        col = draw(st.sampled_from(["lon", "lat"]))
        k = header.index(col)
        header = header[:k] + header[k + 1:]
        rows = [r[:k] + r[k + 1:] for r in rows]
        words += ["missing column", f"'{col}'"]
    elif kind == "swapped":
        rows = [[r[0], r[2], r[1]] for r in rows]  # the lon and lat columns exchanged
        words += ["swapped"]
    elif kind == "projected":
        rows[i][1], rows[i][2] = "603000", "2897000"
        words += [f"row {i + 1}", "projected"]
    elif kind == "far_away":
        rows[i][1], rows[i][2] = draw(st.sampled_from([("102.71", "25.04"), ("116.40", "39.90"), ("0.5", "0.5")]))
        words += ["outside the study area", f"row {i + 1}"]
    sep = ";" if kind == "semicolons" else ","
    if kind == "semicolons":
        words += ["separator"]
    if kind == "empty_file":
        return b"", words + ["empty"]
    if kind == "header_only":
        return (sep.join(header) + "\n").encode(), words + ["no rows"]
    return ("\n".join(sep.join(r) for r in [header] + rows) + "\n").encode(), words


@PROPERTY
@given(bad_candidates())
def test_random_candidate_file_malformations_keep_the_promise(shared, case):
    text, words = case
    with tempfile.TemporaryDirectory(prefix="evsiting-prop-") as tmp:
        work = Path(tmp)
        (work / "synthetic_sites.csv").write_bytes(text)
        cfg = work / "config.yaml"
        cfg.write_text(f"extends: {BASE}\ncandidates:\n  files:\n    - {{path: synthetic_sites.csv, crs: gcj02, id_column: site}}\n",
                       encoding="utf-8")
        check_promise(work, cfg, words)
