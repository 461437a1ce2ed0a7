# Two commands that work on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Every dependency, the test tools included, pinned with hashes: `make run`, `make test` and
# CI install exactly this; `make upgrade` moves it on purpose.
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCK) | cksum | cut -d' ' -f1)
# The lock is resolved for CPython 3.11 on Linux; every file of each pinned release has its hash.
UV     := uv==0.13.9
LOCK_FOR := --extra test --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28

.PHONY: run test lint typecheck bench docs clean upgrade lock

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml $(LOCK)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m strangers serve

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/strangers

# Two workers, whole modules to a worker, then the `serial` tests alone; both runs go to
# the end, and the first failure decides the exit status (5: nothing collected).
test: $(STAMP) lint typecheck
	status=0; \
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not serial" || status=$$?; \
	$(PY) -m pytest -q -p no:xdist -m serial || { [ $$status -ne 0 ] || status=$$?; }; \
	exit $$status

bench: $(STAMP)
	$(PY) bench/matcher.py
	$(PY) bench/chat.py --scenario all

docs: $(STAMP)
	$(PY) -m strangers protocol

# The lock again from pyproject.toml, unchanged pins kept (after editing the dependencies).
lock: $(PY)
	$(PY) -m pip install --quiet '$(UV)'
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FOR) --quiet -o $(LOCK)

# Every pin to its newest allowed release, then the whole suite on it: review, commit both.
upgrade: $(PY)
	$(PY) -m pip install --quiet '$(UV)'
	$(VENV)/bin/uv pip compile pyproject.toml $(LOCK_FOR) --upgrade --quiet -o $(LOCK)
	$(MAKE) test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
