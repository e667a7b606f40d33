# mlpbench: `make bench` and `make test` are all a fresh machine needs.
PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
CONFIG      ?= configs/default.toml
STAMP       := $(VENV)/.installed
TORCH_PKG   ?= torch==2.13.0
export PYTHONDONTWRITEBYTECODE=1

.PHONY: install test test-fast bench quick benchmarks docs screenshot readme-headline pages lint clean

install: $(STAMP)

# Re-running is cheap: pip runs again only when the project's files change.
$(STAMP): pyproject.toml examples/torch_backend/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[keras,jax,cluster,test]'
	$(BIN)/python -m pip install -q '$(TORCH_PKG)'
	$(BIN)/python -m pip install -q -e examples/torch_backend
	touch $(STAMP)

# Everything, the slow end-to-end tests included (under 10 minutes on 2 cores).
test: install
	$(BIN)/python -m pytest -q tests

# Everything but the tests marked slow (under 3 minutes on 2 cores).
test-fast: install
	$(BIN)/python -m pytest -q -m 'not slow' tests

# The generated references: docs/cli.md (from the parsers), docs/columns.md (from the schema).
docs: install
	$(BIN)/python -m mlpbench.cli.reference docs

# The default sweep on real MNIST, then plots and report.html; prints the report's path.
bench: install
	$(BIN)/mlpbench sweep $(CONFIG) --report

quick: install
	$(BIN)/mlpbench sweep configs/quick.toml --report

# Each benchmark under both OpenBLAS idle settings the thread plans choose between.
benchmarks: install
	$(BIN)/python -m pytest -q -p no:zarr benchmarks --benchmark-columns=min,median,max,iqr,rounds
	OPENBLAS_THREAD_TIMEOUT=4 $(BIN)/python -m pytest -q -p no:zarr benchmarks --benchmark-columns=min,median,max,iqr,rounds

# The README's picture, from a real quick sweep's report (RESULTS=DIR to use another).
RESULTS     ?= results/latest
screenshot: install
	test -e $(RESULTS)/report.html || $(BIN)/mlpbench sweep configs/quick.toml --report
	$(BIN)/python docs/tools/screenshot.py $(RESULTS) docs/report.png

# A results page in docs/results/ from a result set, and the README's headline cut from it.
readme-headline: install
	$(BIN)/mlpbench report $(RESULTS) --markdown docs/results --headline README.md

# Every page in docs/results/ again from its result set (after a change to what pages say).
pages: install
	$(BIN)/python docs/tools/regenerate_pages.py

lint: install
	$(BIN)/ruff check mlpbench tests benchmarks examples docs/tools

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .benchmarks .hypothesis build *.egg-info
