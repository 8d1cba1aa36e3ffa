# The README's two commands: `make run` serves the portal, `make test` runs the suite.
# Both set up .venv first, and only reinstall when requirements.txt changed.

# `venv`, `run` and `test` are scripts/dev.py's (one implementation, which also runs on Windows and macOS without
# make). It is started by the first of python3.14, python3.13, python3.12 on the PATH, else by python3, which the
# script checks: older than 3.12, it stops with a one-line message. PYTHON=... picks another.
PYTHON ?= $(or $(firstword $(foreach candidate,python3.14 python3.13 python3.12,$(shell command -v $(candidate)))),python3)
VENV := .venv
PORT ?= 8000

.PHONY: run test lint format venv screenshots

# Creates .venv, and installs requirements.txt only when its content changed since the last install.
venv:
	$(PYTHON) scripts/dev.py venv

# Migrates, seeds the demo data, ensures the admin, then serves on 127.0.0.1:$(PORT) with the task worker (started
# again 5 s after it fails) until Ctrl-C or runserver's end stops both. DEBUG is on unless set (DEBUG=0 make run
# shows the production behaviour: it needs SECRET_KEY).
run:
	$(PYTHON) scripts/dev.py run --port $(PORT)

test:
	$(PYTHON) scripts/dev.py test $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The pictures of docs/operations.md, taken again by the browser tests (needs Chromium; see docs/screenshots.py).
screenshots: venv
	$(VENV)/bin/python docs/screenshots.py
