# The two commands: `make run` (the whole stack on this machine) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SERVICES := $(sort $(dir $(wildcard services/*/pyproject.toml)))
# Each package's own tests, then the cross-service tests in tests/.
PACKAGES := libs/common libs/testing $(SERVICES) tests
# Everything ruff and mypy (strict) check: every package with its tests, and the scripts.
LINTED := libs services tests bench tools deploy
# mypy's import roots (with explicit_package_bases): each src/ folder, so a package is checked
# once under its own name, and bench/ for its helpers; a tests folder (no __init__.py) is named
# from the repository root, so the five conftest.py files do not collide.
empty :=
MYPY_PATH := $(subst $(empty) $(empty),:,$(strip $(wildcard libs/*/src services/*/src) bench))

.PHONY: install run demo token reset test lint bench constraints clean

install: $(VENV)/.installed

$(VENV)/.installed: constraints.txt libs/common/pyproject.toml libs/testing/pyproject.toml $(wildcard services/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e libs/common -e libs/testing $(foreach s,$(SERVICES),-e $(s)) ruff mypy
	touch $@

run: install
	$(BIN)/python tools/devstack.py

# With `make run` up (another terminal): the platform's story end to end through the public
# APIs, one line per step; exits non-zero at the first failing step (tools/demo.py).
demo: install
	@$(BIN)/python tools/demo.py

# Dev only: a demo user's bearer token from the running `make run` stack, without waiting for
# the next one-time code (identity.dev_token; refused unless identity's ENVIRONMENT is dev).
token: install
	@$(BIN)/python tools/devstack.py --token "$(USER)"

# Demo data afresh (after someone changed a demo user): with the stack stopped, drop every
# service's database; the next `make run` migrates, seeds and prints new demo logins.
reset: install
	$(BIN)/python tools/devstack.py --reset

# CI runs this: the lint first, then every package's tests.
test: lint
	$(BIN)/python tools/run_tests.py $(PACKAGES)

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	MYPYPATH=$(MYPY_PATH) $(BIN)/mypy $(LINTED)

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Re-pin every dependency after changing a pyproject (no index URLs are written).
constraints: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .devstack
