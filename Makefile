# Two commands on a fresh machine: `make run` serves the demo, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export FLASK_APP := webapp

.PHONY: run test test-sqlite test-postgres bench demo migrate-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools  # the venv's own 65.5 has known CVEs (docs/security-checks.md)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Serve the demo on http://127.0.0.1:5000 (SQLite, demo data, no WeChat credentials).
run: $(STAMP)
	DEV_LOGIN=1 $(PY) -m flask demo setup
	DEV_LOGIN=1 $(PY) -m flask run --host 127.0.0.1 --port 5000

## Every test: the whole suite on SQLite, then again on PostgreSQL (127.0.0.1:5432).
test: $(STAMP)
	$(PY) tools/run_tests.py $(ARGS)

test-sqlite: $(STAMP)
	TEST_DATABASE=sqlite $(PY) -m pytest $(ARGS)

test-postgres: $(STAMP)
	TEST_DATABASE=postgresql $(PY) -m pytest $(ARGS)

## Throughput and latency figures, as ratios to bare baselines measured in the same run.
bench: $(STAMP)
	$(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
