# The targets people and CI both run. Each creates .venv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install sysdeps lint types imports pytest test run bench lock clean

# pip shows its progress to people; CI's log keeps to errors.
PIP_QUIET := $(if $(CI),-q,)

$(STAMP): pyproject.toml requirements.lock
	@echo "安装 Python 依赖 installing the Python packages (a first install takes minutes) …"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/python -m pip install $(PIP_QUIET) -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# System packages the tests use (PostGIS). Installs only as root with apt-get;
# elsewhere the tests that need them skip with a printed reason.
sysdeps:
	@bash scripts/sysdeps.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

imports: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test: sysdeps lint types imports pytest

run: install
	$(BIN)/geo-service demo --host $(HOST) --port $(PORT)

bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# Refresh the pinned versions after changing dependencies in pyproject.toml.
lock:
	rm -rf /tmp/geo-lock-venv && $(PY) -m venv /tmp/geo-lock-venv
	/tmp/geo-lock-venv/bin/python -m pip install -q '.[dev]'
	/tmp/geo-lock-venv/bin/python -m pip freeze --exclude geo-service > requirements.lock

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
