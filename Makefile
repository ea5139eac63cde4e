# Tessera — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install system-deps node-deps run test bench replay clean

# Debian packages the tests drive (command:package). Installed when missing, where apt is.
SYSTEM_TOOLS := nginx:nginx-light kubectl:kubernetes-client chromium:chromium

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

## npm packages the interop tests drive (openid-client, in tests/interop); a note where npm is missing.
node-deps:
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error; \
	else echo "note: npm is missing: the openid-client interop tests will be skipped (fail under CI=true); install Node.js 20+ and npm"; fi

## Run every test against real servers provisioned for the run (or the TESSERA_*_URL given).
test: install system-deps node-deps
	$(PY) -m pytest

## Measure Tessera against the bare ceiling and the peer (oidc-provider) side by side; writes
## docs/benchmarks.md. Not part of `make test`. Quick check: make bench BENCH_ARGS=--quick
bench: install
	@if ! command -v wrk >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk || \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk); \
	  else \
	    echo "bench: wrk is missing; install it (Debian/Ubuntu: sudo apt-get install -y wrk)"; exit 2; \
	  fi; \
	fi
	@command -v npm >/dev/null 2>&1 || { echo "bench: npm is missing; install Node.js 20+ and npm"; exit 2; }
	@# the peer's npm argon2 compiles from source when no prebuilt binary fits: node-gyp needs g++, make, python3
	@if ! command -v g++ >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential python3 || \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential python3); \
	  else \
	    echo "bench: g++, make or python3 is missing (the peer's npm argon2 builds from source); install them" \
	         "(Debian/Ubuntu: sudo apt-get install -y build-essential python3)"; exit 2; \
	  fi; \
	fi
	npm ci --prefix bench/peer --no-audit --no-fund
	$(PY) -m bench.run $(BENCH_ARGS)

## Rebuild a service's read models from its events: make replay SERVICE=token
replay: install
	$(PY) -m tessera replay $(SERVICE)

clean:
	rm -rf $(VENV) .tessera
