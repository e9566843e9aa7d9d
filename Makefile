# Celery: Seed to Sprout. `make help` lists the commands.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help

# The tests start hundreds of Python processes (workers, kernels, clients, pytest's
# own) on the same code: each keeps what it compiles in __pycache__ (which git
# ignores) for the next, pytest its rewritten test modules too, even where the
# environment says PYTHONDONTWRITEBYTECODE. Compiling again in every process
# would cost make test about a sixth of its time on two cores.
export PYTHONDONTWRITEBYTECODE :=
# The tests that run a second time on the embedded stack: the days', the API's,
# and make demo's (one of which runs there only).
EMBEDDED_TESTS := tests/test_day*.py tests/test_api.py tests/test_api_errors.py tests/test_api_served.py tests/test_api_faults.py \
	tests/test_access.py tests/test_pages.py tests/test_serve.py tests/test_demo.py

.PHONY: help demo venv services lint test check test-embedded test-api soak notebooks lab serve screenshots bench

help: ## List the commands.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: api/requirements.txt api/requirements-test.txt requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --editable .
	@# Byte-compile now, even where PYTHONDONTWRITEBYTECODE is set: every worker,
	@# notebook kernel and client the tests start imports Celery, three times faster so.
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null
	touch $@

demo: venv ## The whole course in one run, with or without RabbitMQ and Redis (TASK_DELAY=0.5).
	$(BIN)/python -m sprout.demo

venv: $(VENV)/.installed ## Create .venv from the pinned requirements.

services: venv ## Say whether the broker (RabbitMQ) and the result store (Redis) answer.
	$(BIN)/python -m sprout

lint: venv ## Check the code and the notebooks with ruff.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# DAY=4: one day's tests and its notebook only (make test DAY=4, make test-embedded DAY=4),
# side by side in two processes, without Django, which no day uses.
ifdef DAY
DAY_TESTS := -n 2 -p no:django -W ignore::pytest.PytestConfigWarning \
	tests/test_day$(DAY).py $(wildcard tests/test_day$(DAY)_*.py) $(wildcard notebooks/day$(DAY)_*.ipynb)
endif

# Two tiers, chosen by what a test starts. make test is the loop after every
# change: lint, every day's tests, every notebook and the API's own tests, on
# RabbitMQ + Redis, in about a minute. The tests that start stacks of their own
# (marked `starts`: private servers to break, make serve, make demo, make lab,
# Chromium, schemathesis, the client generators, the benchmarks) wait for make
# check, which runs everything, as CI does.
#
# make test runs in six processes rather than pytest's four (pyproject.toml):
# its tests spend much of their time waiting for a step's TASK_DELAY, and with
# four of them waiting at once a 2-core machine sits idle a fifth of the time.
# The tests that start stacks of their own keep four: theirs are whole servers.
TEST_PROCESSES ?= 6
test: venv lint ## Lint, every day's tests, every notebook and the API's own tests, on RabbitMQ + Redis; DAY=4: that day's.
	$(BIN)/pytest -m "not starts and not soak" -n $(TEST_PROCESSES) $(DAY_TESTS)

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
check: test ## Everything, as CI runs it: make test, the tests that start stacks, the embedded stack, PostgreSQL.
	$(BIN)/pytest -m "starts and not soak"
	@$(MAKE) --no-print-directory test-embedded
	DATABASE_URL=$(TEST_DATABASE_URL) $(MAKE) --no-print-directory test-api

# The days read the embedded stack's settings from CELERY_CONFIG_MODULE, as Celery
# does for any app given none. The API's tests run its Django project in pytest's
# own processes, on the course's settings module for that stack: pytest-django's
# --ds reaches every process of pytest-xdist, which the environment does not
# (conftest.py keeps DJANGO_SETTINGS_MODULE from the processes the tests start).
test-embedded: venv ## The days' and the API's tests on the embedded stack, in .embedded/tests/; DAY=4: that day's.
	rm -rf .embedded/tests
	CELERY_CONFIG_MODULE=sprout.embedded SPROUT_EMBEDDED_FOLDER=.embedded/tests \
		$(BIN)/pytest $(or $(DAY_TESTS),--ds=sprout.embedded_api $(EMBEDDED_TESTS))

test-api: services ## The tests that use the API's database; on PostgreSQL with DATABASE_URL=postgres://...
	$(BIN)/pytest -m "django_db and not soak"

SOAK_SECONDS ?= 240
soak: venv ## Workflows for SOAK_SECONDS (240) while faults strike the API's stack; SOAK_SEED=... replays one run.
	SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/pytest -m soak -n 0 -s -p no:django tests/test_soak.py

notebooks: services ## Re-execute the notebooks in place, at the tutorial's TASK_DELAY (5 s).
	$(BIN)/python -m sprout.notebooks

LAB_PORT ?= 8888
lab: venv ## JupyterLab on the notebooks, with .venv's Python as their kernel (LAB_PORT, 8888).
	@# The notebooks' kernel, python3, is .venv's Python: its kernel spec lives in
	@# .venv and comes before any other of that name (JUPYTER_PREFER_ENV_PATH).
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" > /dev/null
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/jupyter lab --no-browser \
		--ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) --ServerApp.port_retries=0 \
		--ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) \
		--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate

serve: services ## The API, its worker, beat and Flower, in the foreground until Ctrl+C (API_PORT, 8000).
	$(BIN)/python -m sprout.serve

screenshots: services ## Pictures of the workflows pages, in docs/, taken in headless Chromium.
	$(BIN)/python -m sprout.screenshots

bench: services ## A chain's latency on both stacks; the API against the bare chain; day 6's status reads.
	$(BIN)/python benchmarks/chain_latency.py
	$(BIN)/python benchmarks/api_throughput.py
	$(BIN)/python benchmarks/status_reads.py
