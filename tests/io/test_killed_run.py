"""A run killed outright (SIGKILL: no ``finally`` runs) leaves its temporary folder behind;
the next run of the same name removes it, and never touches a live run's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from evsiting.io.writers import atomic_dir, sweep_leftovers

from locations import BASE_YAML

CHILD = """
import sys, time
from pathlib import Path
from evsiting.io.writers import atomic_dir
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


def test_a_folder_that_is_not_an_earlier_output_is_never_replaced(tmp_path):
    from evsiting.core.errors import InputError

    notes = tmp_path / "guizhou"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not an evsiting output folder.*notes.txt"):
        with atomic_dir(notes) as tmp:
            (tmp / "summary.json").write_text("new")
    assert (notes / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guizhou"]  # no partial folder left
    a_file = tmp_path / "anshun"
    a_file.write_text("a file")
    with pytest.raises(InputError, match="not an evsiting output folder"):
        with atomic_dir(a_file):
            pass
    assert a_file.read_text() == "a file"


def test_an_output_folder_with_added_files_is_kept_and_a_clean_one_replaced(tmp_path):
    from evsiting.core.errors import InputError
    from evsiting.io.writers import MARKER

    target = tmp_path / "guizhou"
    with atomic_dir(target) as tmp:
        (tmp / "sites.geojson").write_text("1")
    assert (target / MARKER).read_text() == "sites.geojson\n"
    with atomic_dir(target) as tmp:  # an earlier output: replaced
        (tmp / "sites.geojson").write_text("2")
    assert (target / "sites.geojson").read_text() == "2"
    (target / "project.qgz").write_text("analyst's work")
    with pytest.raises(InputError, match="did not write: project.qgz"):
        with atomic_dir(target) as tmp:
            (tmp / "sites.geojson").write_text("3")
    assert (target / "project.qgz").exists() and (target / "sites.geojson").read_text() == "2"


def test_cli_run_into_a_users_folder_exits_2_before_running(tmp_path, shared):
    from typer.testing import CliRunner

    from evsiting.cli import app

    base = BASE_YAML  # a small valid Anshun run named 'bad'
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "notes.txt").write_text("mine")
    r = CliRunner().invoke(app, ["run", str(base), "--out", str(tmp_path)])
    assert r.exit_code == 2, r.output
    assert "notes.txt" in r.stderr and "--out" in r.stderr and "model" not in r.stderr
    assert sorted(p.name for p in (tmp_path / "bad").iterdir()) == ["notes.txt"]
