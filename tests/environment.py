"""The tests' environment, set before pytest-django loads the settings (a `-p` plugin, pyproject.toml).

The settings refuse to start without SECRET_KEY when DEBUG is off, as tests run: the tests
bring a key of their own unless one is set.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-key-" + "never-used-outside-the-test-suite-" * 2)
