"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

`playwright install` can't download browsers here, so the tests launch the system
Chromium (`apt-get install --no-install-recommends chromium`; .ci/run installs it).
Without Chromium or the playwright package the tests skip with the reason; with CI=true
they fail instead.

The live server is pytest-django's `live_server`: a threaded WSGI server in this process,
sharing the test database, with static files served from the finders (tests/conftest.py
swaps the manifest storage for the plain one, so no collectstatic is needed).

Each module marks its tests `sqlite`: what a browser sees doesn't depend on the database,
so they run once, in the SQLite pass of `make test`.

Screenshots (full page, PNG) go to $TEST_ARTIFACTS_DIR/e2e/ (default test-artifacts/e2e/).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests import helpers
from tests.services import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000  # each action, navigation and `expect`: generous for a loaded CI machine


@pytest.fixture(scope="package")
def browser(tmp_path_factory):
    """The system Chromium under Playwright, started once for tests/e2e; HOME and XDG dirs in a temp dir.

    Package scope, not session: Playwright's sync API leaves its event loop marked as
    running in this thread between calls, for as long as it runs. Django's async-safety
    check then refuses the ORM in the test (and the flush after it), hence
    DJANGO_ALLOW_ASYNC_UNSAFE; both end with the last browser test, before other tests run.
    """
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        skip_or_fail("playwright not installed: pip install -r requirements.txt")
    executable = shutil.which("chromium")
    if not executable:
        skip_or_fail("Chromium not found: apt-get install --no-install-recommends chromium")
    expect.set_options(timeout=TIMEOUT_MS)
    home = tmp_path_factory.mktemp("chromium-home")
    environment = dict(
        os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache")
    )
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, env=environment)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (no cookies) whose relative URLs go to the live server.

    Wider than 1280 px: below that, unfold hides the sidebar.
    """
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """`screenshot("step")` saves a full-page PNG as e2e/<test name>-<NN>-<step>.png; returns the path."""
    directory = Path(os.environ.get("TEST_ARTIFACTS_DIR") or REPO / "test-artifacts") / "e2e"
    directory.mkdir(parents=True, exist_ok=True)
    test_name = request.node.name.removeprefix("test_")
    steps = []

    def take(step):
        steps.append(step)
        path = directory / f"{test_name}-{len(steps):02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def user_in(ops_groups):
    """`user_in("Ops operators")`: a staff user in that group, who logs in with tests.helpers.PASSWORD."""
    return helpers.user_in


@pytest.fixture
def log_in(page):
    """`log_in(user)`: open the admin, sign in on the login page it redirects to, land on the dashboard."""

    def sign_in(user):
        page.goto("/admin/")
        page.wait_for_url("**/admin/login/?next=/admin/")
        page.locator("#id_username").fill(user.username)
        page.locator("#id_password").fill(helpers.PASSWORD)
        page.locator("#login-form [type=submit]").click()
        page.wait_for_url("**/admin/")

    return sign_in
