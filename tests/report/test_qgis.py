"""The run layers and their styles load in QGIS as valid, styled layers (PyQGIS).

PyQGIS is not pip-installable: it comes with QGIS (Debian: ``python3-qgis``), so it is looked
for in this interpreter and then in the system ``python3``; the test is skipped when neither
has it. The check runs in a subprocess (QGIS needs its own process, offscreen Qt).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from evsiting.config.schema import load_config
from evsiting.runs.run import run
from evsiting.core.settings import configs_dir

LAYERS = ("sites", "stations", "demand", "allocation", "service_areas")

CHECK = r'''
import json, os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import Qgis, QgsApplication, QgsRenderContext, QgsSymbolLayer, QgsVectorLayer

def prop(name):
    enum = getattr(QgsSymbolLayer, "Property", None)
    return getattr(enum, name) if enum is not None and hasattr(enum, name) else getattr(QgsSymbolLayer, "Property" + name)

app = QgsApplication([], False)
app.initQgis()
folder, names = sys.argv[1], sys.argv[2].split(",")
out = {"version": Qgis.QGIS_VERSION, "layers": {}}
for name in names:
    for kind, uri in (("geojson", f"{folder}/{name}.geojson"), ("gpkg", f"{folder}/run.gpkg|layername={name}")):
        lyr = QgsVectorLayer(uri, name, "ogr")
        rec = {"valid": lyr.isValid(), "features": lyr.featureCount(), "crs": lyr.crs().authid()}
        rec["default_renderer"] = lyr.renderer().type() if lyr.renderer() else None  # before any explicit load
        if kind == "geojson":
            msg, ok = lyr.loadNamedStyle(f"{folder}/{name}.qml")
            rec["style_loaded"] = bool(ok)
        r = lyr.renderer()
        rec["renderer"] = r.type()
        attr = r.classAttribute() if hasattr(r, "classAttribute") else None
        rec["attr"] = attr
        rec["attr_found"] = attr is None or lyr.fields().indexOf(attr) >= 0
        if r.type() == "categorizedSymbol":
            rec["classes"] = [c.value() for c in r.categories()]
        if r.type() == "graduatedSymbol":
            rec["classes"] = len(r.ranges())
        dd = []
        for sym in r.symbols(QgsRenderContext()):
            for sl in sym.symbolLayers():
                props = sl.dataDefinedProperties()
                for key in ("Size", "LayerEnabled"):
                    p = props.property(prop(key))
                    if p.isActive():
                        dd.append([key, p.expressionString()])
        rec["data_defined"] = sorted(set(tuple(x) for x in dd))
        rec["opacity"] = lyr.opacity()
        out["layers"][f"{kind}:{name}"] = rec
print(json.dumps(out))
sys.stdout.flush()
os._exit(0)  # skip exitQgis(): PyQGIS may crash while tearing down layers at exit
'''


def _python_with_qgis() -> str | None:
    """An interpreter that can ``import qgis.core``: this one, else the system python3."""
    candidates = [sys.executable] + [p for p in ("/usr/bin/python3", shutil.which("python3")) if p]
    for exe in dict.fromkeys(candidates):
        try:
            ok = subprocess.run([exe, "-c", "import qgis.core"], capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return exe
    return None


@pytest.fixture(scope="module")
def qgis_python():
    exe = _python_with_qgis()
    if exe is None:
        pytest.skip("PyQGIS not installed (Debian: apt-get install python3-qgis)")
    return exe


@pytest.fixture(scope="module")
def anshun_run(qgis_python, tmp_path_factory, shared):
    """One Anshun run (default model, 8 candidate cells per county, great-circle times) whose
    folder both QGIS checks read."""
    cfg = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    cfg.candidates.per_county = 8
    cfg.impedance.method = "great_circle"
    return run(cfg, out_base=tmp_path_factory.mktemp("qgis-run"))


def test_layers_and_styles_load_in_qgis(qgis_python, anshun_run, tmp_path):
    res = anshun_run
    script = tmp_path / "check_qgis.py"
    script.write_text(CHECK)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([qgis_python, str(script), str(res.out_dir), ",".join(LAYERS)], capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    lay = out["layers"]
    for name in LAYERS:
        for kind in ("geojson", "gpkg"):
            rec = lay[f"{kind}:{name}"]
            assert rec["valid"] and rec["crs"] == "EPSG:4326" and rec["features"] > 0, (kind, name, rec)
            assert rec["attr_found"], (kind, name, rec)
        assert lay[f"geojson:{name}"]["style_loaded"]
        # QGIS applies <name>.qml beside the GeoJSON by itself, as the default style
        assert lay[f"geojson:{name}"]["default_renderer"] == lay[f"geojson:{name}"]["renderer"]
        # the GeoPackage layer picks its default style from layer_styles by itself
        assert lay[f"gpkg:{name}"]["renderer"] == lay[f"geojson:{name}"]["renderer"]
    for kind in ("geojson", "gpkg"):
        sites = lay[f"{kind}:sites"]
        assert sites["renderer"] == "categorizedSymbol" and sites["attr"] == "facility_type"
        assert set(sites["classes"]) == {"candidate", "required", "chosen"}
        assert any(k == "Size" and "ports_total" in e for k, e in sites["data_defined"])
        demand = lay[f"{kind}:demand"]
        assert demand["renderer"] == "graduatedSymbol" and demand["attr"] == "nev_count" and demand["classes"] == 9
        assert any(k == "LayerEnabled" and "covered" in e for k, e in demand["data_defined"])
        assert lay[f"{kind}:service_areas"]["renderer"] == "singleSymbol"


RENDER = r'''
import os, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from qgis.core import QgsApplication, QgsVectorLayer, QgsMapSettings, QgsMapRendererSequentialJob, QgsCoordinateReferenceSystem
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
app = QgsApplication([], False)
app.initQgis()
folder, out, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
layers = [QgsVectorLayer(f"{folder}/{n}.geojson", n, "ogr") for n in names]
ms = QgsMapSettings()
ms.setLayers(list(reversed(layers)))
ms.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32648"))
ms.setExtent(ms.layerExtentToOutputExtent(layers[0], layers[0].extent()))
ms.setOutputSize(QSize(600, 550))
ms.setBackgroundColor(QColor(255, 255, 255))
job = QgsMapRendererSequentialJob(ms)
job.start()
job.waitForFinished()
img = job.renderedImage()
counts = {}
for x in range(0, img.width(), 2):
    for y in range(0, img.height(), 2):
        c = QColor(img.pixel(x, y))
        key = f"{c.red()},{c.green()},{c.blue()}"
        counts[key] = counts.get(key, 0) + 1
img.save(out, "png")
import json
print(json.dumps(counts))
'''


def test_qgis_draws_new_stations_in_the_colour_of_map_png(qgis_python, anshun_run, tmp_path):
    """QGIS renders the demand, the service areas and the stations with their default styles:
    the new stations show in map.png's blue, above the grey service-area wash."""
    from evsiting.report.html import TYPE_COLOURS

    res = anshun_run
    script = tmp_path / "render.py"
    script.write_text(RENDER)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([qgis_python, str(script), str(res.out_dir), str(tmp_path / "qgis.png"), "demand,service_areas,stations"],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    blue = ",".join(str(int(TYPE_COLOURS["chosen"][k:k + 2], 16)) for k in (1, 3, 5))
    assert counts.get(blue, 0) > 50  # the stations' fill, not washed over
