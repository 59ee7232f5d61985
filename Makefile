# Quick start: `make demo` runs the main job end to end, `make test` runs the test suite.
# Both create the virtual environment in .venv when it is missing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tardal-installed

export YOLO_OFFLINE := 1

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	YOLO_CONFIG_DIR=$(CURDIR)/runs/.ultralytics $(VENV)/bin/tardal demo

# The suite runs in $(JOBS) worker processes (pytest-xdist); JOBS=0 runs it in one process.
JOBS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) $(PYTEST_ARGS)

clean:
	rm -rf runs .pytest_cache
