# Everything a newcomer needs: `make run`, `make test`, `make check`.
# Only python3 (3.11+) and make are assumed; all else goes into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test check lint typecheck bench bench-quick lock clean

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "hookwire needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# `make run` is the local try-out: it allows delivery to 127.0.0.1 so that
# `hookwire listen` and `hookwire demo` work. `hookwire serve` itself refuses
# private addresses unless the operator allows them (docs/PRODUCT.md, delivery guarantees).
run: install
	HOOKWIRE_ALLOW_PRIVATE_NETWORKS=$${HOOKWIRE_ALLOW_PRIVATE_NETWORKS:-true} $(BIN)/hookwire serve

# On as many processes as the machine has cores (each gets its own databases).
test: install
	$(BIN)/pytest -n auto

check: install lint typecheck test

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports  # the direction of calls between layers (pyproject.toml)

typecheck: install
	$(BIN)/mypy

# The whole benchmark on SQLite and PostgreSQL (about 10 min on 2 cores); the
# results go to bench/results/<date>-<host>.json. See `python -m bench --help`.
bench: install
	$(BIN)/python -m bench

# The same scenarios at a tenth of the size (under 2 min), to try a change.
bench-quick: install
	$(BIN)/python -m bench --quick

# Re-pin after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --strip-extras -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
