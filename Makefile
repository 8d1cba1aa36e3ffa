# The README's two commands: `make run` serves the portal, `make test` runs the suite.
# Both set up .venv first, and only reinstall when requirements.txt changed.

VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint format venv screenshots

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@py=""; for candidate in python3.13 python3.12 python3 python; do \
	  if command -v $$candidate >/dev/null 2>&1 && \
	     $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
	    py=$$candidate; break; fi; done; \
	if [ -z "$$py" ]; then \
	  echo "Python 3.12 or newer is required (Django 6.1) and none was found: install python3.13 (see .python-version)." >&2; \
	  exit 1; fi; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$py"; $$py -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# The task worker runs beside the development server and stops with it; it is started again 5 s after
# it fails (it exits 0 only when a signal stopped it: Ctrl-C, or the trap once runserver has ended).
# Development runs with DEBUG on (DEBUG=0 make run to see the production behaviour: it needs SECRET_KEY).
run: export DEBUG ?= 1
# PORTAL_BIND names the instance on the fleet pages (this host and port), as it does under gunicorn.
run: export PORTAL_BIND = 127.0.0.1:$(PORT)
run: venv
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_stocks --if-empty --stocks 500 --days 252 --seed 1
	$(PY) manage.py ensure_admin
	@echo "Serving the portal at http://127.0.0.1:$(PORT)/ (admin at /admin/), with a task worker"
	@( trap 'kill $$pid 2>/dev/null; exit' TERM; \
	  while :; do \
	    $(PY) manage.py ops_worker & pid=$$!; wait $$pid && break; pid=; \
	    echo "make run: the task worker exited with an error; starting it again in 5 s" >&2; sleep 5; \
	  done ) & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver $$PORTAL_BIND

test: venv
	$(PY) -m tests.matrix $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The pictures of docs/operations.md, taken again by the browser tests (needs Chromium; see docs/screenshots.py).
screenshots: venv
	$(PY) docs/screenshots.py
