"""An interrupted ``run --prefecture all`` loses nothing (issue 15): Ctrl-C after 2 of the 9
prefecture runs, with a config whose results differ from the previous run's, leaves the
previous 9 folders and the roll-up byte for byte as they were (the roll-up still describes the
folders beside it), prints one ``interrupted`` line without a worker traceback, and leaves no
worker process and no staging folder behind.

The previous run is the session's small 9-prefecture batch (``tests/runs/conftest.py``, also
checked by ``tests/runs/test_batch.py``: coarse cells, few candidates, one station per 20,000
NEVs), copied; the second run uses one station per 15,000 NEVs.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from evsiting.runs.batch import Staging, run_batch
from evsiting.config.schema import load_config
from evsiting.core.settings import configs_dir


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))}


def small_config(tmp_path: Path, nevs_per_station: int) -> Path:
    path = tmp_path / f"small-{nevs_per_station}.yaml"
    path.write_text(
        f"extends: {configs_dir() / 'guizhou.yaml'}\n"
        "name: small\n"
        "demand:\n  h3_resolution: 6\n"
        "candidates:\n  per_county: 5\n"
        "impedance:\n  method: great_circle\n"
        f"model:\n  nevs_per_station: {nevs_per_station}\n"
        "solver:\n  name: cbc\n  time_limit_s: 30\n"
        f"output_dir: {tmp_path / 'out'}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def previous(tmp_path_factory, province_batch):
    """A copy of the session's finished 9-prefecture batch at one station per 20,000 NEVs
    (tests/runs/conftest.py, the run test_batch.py checks): ``<tmp>/out``."""
    import shutil

    folder, res = province_batch
    assert not res.failed and len(res.outcomes) == 9
    tmp = tmp_path_factory.mktemp("interrupted-batch")
    shutil.copytree(folder / "out", tmp / "out")
    return tmp


def test_ctrl_c_after_two_of_nine_prefectures_keeps_every_previous_folder_and_the_rollup(previous):
    out = previous / "out"
    before = snapshot(out)
    assert len([n for n in before if "/" not in n]) == 10  # 9 prefecture folders and the roll-up
    cmd = [sys.executable, "-m", "evsiting.cli", "run", str(small_config(previous, 15000)), "--prefecture", "all", "--workers", "2"]
    # its own session, so that Ctrl-C can go to the whole process group as a terminal sends it
    # Ctrl-C's default action restored in the child: a suite started in the background by a
    # non-interactive shell (as CI may be) inherits SIGINT ignored, and Python then keeps it so
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("[2/9]"):
            workers = psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGINT)
            break
    out_text, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert any(ln.startswith("[2/9]") for ln in seen), err
    assert proc.returncode == 130, err
    assert "Traceback" not in err + out_text and "KeyboardInterrupt" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("interrupted")] == ["interrupted: no output was written"]
    assert "wrote" not in err
    assert snapshot(out) == before  # previous folders and roll-up byte-identical, no staging folder
    assert not list(out.glob(f"{Staging.PREFIX}*"))
    assert workers  # the worker processes (and any CBC) were stopped with the run
    _gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, [p.pid for p in alive]


def test_a_finished_rerun_replaces_all_folders_and_the_rollup_at_once(previous, tmp_path):
    """The same config again with other results: every folder and the roll-up are new, and
    the roll-up's totals are the sums of the folders beside it."""
    import json
    import shutil

    out = tmp_path / "out"
    shutil.copytree(previous / "out", out)
    cfg = small_config(tmp_path, 15000)
    lines: list[str] = []
    res = run_batch([load_config(cfg)], per_prefecture=True, workers=2, progress=lines.append)
    assert not res.failed
    roll = json.loads((out / "small-province" / "province_summary.json").read_text())
    folders = [out / r["run"] for r in roll["prefectures"]]
    assert len(folders) == 9
    assert roll["total"]["stations"] == sum(json.loads((f / "summary.json").read_text())["total"]["stations"] for f in folders)
    old = json.loads((previous / "out" / "small-province" / "province_summary.json").read_text())
    assert roll["total"]["stations"] != old["total"]["stations"]
    assert any(ln.startswith("wrote 10 output(s) in") and "small-province" in ln for ln in lines), lines
    assert not list(out.glob(f"{Staging.PREFIX}*")) and not list(out.glob(".small-*"))
