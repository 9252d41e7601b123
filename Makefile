# Two commands do all set-up on a fresh machine (Python 3.11, package registry reachable):
#   make run    create .venv if needed, then `kedro run` on the built-in synthetic market
#   make test   create .venv if needed, then run the whole test suite
# Both are idempotent: the environment is rebuilt only when requirements.lock or
# pyproject.toml changed since the last install.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ENV    ?= base
PYTEST_ARGS ?=

# Never phone home, never prompt (CI has no standard input).
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
# Small, predictable thread pools: oversubscribed OpenMP is 30x slower on 2 cores.
export OMP_NUM_THREADS ?= 1

.PHONY: venv run test bench lint lock viz viz-check clean-data airflow-dags

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]}: set PYTHON=/path/to/python3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

run: venv
	$(BIN)/kedro run --env=$(ENV)

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	$(BIN)/python -m benchmarks.run_all

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# Re-resolve every dependency from pyproject.toml into requirements.lock (needs the registry).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=24"
	.lock-venv/bin/python -m pip install --quiet ".[test,team,freqtrade]"
	( echo "# Exact versions of every package, resolved together on Python 3.11 (pip check clean)."; \
	  echo "# Regenerate with \`make lock\` after changing dependencies in pyproject.toml."; \
	  .lock-venv/bin/python -m pip freeze --exclude ares_kedro ) > requirements.lock
	rm -rf .lock-venv

# One Airflow DAG of the six stages (integrations/airflow/dag_template.j2, conf/base/airflow.yml).
airflow-dags: venv
	$(BIN)/kedro airflow create --pipelines __default__ --env $(ENV) \
	  -j integrations/airflow/dag_template.j2 -t airflow_dags

# The graph at http://127.0.0.1:4141; PIPELINE=analyst shows one pipeline (readable at
# first sight: the whole project opens zoomed far out). Stopping make stops the server too.
PIPELINE ?=
viz: venv
	scripts/viz.sh $(BIN)/kedro $(if $(PIPELINE),--pipeline $(PIPELINE),)

viz-check: venv  # offline build, rendered in headless Chromium (apt-get install chromium)
	scripts/viz_screenshot.sh build/kedro_viz.png

clean-data:
	find data -mindepth 2 ! -name .gitkeep -delete
