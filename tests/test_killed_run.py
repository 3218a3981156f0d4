"""A run killed outright (SIGKILL: no ``finally`` runs) leaves its temporary folder behind;
the next run of the same name removes it, and never touches a live run's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evsiting.outputs import atomic_dir, sweep_leftovers

CHILD = """
import sys, time
from pathlib import Path
from evsiting.outputs import atomic_dir
with atomic_dir(Path(sys.argv[1])) as tmp:
    (tmp / "sites.geojson").write_text("half")
    print(tmp, flush=True)
    time.sleep(60)
"""


def _killed_mid_write(target: Path) -> Path:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(target)], stdout=subprocess.PIPE, text=True)
    tmp = Path(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tmp.is_dir() and tmp.name.startswith(f".{target.name}.partial-{proc.pid}-")
    return tmp


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_next_run_removes_a_killed_runs_partial_folder(tmp_path):
    target = tmp_path / "guizhou"
    target.mkdir()
    (target / "summary.json").write_text("previous")
    stale = _killed_mid_write(target)
    assert (target / "summary.json").read_text() == "previous"  # the previous run survived the kill
    with atomic_dir(target) as tmp:
        (tmp / "summary.json").write_text("new")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guizhou"]
    assert (target / "summary.json").read_text() == "new"


def test_live_runs_folders_are_left_alone(tmp_path):
    target = tmp_path / "guizhou"
    live = tmp_path / f".guizhou.partial-{os.getpid()}-abc"  # this process is alive
    live.mkdir()
    other = tmp_path / ".other.partial-1-abc"  # another run name
    other.mkdir()
    assert sweep_leftovers(target) == []
    assert live.is_dir() and other.is_dir()


def test_previous_run_moved_aside_is_restored_when_the_swap_was_killed(tmp_path):
    target = tmp_path / "guizhou"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a finished process: its pid is (almost surely) free now
    if _alive(proc.pid):
        pytest.skip("pid reused")
    old = tmp_path / f".guizhou.old-{proc.pid}-xyz"
    (old / "run").mkdir(parents=True)
    (old / "run" / "summary.json").write_text("previous")
    assert sweep_leftovers(target) == [old]
    assert (target / "summary.json").read_text() == "previous" and not old.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
