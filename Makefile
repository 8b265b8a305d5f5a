# The README's commands. Each target installs what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_START ?= 2024-01-15
DEMO_DAYS ?= 3
DEMO_SCALE ?= 1.0
LANDING ?= data/landing
WAREHOUSE ?= warehouse
APT_UPDATED := /tmp/.retail-etl-apt-updated

.PHONY: setup demo test bench package clean java postgres

setup: java postgres $(STAMP)
	@$(PY) scripts/configure_local_spark.py --check || $(PY) scripts/configure_local_spark.py

# Java 17 from Debian's packages when no java is on PATH (Spark 3.5 runs on 17).
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo ">> installing Java 17 (Debian package openjdk-17-jre-headless)"; \
	  [ -f $(APT_UPDATED) ] || { apt-get update -qq && touch $(APT_UPDATED); }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

# PostgreSQL server binaries for the JDBC tests, which run their own throwaway cluster:
# Debian's default cluster is not created (so no server is left running).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo ">> installing PostgreSQL (Debian package postgresql)"; \
	  mkdir -p /etc/postgresql-common; \
	  [ -f /etc/postgresql-common/createcluster.conf ] || \
	    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; \
	  [ -f $(APT_UPDATED) ] || { apt-get update -qq && touch $(APT_UPDATED); }; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold \
	    postgresql >/dev/null; }

$(STAMP): setup.cfg pyproject.toml
	@echo ">> creating $(VENV) with the pinned Python dependencies"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

demo: setup
	$(PY) scripts/run_demo.py --start-date $(DEMO_START) --days $(DEMO_DAYS) \
	  --scale $(DEMO_SCALE) --landing $(LANDING) --warehouse $(WAREHOUSE)

test: setup
	$(PY) -m pytest -q

# Benchmarks (not tests): BENCH_ARGS=--quick for a smoke run; figures in bench/results/.
bench: setup
	$(PY) scripts/bench.py $(BENCH_ARGS)

package: setup
	$(PY) scripts/package.py --out dist

clean:
	rm -rf dist build *.egg-info .pytest_cache
