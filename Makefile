# Two entry points: `make demo` (province run on the embedded default) and `make test`.
# Each creates .venv when missing and (re)installs the package when pyproject.toml changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/evsiting run configs/guizhou.yaml

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf outputs .pytest_cache
