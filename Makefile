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

test: lint
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(VENV)/bin/python bench/collect.py
