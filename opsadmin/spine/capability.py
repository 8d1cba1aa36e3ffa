"""How a capability is declared: once, in its own package, and read by every door.

In the spirit of django-debug-toolbar's panels: a capability (database, caches,
instances, health, ...) says what it is called and where it shows (title, icon,
sidebar group), what it can tell (its reads, each with a function returning a
`Section`, the permission it needs and a form for its parameters), what it can do (its
writes: form, permission, target, and what a person confirms first), its admin page,
its dashboard card, its admin actions on model change lists, its health checks, its
system checks and the signals it listens to. The doors build everything from these: the sidebar, the pages, the
dashboard tiles, `system_status`, `/api/ops/<capability>/<read or write>/` and
`manage.py ops`. See docs/architecture.md for a worked example.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from django import forms

from opsadmin.runtime import fleet
from opsadmin.spine.targets import EVERY_WEB_PROCESS, HERE, ByArguments, possible, resolve

VIEW_OPS = "view_ops"


class NotFound(LookupError):
    """A read was asked for something that does not exist (an unknown run, say); the message says what."""


class NoParameters(forms.Form):
    """The form of a read that takes no parameters."""


@dataclass(frozen=True)
class Read:
    """Something a capability tells: `function(**cleaned parameters)` returns a Section.

    `permission` is an ops permission codename (opsadmin.<codename>).
    """

    name: str
    title: str
    function: Callable
    permission: str = VIEW_OPS
    form_class: type[forms.Form] = NoParameters

    @property
    def permission_name(self):
        return f"opsadmin.{self.permission}"


@dataclass(frozen=True)
class Confirmation:
    """What a person confirms before a destructive or fleet-wide write runs: what, to what, how big.

    `typed`: what they must type into the write's ConfirmationField, shown beside it ("" when
    a click is enough).
    """

    action: str
    items: list[str] = field(default_factory=list)
    size: str = ""
    consequence: str = ""
    typed: str = ""


@dataclass(frozen=True)
class Write:
    """Something a capability does: `function(**cleaned, actor=label, progress=callable)` returns a Report.

    `target` says where it runs (opsadmin.spine.targets), possibly chosen from the
    arguments. `confirm(cleaned)` returns the Confirmation a person must give on the admin
    pages before it runs, or None when none is needed (a dry run, a resume).
    """

    name: str
    title: str
    permission: str
    form_class: type[forms.Form]
    function: Callable
    target: str | ByArguments = HERE
    confirm: Callable | None = None

    @property
    def permission_name(self):
        return f"opsadmin.{self.permission}"

    @property
    def destructive(self):
        """A write a person confirms first: its refused attempts are audited too (opsadmin.spine.runs)."""
        return self.confirm is not None

    def target_for(self, cleaned):
        return resolve(self.target, cleaned)

    @property
    def targets(self):
        return possible(self.target)

    def confirmation(self, cleaned):
        """What a person confirms before this run: the write's own, with, for work sent to every web
        process, which processes (a dry run goes without); None when a click is enough."""
        declared = self.confirm(cleaned) if self.confirm else None
        if self.target_for(cleaned) != EVERY_WEB_PROCESS or cleaned.get("dry_run"):
            return declared
        processes = fleet.live_web_processes()
        instances = {instance for instance, _ in processes}
        items = [f"{instance} pid {pid}" for instance, pid in processes]
        size = (
            f"{len(processes)} process{'es' if len(processes) != 1 else ''} on "
            f"{len(instances)} instance{'s' if len(instances) != 1 else ''}"
        )
        if declared is None:
            return Confirmation(action=f"{self.title}{_given(cleaned)} in every web process", items=items, size=size)
        return dataclasses.replace(declared, items=[*declared.items, *items], size=declared.size or size)


def _given(cleaned, shown=5):
    """ " (cache)", " (AAPL, MSFT, ... and 3 more)": what a run was given, for a confirmation that says no more."""
    values = [
        str(item)
        for value in cleaned.values()
        if value not in (None, "", False, [])
        for item in (value if isinstance(value, list) else [value])
    ]
    if not values:
        return ""
    more = len(values) - shown
    return f" ({', '.join(values[:shown])}{f' and {more} more' if more > 0 else ''})"


@dataclass(frozen=True)
class Page:
    """The capability's admin page: a template and the data it shows (`context()`, a dict)."""

    template: str
    context: Callable
    permission: str = VIEW_OPS


@dataclass(frozen=True)
class ModelAction:
    """An admin action on a model's change list that runs one of the capability's writes.

    `arguments(queryset)` turns the selected rows into the write's form data.
    """

    name: str
    model: str  # "app_label.ModelName"
    write: str
    description: str
    arguments: Callable


@dataclass(frozen=True)
class DeclaredCheck:
    """A health check the capability brings, shown under `name` in /health/ and readiness."""

    name: str
    check: type
    arguments: dict = field(default_factory=dict)
    critical: bool = False


@dataclass(frozen=True)
class DeclaredPermission:
    """An ops permission (opsadmin.<codename>) a capability brings: created after every migrate, given to `groups`.

    With `model` ("app_label.ModelName") it is that model's own permission instead (Django makes it), which
    the capability's people need: the change list its action is on, say.
    """

    codename: str
    name: str
    groups: tuple[str, ...] = ("Ops operators",)
    model: str = ""


@dataclass(frozen=True)
class Alias:
    """A path under /api/ops/ kept from before capabilities were declared: for a read (answered with its
    data alone, as the path always answered) or a write."""

    path: str
    url_name: str
    read: str = ""
    write: str = ""


@dataclass(frozen=True)
class Scheduled:
    """Work the task worker does on its own, every `seconds()` (a callable: read from the settings when it runs),
    never in a web process or per request: `function()` takes no arguments (opsadmin.spine.schedule)."""

    name: str
    seconds: Callable[[], float]
    function: Callable


@dataclass(frozen=True)
class Capability:
    """One ops capability, declared once (see the module's docstring)."""

    name: str
    title: str
    icon: str  # a Material Symbols name, as unfold's sidebar takes them
    group: str  # the sidebar group it shows under
    nav_title: str = ""  # its sidebar entry, when the group's name would only repeat the title
    reads: tuple[Read, ...] = ()
    writes: tuple[Write, ...] = ()
    status: str = ""  # the read that sums it up: its dashboard tile and its system_status section
    page: Page | None = None
    changelist: str = ""  # or its page is this model's admin change list ("app_label.ModelName")
    card: str = ""  # a template showing its status section's data on the dashboard
    actions: tuple[ModelAction, ...] = ()
    health_checks: tuple[DeclaredCheck, ...] = ()
    system_checks: tuple[Callable, ...] = ()
    permissions: tuple[DeclaredPermission, ...] = ()  # ops permissions of its own, beyond the six every portal has
    colours: dict[str, str] = field(default_factory=dict)  # its own state words -> unfold label variants
    aliases: tuple[Alias, ...] = ()
    receivers: tuple[tuple[object, Callable], ...] = ()  # (signal, receiver): what it listens to, once loaded
    scheduled: tuple[Scheduled, ...] = ()  # what the task worker runs on its own, on a schedule

    def read(self, name):
        return next(read for read in self.reads if read.name == name)

    def write(self, name):
        return next(write for write in self.writes if write.name == name)

    @property
    def status_read(self):
        return self.read(self.status) if self.status else None

    @property
    def view_permission(self):
        """What its admin page (or change list) and sidebar entry need: the page's, else its status read's."""
        if self.page:
            return f"opsadmin.{self.page.permission}"
        return self.status_read.permission_name if self.status_read else f"opsadmin.{VIEW_OPS}"
