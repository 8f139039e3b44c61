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
	@command -v npm >/dev/null || { echo "Data Docs assets need npm (make system-deps, or apt-get install npm)"; exit 1; }
	cd datadocs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

docs-assets: $(DOCS_ASSETS)

install-neural: $(NEURAL)

warmup: $(STAMP)
	$(BIN)/digestflow warmup

demo: $(STAMP) docs-assets
	$(BIN)/digestflow demo

# Browser tests drive Debian's chromium; install it when missing and we may (root), else say how.
# npm fetches the Data Docs assets (docs-assets).
system-deps:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need chromium: sudo apt-get install chromium"; fi; }
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "offline Data Docs need npm: sudo apt-get install npm"; fi; }

# Local Airflow (api-server, scheduler, dag-processor, triggerer on 127.0.0.1, SQLite) under data/airflow.
# AIRFLOW_PORT=8081 make airflow to use another port; the UI URL and the login are printed at the end.
airflow: $(STAMP)
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
