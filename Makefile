# dlgrade: `make demo` and `make test` on a fresh Debian machine with only this repository.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
VENV_STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-recovery test-deployment test-mutation test-fast system-deps services docker-image gpu-image venv clean help

help:
	@echo "make demo   set everything up, start Redis, the portal and a worker, grade sample submissions"
	@echo "make test   the whole test suite (unit, integration, docker, browser, assignment gates)"

venv: $(VENV_STAMP)

# torch is pinned to the CPU build first, so nothing below pulls a CUDA torch.
$(VENV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[all]'
	touch $@

system-deps:
	bash infra/scripts/ensure_system_deps.sh

services:
	bash infra/scripts/ensure_services.sh

docker-image: venv
	bash infra/scripts/ensure_docker.sh
	bash infra/scripts/build_cpu_image.sh

# The CUDA grader image (about 4 GB of wheels; not part of `make test`). Runs on any Docker
# host; grading in it needs the NVIDIA container toolkit.
gpu-image: venv
	bash infra/scripts/ensure_docker.sh
	$(PY) -m autograder.images build gpu

# Both blocks run two tests at a time (pytest-xdist), one per core. The assignment packages
# (gates, first parts, zero submissions) and the mutation report's tests come first, each test a
# grading that is mostly one process, longest gate first (tests/assignments/conftest.py), one
# queued behind each running test so the short ones fill both cores at the end. The rest waits
# mostly on I/O (the browser, Celery workers' start, containers); its Redis servers, PostgreSQL
# schemas, ports and folders are per test, and the tests that use the one Docker daemon share an
# xdist group, so they run one after another on one worker (tests/conftest.py).
test: system-deps venv services docker-image
	status=0; \
	$(PY) -m pytest -q -ra -n 2 --maxschedchunk 1 --durations=20 $(PYTEST_ARGS) tests/assignments \
	  tests/engine/test_mutation_report.py || status=1; \
	$(PY) -m pytest -q -ra -n 2 --dist loadgroup --durations=40 \
	  --ignore=tests/assignments --ignore=tests/engine/test_mutation_report.py $(PYTEST_ARGS) tests || status=1; \
	exit $$status

# The mutation report's grading tests on the example assignment (about a minute).
test-mutation: venv services
	$(PY) -m pytest -q -ra -m mutation $(PYTEST_ARGS) tests

# Worker-loss, Redis-restart and no-GPU-worker recovery with real grading, at shortened clocks
# (in `make test` too: 32 s on both cores, each test with its own redis-server).
test-recovery: venv services
	$(PY) -m pytest -q -ra -m recovery $(PYTEST_ARGS) tests

# Several workers of one deployment grading for real: the shared trusted-run cache (in `make test`
# too; about 20 s).
test-deployment: venv services
	$(PY) -m pytest -q -ra -m deployment $(PYTEST_ARGS) tests

# Everything but Docker and the browser: the inner loop while developing.
test-fast: venv services
	$(PY) -m pytest -q -ra -m "not docker and not browser and not recovery and not deployment and not mutation" $(PYTEST_ARGS) tests

demo: system-deps venv services
	bash infra/scripts/demo.sh

clean:
	rm -rf build .pytest_cache
