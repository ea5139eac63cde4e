# Tessera — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install system-deps run test bench replay clean

# Debian packages the tests drive (command:package). Installed when missing, where apt is.
SYSTEM_TOOLS := nginx:nginx-light kubectl:kubernetes-client

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Install missing Debian tools with apt when running as root; otherwise say what is missing.
system-deps:
	@missing=""; for pair in $(SYSTEM_TOOLS); do cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "note: tests that need$$missing will be skipped (install them with apt)"; fi; fi

## Start the whole suite (embedded Postgres, Redis and NATS unless TESSERA_*_URL are set).
run: install
	$(PY) -m tessera run

## Run every test against real servers provisioned for the run (or the TESSERA_*_URL given).
test: install system-deps
	$(PY) -m pytest

## Rebuild a service's read models from its events: make replay SERVICE=token
replay: install
	$(PY) -m tessera replay $(SERVICE)

clean:
	rm -rf $(VENV) .tessera
