# The two commands of the README's quickstart, each creating the virtual environment it needs:
#   make run    install taiex and run the daily job (`taiex run`) on the default SQLite database
#   make test   install taiex with its test tools and Airflow (the DAG's tests run real Airflow),
#               then lint, type-check and run every test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-kernels lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Airflow lives in the same venv as the rest: apache-airflow 3 resolves beside torch, pandas 3
# and SQLAlchemy 2.1, and the whole suite passes with it installed. `make run` does not need it.
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,mysql,postgres,airflow,kubernetes,s3]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed
	$(BIN)/taiex run

test: $(VENV)/.dev-installed lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench dags
	$(BIN)/ruff format --check src tests bench dags

# The DAG is outside the package but typed too, checked against the installed Airflow.
typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy src dags

pytest: $(VENV)/.dev-installed
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS)

# The model, artifact and simulation tests again under numpy's baseline loops and torch's default
# kernels (.ci/run runs it after `make test`): see scripts/test-kernels.sh.
KERNEL_TESTS := tests/test_artifact.py tests/test_lstm.py tests/test_lstm_shares.py tests/test_classifier.py \
	tests/test_intervals.py tests/test_backtest.py tests/test_registry.py tests/test_metrics.py \
	tests/test_windows.py tests/test_features.py tests/test_frames.py tests/test_monitor.py \
	tests/test_simulate.py tests/test_simulation_summary.py

test-kernels: $(VENV)/.dev-installed
	scripts/test-kernels.sh $(BIN)/python -n auto $(PYTEST_ARGS) $(KERNEL_TESTS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
