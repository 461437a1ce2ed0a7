# Two commands that work on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m strangers serve

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench migrations
	$(VENV)/bin/ruff format --check src tests bench migrations

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/strangers

test: $(STAMP) lint typecheck
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/matcher.py
	$(PY) bench/chat.py --scenario all

docs: $(STAMP)
	$(PY) -m strangers protocol

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
