# Two commands: `make demo` (the main job) and `make test` (the whole suite).
# Each creates .venv when missing and installs what it needs; both are quick when nothing changed.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first and pinned: the CPU build lies on this machine; an unpinned torch pulls CUDA.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/flywheel demo

test: install
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	PYTHONPATH=scripts $(VENV)/bin/lint-imports
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .flywheel-cache build *.egg-info
