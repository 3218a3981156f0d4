"""notebooks/scenario_comparison.ipynb executes top to bottom on the embedded default data
(nbclient, in a copy under a temporary folder so nothing in the repository is overwritten)."""

from __future__ import annotations

import shutil

import nbformat
from nbclient import NotebookClient

from locations import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "scenario_comparison.ipynb"


def test_scenario_notebook_executes(tmp_path, monkeypatch, shared):
    work = tmp_path / "nb"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    monkeypatch.setenv("EVSITING_NOTEBOOK_OUT", str(tmp_path / "runs"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(work / NOTEBOOK.name, as_version=4)
    for cell in nb.cells:  # run from a clean state, not the stored outputs
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for run in ("anshun-low-15min", "anshun-base-15min", "anshun-high-15min", "anshun-base-10min", "anshun-base-20min"):
        assert run in text
        assert (tmp_path / "runs" / run / "summary.json").exists()
    assert "coverage" in text and "NEVs per charger" in text
    images = [o for o in outputs if "data" in o and "image/png" in o["data"]]
    assert len(images) >= 3  # comparison bars, trade-off curves, static maps
    html = work / "scenario_comparison_map.html"
    assert html.exists() and "leaflet" in html.read_text(encoding="utf-8").lower()
    assert (tmp_path / "runs" / "comparison.png").exists()
