# The two commands: `make run` (the whole stack on this machine) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SERVICES := $(sort $(dir $(wildcard services/*/pyproject.toml)))
# Each package's own tests, then the cross-service tests in tests/.
PACKAGES := libs/common libs/testing $(SERVICES) tests

.PHONY: install run test lint bench constraints clean

install: $(VENV)/.installed

$(VENV)/.installed: constraints.txt libs/common/pyproject.toml libs/testing/pyproject.toml $(wildcard services/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e libs/common -e libs/testing $(foreach s,$(SERVICES),-e $(s)) ruff mypy
	touch $@

run: install
	$(BIN)/python tools/devstack.py

test: install
	$(BIN)/python tools/run_tests.py $(PACKAGES)

lint: install
	$(BIN)/ruff check libs services tools bench
	$(BIN)/mypy -p mch_common $(foreach s,$(SERVICES),-p $(notdir $(patsubst %/,%,$(s))))

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Re-pin every dependency after changing a pyproject (no index URLs are written).
constraints: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .devstack
