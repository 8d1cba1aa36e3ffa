"""The breakers' writes: reset (close), force open and half-open one named breaker; what opening it asks first.

Where they run follows where the state lives. Shared through Redis, the process that takes
the request changes it for the fleet. Kept in each process (no REDIS_URL, or Redis not
answering now), the change is sent to every web process, each changing its own.
"""

from dataclasses import dataclass

from django import forms

from opsadmin.runtime import breakers
from opsadmin.spine import humanize
from opsadmin.spine.capability import Confirmation, Write
from opsadmin.spine.results import Report
from opsadmin.spine.targets import EVERY_WEB_PROCESS, HERE, ByArguments

PERMISSION = "reset_breaker"


class BreakerForm(forms.Form):
    name = forms.ChoiceField(
        choices=lambda: [(name, name) for name in breakers.names()],
        error_messages={"invalid_choice": "Not a declared circuit breaker: %(value)s."},
        help_text="A circuit breaker PORTAL_BREAKERS declares.",
    )


@dataclass(kw_only=True)
class BreakerReport(Report):
    """What one write did to one breaker: its state before and after, and where that state lives."""

    breaker: str
    before: str
    after: str
    where: str


def reset(*, name, actor):
    """Close it: calls go through again, its failure count starts from zero."""
    return _change(name, lambda breaker: breaker.reset(actor))


def force_open(*, name, actor):
    """Open it now: every call it guards fails at once until its reset timeout lets a trial through."""
    return _change(name, lambda breaker: breaker.force_open(actor))


def half_open(*, name, actor):
    """Let the next call through as a trial: its success closes the breaker, its failure opens it again."""
    return _change(name, lambda breaker: breaker.force_half_open(actor))


def _change(name, change):
    breaker = breakers.get(name)
    before = breaker.current_state
    change(breaker)
    after, where = breaker.current_state, breaker.status().where
    moved = f"{before} -> {after}" if after != before else f"already {after}"
    return BreakerReport(
        summary=f"{name}: {moved}; state in {where}", breaker=name, before=before, after=after, where=where
    )


def confirm_open(cleaned):
    """Opening a breaker fails every call it guards: say which, for how long, and what ends it sooner."""
    breaker = breakers.get(cleaned["name"])
    return Confirmation(
        action=f"Open the {breaker.name} circuit breaker",
        items=[f"{breaker.name}: {breaker.purpose}" if breaker.purpose else breaker.name],
        size=f"for {humanize.duration(breaker.reset_timeout)}, then one trial call decides",
        consequence=f"Until then every call it guards fails at once, as if {breaker.name} were down. "
        "Reset closes it sooner.",
    )


def _where(cleaned):
    """Here when the fleet shares the state through Redis now; else in every web process, each for its own."""
    return HERE if breakers.link().usable() else EVERY_WEB_PROCESS


WHERE = ByArguments(_where, (HERE, EVERY_WEB_PROCESS))
RESET = Write("reset_breaker", "Reset a circuit breaker", PERMISSION, BreakerForm, reset, target=WHERE)
OPEN = Write(
    "open_breaker", "Open a circuit breaker", PERMISSION, BreakerForm, force_open, target=WHERE, confirm=confirm_open
)
HALF_OPEN = Write("half_open_breaker", "Half-open a circuit breaker", PERMISSION, BreakerForm, half_open, target=WHERE)
