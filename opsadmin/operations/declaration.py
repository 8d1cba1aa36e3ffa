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
    the task worker by the admin and API doors; `long_running` may be a function of the
    cleaned data when that depends on the arguments.
    """

    name: str
    title: str
    permission: str
    form_class: type[forms.Form]
    function: Callable
    long_running: bool | Callable = False

    @property
    def permission_name(self):
        return f"opsadmin.{self.permission}"

    def in_background(self, cleaned_data):
        """Whether the admin and API doors hand this run to the task worker."""
        return self.long_running(cleaned_data) if callable(self.long_running) else self.long_running


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
