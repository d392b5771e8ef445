# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Both build their own virtual environment in .venv; nothing is installed outside it. The test install
# includes the optional extras (Dask for distributed sweeps, matplotlib for sweep plots, gcovr for native
# coverage reports) so their tests run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test check bench findings firmware clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,distributed,plot,coverage]'
	touch $@

$(DEVSTAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/otaloop demo

# -n auto: one pytest-xdist worker per core (the suite takes about half the time on 2 cores).
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

check: $(DEVSTAMP)
	$(BIN)/tox -e lint,type

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The power-cut sweep section of docs/findings.md: full-size sweeps, tables and plots (minutes on 2 cores).
findings: $(STAMP)
	$(BIN)/python -m harness.sweeps.findings

firmware:
	$(MAKE) -C fixtures/firmware

clean:
	rm -rf $(VENV) .tox .pytest_cache .mypy_cache .ruff_cache .hypothesis
