"""An interrupted run (exception or Ctrl-C in the model stage, or a failure while the files
are being written) leaves the previous outputs of that run name byte for byte as they were,
and no partial folder beside them."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import evsiting.runs.run as pipeline
import evsiting.stages.s7_outputs as s7_outputs
from evsiting.cli import app
from evsiting.config.schema import load_config
from evsiting.models import MCLP

from locations import BASE_YAML

BASE = BASE_YAML  # a small valid Anshun run


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def cfg(shared):
    return load_config(BASE)


@pytest.fixture(scope="module")
def finished(cfg, tmp_path_factory):
    """One finished run, ``<tmp>/bad``."""
    out = tmp_path_factory.mktemp("finished")
    res = pipeline.run(cfg, out_base=out)
    assert res.out_dir == out / "bad" and (res.out_dir / "sites.geojson").exists()
    return res.out_dir


@pytest.fixture
def previous(finished, tmp_path):
    """A copy of the finished run in ``tmp_path/out/bad`` and the snapshot of ``tmp_path/out``."""
    out = tmp_path / "out"
    shutil.copytree(finished, out / "bad")
    return out, snapshot(out)


class Boom(RuntimeError):
    pass


def crashing_solve(exc: BaseException):
    def solve(self, *a, **k):
        raise exc

    return solve


@pytest.mark.parametrize("exc", [Boom("synthetic crash in the model stage"), KeyboardInterrupt()])
def test_failure_in_the_model_stage_leaves_previous_outputs(cfg, previous, monkeypatch, exc):
    out, before = previous
    monkeypatch.setattr(MCLP, "solve", crashing_solve(exc))
    with pytest.raises(type(exc)):
        pipeline.run(cfg, out_base=out)
    assert snapshot(out) == before


@pytest.mark.parametrize("exc", [Boom("disk full (synthetic)"), KeyboardInterrupt()])
def test_failure_while_writing_leaves_previous_outputs_and_no_partial_folder(cfg, previous, monkeypatch, exc):
    out, before = previous
    calls = []

    def failing_write_json(obj, path):
        calls.append((path, sorted(p.name for p in path.parent.iterdir())))
        raise exc

    # the layers are written first, then summary.json: fail there, half-way through the folder
    monkeypatch.setattr(s7_outputs, "write_json", failing_write_json)
    with pytest.raises(type(exc)):
        pipeline.run(cfg, out_base=out)
    path, present = calls[0]
    assert path.name == "summary.json" and path.parent.name.startswith(".bad.partial-")
    assert "sites.geojson" in present and "demand.geojson" in present  # really half-written
    assert snapshot(out) == before


def test_successful_rerun_replaces_the_folder_and_leaves_nothing_else(cfg, previous):
    out, before = previous
    cfg2 = cfg.model_copy(deep=True)
    cfg2.model.nevs_per_station = 4000  # fewer stations: different files
    pipeline.run(cfg2, out_base=out)
    after = snapshot(out)
    assert sorted(p.name for p in out.iterdir()) == ["bad"]
    assert after.keys() == before.keys() and after["bad/summary.json"] != before["bad/summary.json"]


def test_ctrl_c_on_the_command_line_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "bad").mkdir(parents=True)
    (out / "bad" / "summary.json").write_text("{}\n")
    before = snapshot(out)
    monkeypatch.setattr(MCLP, "solve", crashing_solve(KeyboardInterrupt()))
    r = CliRunner().invoke(app, ["run", str(BASE), "--out", str(out)])
    assert r.exit_code == 130
    assert "interrupted: no output was written" in r.stderr and "Traceback" not in r.stderr
    assert snapshot(out) == before


def test_full_disk_while_writing_is_one_line_and_leaves_previous_outputs(previous, monkeypatch):
    import errno
    import os

    out, before = previous

    def full(obj, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(s7_outputs, "write_json", full)
    r = CliRunner().invoke(app, ["run", str(BASE), "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "summary.json" in lines[0]
    assert snapshot(out) == before


def test_sigterm_during_the_run_is_handled_like_ctrl_c(previous, monkeypatch):
    """``kill``/``timeout`` send SIGTERM: the CLI turns it into an interruption, so the
    temporary folder is removed and the previous outputs stay."""
    import os
    import signal

    out, before = previous
    seen = []

    def record(signum, frame):  # stands in for the default action, which would kill pytest
        seen.append(signum)

    original = signal.signal(signal.SIGTERM, record)
    try:
        solve = MCLP.solve

        def terminated(self, *a, **k):
            os.kill(os.getpid(), signal.SIGTERM)
            return solve(self, *a, **k)

        monkeypatch.setattr(MCLP, "solve", terminated)
        r = CliRunner().invoke(app, ["run", str(BASE), "--out", str(out)])
        restored = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, original)
    assert r.exit_code == 143 and not seen, r.output  # the CLI's handler, not ours, got it (128 + SIGTERM)
    assert "interrupted" in r.stderr and "Traceback" not in r.stderr
    assert restored is record  # the CLI put the previous handler back
    assert snapshot(out) == before


SOLVER_SCRIPT = """
import numpy as np, pulp, typer
from evsiting.cli.common import handle_errors
from evsiting.models._core import run_solver

app = typer.Typer()

@app.command()
@handle_errors
def main():
    # a random multi-dimensional knapsack (synthetic): hard enough that CBC runs for minutes
    rng = np.random.default_rng(0)
    n, m = 300, 30
    a = rng.integers(1, 1000, (m, n))
    prob = pulp.LpProblem("knap", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(n)]
    prob += pulp.lpSum(int(v) * xj for v, xj in zip(rng.integers(1, 1000, n), x))
    for i in range(m):
        prob += pulp.lpSum(int(a[i, j]) * x[j] for j in range(n)) <= int(a[i].sum() // 2)
    print("solving", flush=True)
    run_solver(prob, "cbc", 600, None)

app()
"""


def test_sigterm_stops_the_cbc_process_and_removes_its_files(tmp_path):
    """pulp waits for CBC in a child process; an interrupted wait must not leave CBC running
    (it would hold a core for up to its time limit) nor its model files in the temp folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", SOLVER_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout.readline().strip() == "solving"
    me = psutil.Process(proc.pid)
    cbc = []
    for _ in range(300):  # wait for CBC to start (the model is written first)
        cbc = [c for c in me.children(recursive=True) if "cbc" in c.name().lower()]
        if cbc:
            break
        time.sleep(0.1)
    assert cbc, "CBC never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted" in err and "Traceback" not in err
    gone, alive = psutil.wait_procs(cbc, timeout=10)
    assert not alive, f"CBC still running: {[c.pid for c in alive]}"
    assert not list(tmp_path.glob("evsiting-cbc-*")) and not list(tmp_path.glob("*pulp*"))
