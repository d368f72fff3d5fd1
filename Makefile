# The two commands of the README: `make demo` and `make test`. Each bootstraps .venv itself.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

.PHONY: demo test lint install bench
install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mdmtui demo

lint: $(STAMP)
	$(VENV)/bin/ruff check mdmtui tests bench
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

# The suite in JOBS workers, then the tests marked `timing` (wall-clock bounds) alone, with no other worker
# competing for the cores. Both passes always run; the target fails if either failed. Four workers although CI
# has 2 cores: the tests mostly wait (simulators, timers, the console's refreshes): 2 workers kept 1.13 cores
# busy (fresh clone: 17.5 min for the parallel pass), 4 workers took 14 min. `worksteal` hands out single
# tests, so no worker idles while another still has a whole file of console tests to go (with `loadfile`, in
# one run under load, the last fifth of the tests took 6.6 of its 13.7 min); a module-scoped simulator starts once per worker that
# runs that module's tests.
JOBS ?= 4
PYTEST := $(VENV)/bin/python -m pytest -q -p no:cacheprovider
test: lint
	status=0; \
	$(PYTEST) -n $(JOBS) --dist worksteal -m "not timing" || status=$$?; \
	$(PYTEST) -m timing || status=$$?; \
	exit $$status

bench: $(STAMP)
	$(VENV)/bin/python bench/collect.py
