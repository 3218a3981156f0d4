"""What a run shows: map layers and QGIS styles, map.png and report.html, warnings, and the checks against observed figures."""
