"""API tokens issued and revoked, in the audit log: a finished run each, from the admin or the command line.

The token itself never reaches the log: the run names the token by its prefix, user,
name and scope. A password change revoking ops tokens is the portal's own doing (door
"portal"); whoever changed the password is in Django's admin log.
"""

from opsadmin.models import OpsRun
from opsadmin.spine import humanize
from opsadmin.spine.runs import Actor, record
from portal.accounts.callers import Caller

ISSUE, REVOKE = "issue_api_token", "revoke_api_tokens"


def audit_issued(sender, *, token, by, door, **kwargs):
    expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "never expires"
    owner = token.user.get_username()
    record(
        ISSUE,
        "Issue an API token",
        actor=_actor(by, door),
        door=door,
        arguments={"user": owner, "name": token.name, "scope": token.scope, "prefix": token.prefix},
        summary=f"Issued {token.scope} token {token.prefix}… ({token.name!r}) for {owner}; {expiry}.",
    )


def audit_revoked(sender, *, tokens, because, by, door, **kwargs):
    described = [f"{token.prefix}… ({token.name!r}) of {token.user.get_username()}" for token in tokens]
    record(
        REVOKE,
        "Revoke API tokens",
        actor=_actor(by, door),
        door=door,
        arguments={
            "tokens": [
                {"prefix": token.prefix, "user": token.user.get_username(), "name": token.name} for token in tokens
            ],
            "because": because,
        },
        summary=f"Revoked {humanize.plural(len(tokens), 'token')}: {', '.join(described)} ({because}).",
    )


def _actor(user, door):
    if user is not None:
        return Actor.of(Caller(user))
    return Actor("portal") if door == OpsRun.Door.PORTAL else Actor.cli()
