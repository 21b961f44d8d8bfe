# The two commands a newcomer needs: `make run` and `make test`. Each makes .venv itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VCAMD_MODEL_DIR ?= $(abspath ../shared/models)
export VCAMD_MODEL_DIR

.PHONY: run test lint bench quality dist clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the daemon: webcam -> "VBG Camera". On a desktop, first what the tray and PipeWire need.
run: $(STAMP)
	$(BIN)/vcamd setup --auto
	$(BIN)/vcamd run $(ARGS)

## Lint, type-check and run the test suite (installs the system packages the tray test needs).
test: $(STAMP)
	bash scripts/install-test-deps.sh
	$(BIN)/ruff check vcamd tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check vcamd tests benchmarks
	$(BIN)/mypy

## Speed: vcamd against the naive pipeline, 720p and 1080p.
bench: $(STAMP)
	$(BIN)/vcamd bench --size 1280x720
	$(BIN)/vcamd bench --size 1920x1080

## Matte quality against ../shared/data.
quality: $(STAMP)
	$(BIN)/python benchmarks/quality.py

## The wheel and the sdist (python -m build), in dist/.
dist: $(STAMP)
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
