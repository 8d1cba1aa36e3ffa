"""How a write operation is declared once and found by every front door."""

from collections.abc import Callable
from dataclasses import dataclass

from django import forms

WRITES = {}


@dataclass(frozen=True)
class WriteOperation:
    """A write: its name, the ops permission it needs, the form that validates its arguments.

    `function(**cleaned_data, actor=label, progress=callable)` does the work and returns a
    dataclass report with a `summary` string. Long-running writes are handed to
    the task worker by the admin and API doors.
    """

    name: str
    title: str
    permission: str
    form_class: type[forms.Form]
    function: Callable
    long_running: bool = False

    @property
    def permission_name(self):
        return f"opsadmin.{self.permission}"


def declare_write(name, *, title, permission, form_class, long_running=False):
    """Decorator registering `function` as the write operation `name`."""

    def register(function):
        if name in WRITES:
            raise ValueError(f"write operation {name!r} is declared twice")
        WRITES[name] = WriteOperation(name, title, permission, form_class, function, long_running)
        return function

    return register


def get_write(name):
    """The declared write `name` (the app's ready() imports every operations module)."""
    return WRITES[name]
