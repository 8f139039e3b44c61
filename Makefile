# digestflow: `make demo` and `make test` set everything up on a fresh machine (Python 3.11 + Java 17).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

NEURAL := $(VENV)/.installed-neural

.PHONY: demo test test-fast install install-neural warmup lint clean system-deps airflow airflow-stop docs-assets

# The library, Airflow and the dev tools; not the neural extra (torch + transformers, ~1 GB), which only
# `digestflow embed --model minilm` and its tests need (install-neural, pulled in by `make test`).
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	@command -v java >/dev/null || { echo "need Java 17 (e.g. apt-get install openjdk-17-jdk-headless)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[airflow,dev]'
	$(BIN)/digestflow warmup
	touch $(STAMP)

$(NEURAL): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e '.[airflow,dev,neural]'
	touch $(NEURAL)

install: $(STAMP) docs-assets

# Great Expectations Data Docs load jQuery, Bootstrap, bootstrap-table, Vega and Font Awesome from CDNs;
# these are the same versions from the npm registry (datadocs/package-lock.json pins them, integrity
# hashes included), which digestflow copies into <warehouse>/_data_docs so the pages work offline.
DOCS_ASSETS := datadocs/node_modules/.package-lock.json
$(DOCS_ASSETS): datadocs/package.json datadocs/package-lock.json
	@if command -v npm >/dev/null; then cd datadocs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "note: no npm, so Data Docs pages will load their scripts from CDNs (make system-deps installs npm)"; fi

docs-assets: $(DOCS_ASSETS)

install-neural: $(NEURAL)

warmup: $(STAMP)
	$(BIN)/digestflow warmup

demo: $(STAMP) docs-assets
	$(BIN)/digestflow demo

# Debian packages the tests and `make airflow` use: chromium (browser tests), npm (the Data Docs assets,
# docs-assets), the postgresql server (Airflow's metadata DB, digestflow.local_postgres), curl and jq
# (the README's REST calls, run by the Airflow tests). Installed when missing and we may (root), else we
# say how.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || missing="$$missing postgresql"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "tests and make airflow need:$$missing (sudo apt-get install$$missing)"; fi; \
	fi

# Local Airflow (api-server, scheduler, dag-processor, triggerer, log server on 127.0.0.1; PostgreSQL on
# a Unix socket, SQLite only as an announced fallback) under data/airflow. AIRFLOW_PORT=8081 make airflow
# to use another port; the UI URL and the login are printed at the end.
airflow: $(STAMP) system-deps
	$(BIN)/python -m digestflow.airflow_local start

airflow-stop:
	$(BIN)/python -m digestflow.airflow_local stop

# Two workers, one test module per worker at a time (--dist loadfile: a module's fixtures are built
# once): much of a test's time is one single-threaded JVM or Python start-up, so two at once use the
# second core. (Not loadgroup: with pytest 9.2, xdist 3.8's group suffix on node ids is ignored.)
test: $(NEURAL) system-deps docs-assets lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# The fast tier for the edit-test loop: no slow, Airflow, cluster, browser or neural tests (< 2 min).
test-fast: $(STAMP) lint
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not airflow and not cluster and not browser and not neural"

lint: $(STAMP)
	$(BIN)/ruff check src tests dags jobs benchmarks scripts

clean:
	rm -rf data/demo .pytest_cache
