"""The rate-limits write: reset the counters of named users and anonymous addresses, and its Membership action.

The form checks what needs no storage round trip: every username is a user, every address an
IP address, and at least one of either; so every door gives the same error before anything is
cleared. Where it runs follows the storage: once, here, when the fleet shares it (Redis); in
every web process when each keeps its own (memory://).
"""

import ipaddress
from dataclasses import dataclass

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from opsadmin.spine import humanize
from opsadmin.spine.arguments import CanonicalListField
from opsadmin.spine.capability import ModelAction, Write
from opsadmin.spine.results import Report
from opsadmin.spine.runs import OperationFailed
from opsadmin.spine.targets import EVERY_WEB_PROCESS, HERE, ByArguments
from portal.text import storable_text
from stocks import rate_limits

PERMISSION = "reset_rate_limits"
MAX_CALLERS = 5000


class UsernameListField(CanonicalListField):
    """Usernames, each of an existing user."""

    noun, most = "users", MAX_CALLERS

    def validate(self, value):
        super().validate(value)
        if not all(storable_text(name) for name in value):  # PostgreSQL refuses the query, not only the row
            raise ValidationError("Null characters and unpaired surrogates are not allowed.", code="unstorable")
        known = set(get_user_model().objects.filter(username__in=value).values_list("username", flat=True))
        if unknown := [name for name in value if name not in known]:
            raise ValidationError(f"Unknown users: {', '.join(unknown[:20])}.", code="unknown_user")


class AddressListField(CanonicalListField):
    """IP addresses, as the limiter counts anonymous callers (written the standard way: ::1, not 0:0:...:1)."""

    invalid_message, noun, most = "Not IP addresses", "addresses", MAX_CALLERS

    def canonical(self, item):
        return str(ipaddress.ip_address(item))


class ResetRateLimitsForm(forms.Form):
    usernames = UsernameListField(required=False, help_text="Users whose counters start afresh, comma-separated.")
    addresses = AddressListField(
        required=False,
        label="Anonymous addresses",
        help_text="IP addresses of anonymous callers whose counters start afresh, comma-separated.",
    )

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not cleaned.get("usernames") and not cleaned.get("addresses"):
            raise ValidationError("Name at least one user or address.", code="nothing")
        return cleaned


@dataclass(kw_only=True)
class ResetReport(Report):
    usernames: list[str]
    addresses: list[str]
    had_counters: int  # of the callers named, how many had been counted in a window still running
    storage: str
    per_process: bool  # memory://: this is one process's reset


def reset_rate_limits(*, usernames, addresses):
    """Clear every counter of the named users and addresses: their minute and day start afresh."""
    users = list(get_user_model().objects.filter(username__in=usernames))
    callers = [*users, *(rate_limits.Identity(rate_limits.ANONYMOUS, f"address:{address}") for address in addresses)]
    try:
        had = rate_limits.reset(callers)
    except rate_limits.Unreachable as error:
        raise OperationFailed(
            f"rate-limit storage {rate_limits.storage_label()} unreachable ({error}): nothing was reset"
        ) from None
    named = humanize.plural(len(callers), "caller")
    where = " in this process" if rate_limits.per_process() else ""
    return ResetReport(
        summary=f"Reset the rate limits of {named}{where}: {had:,} had been counted.",
        usernames=usernames,
        addresses=addresses,
        had_counters=had,
        storage=rate_limits.storage_label(),
        per_process=rate_limits.per_process(),
    )


def _where(cleaned):
    """Once, here, when the fleet shares the counters; in every web process when each keeps its own."""
    return EVERY_WEB_PROCESS if rate_limits.per_process() else HERE


RESET_RATE_LIMITS = Write(
    "reset_rate_limits",
    "Reset rate limits",
    PERMISSION,
    ResetRateLimitsForm,
    reset_rate_limits,
    target=ByArguments(_where, (HERE, EVERY_WEB_PROCESS)),
)
RESET_SELECTED_MEMBERS = ModelAction(
    name="reset_rate_limits",
    model="stocks.Membership",
    write="reset_rate_limits",
    description="Reset rate limits for selected members",
    arguments=lambda queryset: {"usernames": list(queryset.values_list("user__username", flat=True))},
)
