"""The registry refuses, at start-up, a declaration that would make the doors disagree or could never be granted."""

import sys
import types

import pytest
from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from opsadmin.spine import registry
from opsadmin.spine.capability import Capability, Read, Write
from opsadmin.spine.results import OK, Report, Section
from opsadmin.spine.targets import CHOSEN_PROCESSES, ONE_PROCESS


class NoArguments(forms.Form):
    pass


def status():
    return Section(OK, "fine")


def noop():
    return Report(summary="done")


@pytest.fixture
def declare(monkeypatch):
    """`declare(capability, ...)` loads these capabilities as if PORTAL_CAPABILITIES listed them."""

    def load(*capabilities):
        paths = []
        for number, capability in enumerate(capabilities):
            module = types.ModuleType(f"declared_{number}.capability")
            module.CAPABILITY = capability
            monkeypatch.setitem(sys.modules, f"declared_{number}.capability", module)
            paths.append(f"declared_{number}")
        registry.load(paths)

    yield load
    registry.load(settings.PORTAL_CAPABILITIES)


def capability(name="thing", **declared):
    return Capability(name=name, title=name.title(), icon="star", group="Tests", **declared)


@pytest.mark.parametrize(
    ("capabilities", "refusal"),
    [
        ((capability(), capability()), "listed twice"),
        (
            (capability(reads=(Read("x", "X", status),), writes=(Write("x", "X", "view_ops", NoArguments, noop),)),),
            "share a name",
        ),
        (
            (
                capability(writes=(Write("w", "W", "view_ops", NoArguments, noop),)),
                capability("other", writes=(Write("w", "W", "view_ops", NoArguments, noop),)),
            ),
            "declared by two",
        ),
        ((capability(reads=(Read("x", "X", status, permission="see_everything"),)),), "not an ops permission"),
        ((capability(reads=(Read("x", "X", status),), status="y"),), "not among its reads"),
        (
            (capability(writes=(Write("w", "W", "view_ops", NoArguments, noop, target=ONE_PROCESS),)),),
            "needs instance and pid",
        ),
        (
            (capability(writes=(Write("w", "W", "view_ops", NoArguments, noop, target=CHOSEN_PROCESSES),)),),
            "its form needs processes",
        ),
    ],
    ids=[
        "same name",
        "read and write",
        "write twice",
        "unknown permission",
        "no such status read",
        "one process",
        "chosen processes",
    ],
)
def test_a_declaration_the_doors_could_not_serve_is_refused(declare, capabilities, refusal):
    with pytest.raises(ImproperlyConfigured, match=refusal):
        declare(*capabilities)


def test_a_sound_declaration_is_served(declare):
    declare(
        capability(
            reads=(Read("x", "X", status),), writes=(Write("w", "W", "view_ops", NoArguments, noop),), status="x"
        )
    )
    assert [c.name for c in registry.capabilities()] == ["thing"]
    assert registry.get_write("w").title == "W"
