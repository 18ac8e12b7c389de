# Two commands matter: `make demo` and `make test`. Both create .venv and install first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test check lint typecheck fmt bench agents clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sidecar demo

# The real Claude Code and Codex CLIs (installed from npm into bench/.cache) through the sidecar.
agents: $(STAMP)
	$(BIN)/python bench/agents.py

check: $(STAMP) lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check sidecar tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: check
	$(BIN)/python -m pytest -q

fmt: $(STAMP)
	$(BIN)/ruff check --fix sidecar tests bench
	$(BIN)/ruff format sidecar tests bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
