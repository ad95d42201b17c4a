# Quick start: `make demo` and `make test` work on a fresh machine with only python3 and
# the package index; each creates .venv on first use and reinstalls when pyproject.toml changes.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# pytest workers (pytest-xdist), one test file each: most tests spend their time compiling with
# XLA on one core, so two workers halve the suite on the 2-core CI machine.
TEST_JOBS ?= 2

.PHONY: demo test test-all bench lint format notebooks docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.stamp-demo: pyproject.toml | $(PY)
	$(PIP) install -e ".[demo]"
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(PY)
	$(PIP) install -e ".[test,notebooks,bench,docs]"
	touch $@

demo: $(VENV)/.stamp-demo
	$(PY) -m jaxl2 demo

# pytest exits 5 when it collects no tests; that is not a failure of the suite.
test: $(VENV)/.stamp-test
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

# Everything, slow-marked tests included (scikit-learn's estimator checks in x64, the upstream
# test files' subsets, multi-process kill-and-resume, every benchmark at tiny size).
test-all: $(VENV)/.stamp-test
	JAXL2_SLOW=1 $(PY) -m pytest -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

bench: $(VENV)/.stamp-test
	$(PY) -m benchmarks $(BENCH_ARGS)

lint: $(VENV)/.stamp-test
	$(VENV)/bin/ruff check jaxl2 tests benchmarks notebooks examples docs
	$(VENV)/bin/ruff format --check jaxl2 tests benchmarks docs examples
	$(VENV)/bin/pyright --pythonpath $(PY)

format: $(VENV)/.stamp-test
	$(VENV)/bin/ruff format jaxl2 tests benchmarks docs examples
	$(VENV)/bin/ruff check --fix jaxl2 tests benchmarks docs examples

# Runs every notebook at full size; executed copies go to notebooks/executed/ (not in git),
# figures to notebooks/figures/.
notebooks: $(VENV)/.stamp-test
	$(PY) notebooks/run_notebooks.py --size full --output-dir notebooks/executed

# The documentation site, into site/ (not in git): the README as the guide, the λ convention, the
# notebooks with their committed figures (not executed), benchmarks/RESULTS.md and the API reference
# from the docstrings. --strict turns every warning (a broken link, a docstring Griffe cannot parse)
# into a failure; tests/test_docs.py runs the same build.
docs: $(VENV)/.stamp-test
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

clean:
	rm -rf $(VENV) build dist site *.egg-info .pytest_cache .ruff_cache
