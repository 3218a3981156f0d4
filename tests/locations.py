"""Where the test suite's own files are, for test modules in any sub-folder of tests/.

``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject's pytest options), so a test module
imports these as ``from locations import BAD_INPUTS``.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
BAD_INPUTS = TESTS / "bad_inputs"  # the bad-input corpus, one folder per failure (synthetic)
BASE_YAML = BAD_INPUTS / "base.yaml"  # a small valid Anshun run named 'bad' (great-circle times)
FIXTURES = TESTS / "fixtures"  # small synthetic data files (e.g. synthetic_small.osm)
NOTEBOOKS = REPO / "notebooks"
