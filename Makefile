# Two commands matter: `make demo` and `make test`. Both create .venv and install first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime

.PHONY: install demo test check lint typecheck layers constraints fmt bench agents clean

$(STAMP): pyproject.toml deploy/constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c deploy/constraints.txt
	touch $(STAMP) $(RUNTIME_STAMP)

# The demo needs only the runtime dependencies (a plain `pip install .`): quick from a fresh clone.
$(RUNTIME_STAMP): pyproject.toml deploy/constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e . -c deploy/constraints.txt
	touch $(RUNTIME_STAMP)

install: $(STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/sidecar demo

# The real Claude Code and Codex CLIs (installed from npm into bench/.cache) through the sidecar.
agents: $(STAMP)
	$(BIN)/python bench/agents.py

check: $(STAMP) lint typecheck layers constraints

lint: $(STAMP)
	$(BIN)/ruff check sidecar tests bench
	$(BIN)/ruff format --check sidecar tests bench

layers: $(STAMP)
	$(BIN)/lint-imports

constraints: $(STAMP)
	$(BIN)/python deploy/freeze_constraints.py --check

typecheck: $(STAMP)
	$(BIN)/mypy

test: check
	$(BIN)/python -m pytest -q

fmt: $(STAMP)
	$(BIN)/ruff check --fix sidecar tests bench
	$(BIN)/ruff format sidecar tests bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
