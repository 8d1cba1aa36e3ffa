"""Refresh the images of docs/operations.md from the screenshots the browser tests take.

    python docs/screenshots.py                      # run the e2e tests that take them, then copy them
    python docs/screenshots.py --from test-artifacts # copy from an earlier run (its e2e/ folder)
    make screenshots                                # the first, with the project's .venv

Every image in docs/images/operations/ is a screenshot a test in tests/e2e took with its
`screenshot("step")` fixture (tests/e2e/conftest.py names it <test>-<NN>-<step>.png): the
guide shows what the tests assert on, never a hand-made picture. IMAGES says which shot
becomes which image; a tall page is cut to its top `height` pixels (by Chromium, the
browser the tests already use), so the guide stays light. Without --from, only the tests
that take the listed shots run, with TEST_ARTIFACTS_DIR set to a temporary directory; a
failing test or a missing shot copies nothing. tests/portal/test_operations_docs.py checks
that each shot's test exists and takes that step.
"""

import argparse
import base64
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
E2E = REPO / "tests" / "e2e"
IMAGES_DIR = REPO / "docs" / "images" / "operations"

# docs/images/operations/<name> <- (e2e screenshot, the height it is cut to, or None for the whole page)
IMAGES = {
    "dashboard.png": ("an_operator_drains_and_resumes_an_instance-01-dashboard.png", 1500),
    "health.png": ("an_operator_drains_and_resumes_an_instance-02-health.png", None),
    "instances-drain-confirmation.png": ("an_operator_drains_and_resumes_an_instance-03-drain-confirmation.png", None),
    "instances-drained.png": ("an_operator_drains_and_resumes_an_instance-04-drained.png", None),
    "instances-viewer.png": ("a_viewer_sees_the_dashboard_but_cannot_drain-01-instances.png", None),
    "breakers-open.png": ("an_operator_resets_an_open_breaker-02-open.png", None),
    "breakers-reset-confirmation.png": ("an_operator_resets_an_open_breaker-03-reset-confirmation.png", None),
    "breakers-viewer.png": ("a_viewer_sees_the_breakers_without_a_button-01-viewer.png", None),
    "memory.png": ("an_operator_collects_garbage_in_one_worker-02-page.png", None),
    "memory-gc-run.png": ("an_operator_collects_garbage_in_one_worker-03-run.png", None),
    "memory-viewer.png": ("a_viewer_sees_the_workers_without_controls-01-workers.png", 900),
    "database.png": ("an_operator_reads_the_overview_then_sorts_filters_and_acts_on_indexes-01-overview.png", 1400),
    "database-drop-confirmation.png": (
        "an_operator_reads_the_overview_then_sorts_filters_and_acts_on_indexes-04-drop-confirm.png",
        None,
    ),
    "database-viewer.png": ("a_viewer_reads_the_overview_without_a_control-01-viewer.png", 900),
    "database-risks.png": ("an_operator_reads_the_dangers_problems_first-01-dangers.png", 1400),
    "activity.png": ("an_operator_sees_the_blocked_query_and_cancels_it-01-operator.png", 1400),
    "activity-cancel-confirmation.png": ("an_operator_sees_the_blocked_query_and_cancels_it-02-confirmation.png", None),
    "activity-viewer.png": ("a_viewer_sees_the_lock_wait_without_controls-01-viewer.png", 900),
    "caches.png": ("an_operator_clears_an_alias_and_sees_the_count_drop-01-caches-before.png", None),
    "caches-clear-confirmation.png": (
        "an_operator_clears_an_alias_and_sees_the_count_drop-02-clear-confirmation.png",
        None,
    ),
    "caches-cleared-run.png": ("an_operator_clears_an_alias_and_sees_the_count_drop-03-cleared-run.png", None),
    "caches-viewer.png": ("a_viewer_reads_the_caches_page_without_its_controls-01-caches-viewer.png", None),
    "runs.png": ("an_operator_drains_and_resumes_an_instance-06-runs.png", None),
    "run-steps.png": ("a_multi_step_optimize_reads_as_steps-01-optimize-steps.png", 1400),
    "run-progress.png": ("a_running_run_shows_its_progress_and_a_stalled_one_says_why-01-running.png", None),
    "run-stalled.png": ("a_running_run_shows_its_progress_and_a_stalled_one_says_why-02-stalled.png", None),
    "refused.png": ("a_viewer_sees_no_write_controls_and_a_styled_refusal-08-refused.png", None),
    "security.png": ("an_operator_reads_the_checklist-02-page.png", 1400),
    "security-viewer.png": ("a_viewer_has_no_tile_and_is_refused-01-refused.png", None),
    "rate-limits.png": ("an_operator_reads_the_limiter_and_resets_an_address-01-page.png", None),
    "rate-limits-reset-form.png": ("an_operator_reads_the_limiter_and_resets_an_address-02-reset-form.png", None),
    "rate-limits-viewer.png": ("a_viewer_reads_the_limiter_without_the_reset-01-viewer.png", None),
    "memberships-reset-confirmation.png": ("an_operator_resets_a_member_s_rate_limits-02-confirmation.png", None),
    "alerts.png": ("an_operator_acknowledges_the_open_incident-01-open.png", 1200),
    "alerts-viewer.png": ("a_viewer_sees_the_incidents_without_a_control-01-viewer.png", 900),
    "api-token-add.png": ("an_administrator_issues_an_ops_token_that_opens_the_api-01-add.png", None),
    "api-token-created.png": ("an_administrator_issues_an_ops_token_that_opens_the_api-02-created.png", None),
}

SHOT = re.compile(r"^(?P<test>.+)-(?P<number>\d{2})-(?P<step>[^/]+)\.png$")


def parse_shot(shot):
    """(test function name, step) of a screenshot's file name: ("test_an_operator_...", "dashboard")."""
    match = SHOT.match(shot)
    if not match:
        raise ValueError(f"{shot} is not named <test>-<NN>-<step>.png")
    return f"test_{match['test']}", match["step"]


def test_file_of(test_name):
    """The tests/e2e module defining `test_name`, or None."""
    for module in sorted(E2E.glob("test_*.py")):
        if re.search(rf"^def {re.escape(test_name)}\(", module.read_text(), re.MULTILINE):
            return module
    return None


def node_ids():
    """The pytest node ids of the tests that take the listed shots, each once, in a stable order."""
    ids = []
    for shot, _ in IMAGES.values():
        test_name, _ = parse_shot(shot)
        module = test_file_of(test_name)
        if module is None:
            raise SystemExit(f"no test {test_name} in tests/e2e (for {shot})")
        ids.append(f"{module.relative_to(REPO)}::{test_name}")
    return list(dict.fromkeys(ids))


def run_tests(artifacts):
    """Run the tests that take the shots, their screenshots going to `artifacts`/e2e; exit on a failure.

    Through `make test`'s two passes (tests.matrix): a PostgreSQL-only page's test runs in the second."""
    environment = dict(os.environ, TEST_ARTIFACTS_DIR=str(artifacts))
    command = [sys.executable, "-m", "tests.matrix", "-q", "-p", "no:cacheprovider", *node_ids()]
    print("Running:", " ".join(command[1:]), flush=True)
    if subprocess.run(command, cwd=REPO, env=environment).returncode:
        raise SystemExit("the browser tests failed: no image was copied")


def png_size(path):
    """(width, height) from a PNG's header."""
    with open(path, "rb") as image:
        header = image.read(24)
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path} is not a PNG")
    return struct.unpack(">II", header[16:24])


def copy_images(shots_dir):
    """Copy (and cut) every listed shot from `shots_dir` into docs/images/operations/."""
    missing = [shot for shot, _ in IMAGES.values() if not (shots_dir / shot).is_file()]
    if missing:
        raise SystemExit(f"missing in {shots_dir}: {', '.join(missing)}")
    IMAGES_DIR.mkdir(parents=True, exist_ok=True)
    to_cut = []
    for name, (shot, height) in IMAGES.items():
        source, target = shots_dir / shot, IMAGES_DIR / name
        width, full_height = png_size(source)
        if height is None or full_height <= height:
            shutil.copyfile(source, target)
        else:
            to_cut.append((source, target, width, height))
    if to_cut:
        cut(to_cut)
    for stale in sorted(set(IMAGES_DIR.glob("*.png")) - {IMAGES_DIR / name for name in IMAGES}):
        print(f"not in IMAGES, left alone: {stale.relative_to(REPO)}")
    total = sum((IMAGES_DIR / name).stat().st_size for name in IMAGES)
    print(f"{len(IMAGES)} images in {IMAGES_DIR.relative_to(REPO)}, {total / 1024 / 1024:.1f} MiB")


def cut(images):
    """Keep the top `height` pixels of each image: Chromium draws it and screenshots that much."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if not executable:
        raise SystemExit("Chromium not found: apt-get install --no-install-recommends chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--headless", "--no-sandbox"])
        for source, target, width, height in images:
            page = browser.new_page(viewport={"width": width, "height": height})
            data = base64.b64encode(source.read_bytes()).decode()
            page.set_content(f'<body style="margin:0"><img style="display:block" src="data:image/png;base64,{data}">')
            page.locator("img").wait_for()
            page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": width, "height": height})
            page.close()
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from", dest="artifacts", type=Path, help="A TEST_ARTIFACTS_DIR of an earlier run, instead of running."
    )
    options = parser.parse_args()
    if options.artifacts:
        copy_images(options.artifacts / "e2e")
        return
    with tempfile.TemporaryDirectory(prefix="ops-guide-shots-") as artifacts:
        run_tests(Path(artifacts))
        copy_images(Path(artifacts) / "e2e")


if __name__ == "__main__":
    main()
