# digestflow: `make demo` and `make test` set everything up on a fresh machine (Python 3.11 + Java 17).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install warmup lint clean system-deps airflow airflow-stop

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	@command -v java >/dev/null || { echo "need Java 17 (e.g. apt-get install openjdk-17-jdk-headless)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[airflow,dev,neural]'
	$(BIN)/digestflow warmup
	touch $(STAMP)

install: $(STAMP)

warmup: $(STAMP)
	$(BIN)/digestflow warmup

demo: $(STAMP)
	$(BIN)/digestflow demo

# Debian packages the tests and `make airflow` use: chromium (browser tests), the postgresql server
# (Airflow's metadata DB, digestflow.local_postgres), curl and jq (the README's REST calls, run by the
# Airflow tests). Installed when missing and we may (root), else we say how.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || missing="$$missing postgresql"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
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
test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check src tests dags jobs benchmarks

clean:
	rm -rf data/demo .pytest_cache
