"""docs/operations.md keeps up with the declarations: every ops page, read and write is in it, its pages in the
sidebar's order, and every picture it shows is one the browser tests take (docs/screenshots.py)."""

import importlib.util
import re
from pathlib import Path

import pytest
from django.urls import reverse

from opsadmin.admin.pages import page_url
from opsadmin.spine import registry

pytestmark = pytest.mark.sqlite  # reads files and the declarations: one pass is enough

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDE = DOCS / "operations.md"
NAV = "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"  # between group and page, as the README writes them
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def guide():
    return GUIDE.read_text()


@pytest.fixture(scope="module")
def screenshots():
    """docs/screenshots.py, loaded as a module (docs/ is no package)."""
    spec = importlib.util.spec_from_file_location("docs_screenshots", DOCS / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sidebar_order():
    """The capabilities with a page, as the sidebar lists them: by group (in its first appearance's order), then as
    declared (opsadmin.admin.navigation)."""
    with_pages = [capability for capability in registry.capabilities() if page_url(capability)]
    groups = list(dict.fromkeys(capability.group for capability in with_pages))
    return sorted(with_pages, key=lambda capability: groups.index(capability.group))


def heading(capability):
    return f"## {capability.group} {NAV} {capability.nav_title or capability.title}"


def test_every_ops_page_has_its_section_with_its_admin_url_in_the_sidebar_s_order(guide):
    lines = guide.splitlines()
    pages = sidebar_order()
    missing = [f"section {heading(capability)!r}" for capability in pages if heading(capability) not in lines]
    missing += [
        f"{capability.name}'s page {page_url(capability)}" for capability in pages if page_url(capability) not in guide
    ]
    if f"`{reverse('admin:index')}`" not in guide:
        missing.append(f"the dashboard's `{reverse('admin:index')}`")
    assert not missing, f"docs/operations.md lacks these ops pages' sections or admin URLs: {missing}"
    positions = [lines.index(heading(capability)) for capability in pages]
    order = [heading(capability) for capability in pages]
    assert positions == sorted(positions), f"the page sections are not in the sidebar's order: {order}"


def test_every_write_has_its_command_and_api_path(guide):
    missing = []
    for capability in registry.capabilities():
        for write in capability.writes:
            command = f"ops run {write.name}"
            path = reverse(f"ops_api:{capability.name}.{write.name}")
            missing += [f"{write.name}: {what}" for what in (command, path) if what not in guide]
    assert not missing, f"docs/operations.md lacks these writes' command lines or API paths: {missing}"


def test_every_write_s_permission_is_named(guide):
    missing = sorted({write.permission for write in registry.writes() if f"`{write.permission}`" not in guide})
    assert not missing, f"docs/operations.md never names these write permissions: {missing}"


def read_mentions(capability, read):
    """Ways the guide may show a read: its path, a path kept as its alias, or `ops show`."""
    patterns = [re.escape(reverse(f"ops_api:{capability.name}.{read.name}"))]
    for alias in capability.aliases:
        if alias.read == read.name:
            path = re.escape(f"/api/ops/{alias.path}")
            patterns.append(re.sub(r"<[^>]+>", "[^/\\\\s]+", path))  # runs/<int:id>/ as runs/12/
    patterns.append(re.escape(f"ops show {capability.name}.{read.name}") + r"\b")
    if capability.status == read.name:
        patterns.append(re.escape(f"ops show {capability.name}") + r"(?![.\w])")
    return patterns


def test_every_read_is_shown_by_a_door(guide):
    missing = [
        f"{capability.name}.{read.name}"
        for capability in registry.capabilities()
        for read in capability.reads
        if not any(re.search(pattern, guide) for pattern in read_mentions(capability, read))
    ]
    assert not missing, f"docs/operations.md shows these reads by no path and no `ops show`: {missing}"


def test_every_linked_image_exists(guide):
    links = IMAGE_LINK.findall(guide)
    assert links, "docs/operations.md links no image"
    missing = [link for link in links if not (DOCS / link).is_file()]
    assert not missing, f"docs/operations.md links images that do not exist: {missing}"


def test_every_image_is_a_listed_screenshot_and_linked(guide, screenshots):
    linked = {Path(link).name for link in IMAGE_LINK.findall(guide) if link.startswith("images/operations/")}
    listed = set(screenshots.IMAGES)
    on_disk = {path.name for path in (DOCS / "images" / "operations").glob("*.png")}
    assert linked <= listed, (
        f"linked but not made by docs/screenshots.py (add them to IMAGES): {sorted(linked - listed)}"
    )
    assert listed <= linked, f"in docs/screenshots.py's IMAGES but not linked from the guide: {sorted(listed - linked)}"
    assert on_disk == listed, (
        f"docs/images/operations/ differs from IMAGES: extra {on_disk - listed}, missing {listed - on_disk}"
    )


def test_every_image_comes_from_a_browser_test_s_screenshot_step(screenshots):
    """Each IMAGES source names a test in tests/e2e that calls screenshot() with that step."""
    wrong = []
    for name, (shot, _height) in screenshots.IMAGES.items():
        test_name, step = screenshots.parse_shot(shot)
        module = screenshots.test_file_of(test_name)
        if module is None:
            wrong.append(f"{name}: no test {test_name} in tests/e2e")
            continue
        source = module.read_text()
        body = source[source.index(f"def {test_name}(") :]
        body = body[: next((m.start() for m in re.finditer(r"\n(def |@)", body[1:])), len(body))]
        if f'screenshot("{step}")' not in body and f"screenshot({step!r})" not in body:
            steps_in_loops = re.search(r"screenshot\((\w+)\)", body)  # steps named in a loop: ("/admin/", "dashboard")
            if not (steps_in_loops and f'"{step}")' in body):
                wrong.append(f'{name}: {test_name} takes no screenshot("{step}")')
    assert not wrong, f"docs/screenshots.py lists shots no browser test takes: {wrong}"
