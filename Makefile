# graphad developer tasks.  GNU make; every recipe line starts with a TAB.
#
#   make venv         create .venv and install graphad editable with the test extra
#   make test         lint, then run the test suite on 2 workers (with the browser test)
#   make browser      install headless Chromium (Debian package) for the backprop page test
#   make lint         ruff check + ruff format --check
#   make format       rewrite sources with ruff format and ruff check --fix
#   make demo         run `graphad demo`
#   make docs         build the reference documentation into docs/_build/html
#   make bench        run the benchmarks (bench-quick: a short run)
#   make clean        remove .venv, build artefacts and caches

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Only the source trees that exist: a fresh clone may not have every one yet,
# and ruff fails on a path that is missing.
SRC_DIRS := $(wildcard graphad tests benchmarks docs)

.PHONY: all venv browser demo docs lint test format bench bench-quick fuzz clean

all: test

venv: $(STAMP)

# Re-run only when pyproject.toml changes (or graphad/__init__.py first appears,
# which changes what the editable install maps), so a second `make` is a no-op.
$(STAMP): pyproject.toml $(wildcard graphad/__init__.py)
	@if ! command -v dot >/dev/null 2>&1; then \
		echo "Graphviz 'dot' not found: installing the graphviz system package"; \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get -o DPkg::Lock::Timeout=300 update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get -o DPkg::Lock::Timeout=300 install -y graphviz; \
	fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# compat: a plain path entry, which mypy and other static tools follow (the
	# default editable mode installs an import hook they cannot see)
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	@touch $@

# The backprop stepper page (graphad/stepper.py) is tested in a real browser:
# headless Chromium from the distribution's packages, installed like graphviz
# (and Node.js, which the pyright type check runs on).
browser:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
		echo "Chromium not found: installing the chromium system package (browser test)"; \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get -o DPkg::Lock::Timeout=300 update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get -o DPkg::Lock::Timeout=300 install -y chromium; \
	fi
	@if ! command -v node >/dev/null 2>&1; then \
		echo "Node.js not found: installing the nodejs system package (pyright type check)"; \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get -o DPkg::Lock::Timeout=300 update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive \
			apt-get -o DPkg::Lock::Timeout=300 install -y nodejs; \
	fi

demo: $(STAMP)
	$(BIN)/graphad demo

# Sphinx with numpydoc; the op table page is generated from graphad's op table.
# Warnings are errors, so a broken docstring fails the build.
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[docs]' --config-settings editable_mode=compat
	@touch $@

docs: $(DOCS_STAMP)
	rm -rf docs/_build docs/generated
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check $(SRC_DIRS)
	$(BIN)/ruff format --check $(SRC_DIRS)

# pytest exits 5 when it collects no test at all; that is not a failure of the
# code, so report it and succeed.  GRAPHAD_REQUIRE_BROWSER makes a missing Chromium (or
# Node.js, for pyright) a failure, not a skip: `make browser` has installed them.
test: $(STAMP) lint browser
	@GRAPHAD_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -n 2; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest: no tests were collected"; exit 0; fi; \
	exit $$status

format: $(STAMP)
	$(BIN)/ruff format $(SRC_DIRS)
	$(BIN)/ruff check --fix $(SRC_DIRS)

# The peers (PyTorch CPU, JAX, PyTensor, CasADi, autograd, numexpr) live in their own
# environment; the runner starts every measurement there when it exists.
PEERS       := benchmarks/.peers-venv
PEERS_STAMP := $(PEERS)/.installed

$(PEERS_STAMP): benchmarks/requirements.txt pyproject.toml
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/pip install --quiet -r benchmarks/requirements.txt -e .
	@touch $@

bench: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python -m benchmarks.run

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

# Fuzz the text -> graph pipeline for FUZZ_TIME seconds with atheris (libFuzzer), or, where
# atheris cannot be installed, with a long randomized Hypothesis run.  The corpus grows in
# .venv/fuzz-corpus; a crashing input is written to fuzz/crash-<hash>.
FUZZ_TIME ?= 60
fuzz: $(STAMP)
	@if $(BIN)/pip install --quiet atheris; then \
		$(BIN)/python fuzz/parse_fuzz.py -max_total_time=$(FUZZ_TIME) -timeout=20 \
			-rss_limit_mb=3000 -dict=fuzz/parse.dict -artifact_prefix=fuzz/ \
			$(VENV)/fuzz-corpus; \
	else \
		echo "atheris is not installable here: fuzzing with Hypothesis instead"; \
		GRAPHAD_FUZZ_EXAMPLES=20000 timeout $(FUZZ_TIME) $(BIN)/python -m pytest -q \
			tests/test_fuzz_props.py; status=$$?; [ $$status -eq 124 ] || exit $$status; \
	fi

clean:
	rm -rf $(VENV) build dist *.egg-info .eggs
	rm -rf .pytest_cache .ruff_cache .hypothesis docs/_build docs/generated
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
