"""The development entry point, the same on every OS with Python 3.12 or newer; `make venv|run|test` call it.

    python3 scripts/dev.py venv               create .venv, install requirements.txt when it changed
    python3 scripts/dev.py run [--port N]     set up, then serve the portal with a task worker until Ctrl+C
    python3 scripts/dev.py test [ARGS]        the test suite's two passes (tests/matrix.py), ARGS to pytest

On Windows: `py scripts\\dev.py run`. This file only checks the version, in syntax any Python parses, so that an
older one says what is wrong instead of failing on syntax it doesn't know; the commands are in dev_commands.py.
"""

import sys

# Not outdated: this check is for the Python that runs the file, whatever pyproject.toml's target is.
if sys.version_info < (3, 12):  # noqa: UP036
    version = ".".join(str(part) for part in sys.version_info[:2])
    sys.exit(
        "scripts/dev.py needs Python 3.12 or newer (Django 6.1) and this is Python " + version + ": "
        "run it with python3.13 (see .python-version), or on Windows `py -3.13 scripts\\dev.py`."
    )

from dev_commands import main  # after the check: dev_commands is written for 3.12

sys.exit(main(sys.argv[1:]))
