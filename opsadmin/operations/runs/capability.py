"""The audit log capability: every ops run, who asked, where it ran and how it ended."""

from axes.signals import user_locked_out

from opsadmin.operations.runs import access_audit, sections, token_audit
from opsadmin.spine.capability import Alias, Capability, Read
from portal.accounts.signals import lockouts_reset, token_issued, tokens_revoked

CAPABILITY = Capability(
    name="runs",
    title="Audit log",
    icon="history",
    group="Audit log",
    nav_title="Ops runs",
    reads=(
        Read("recent", "Recent runs", sections.recent),
        Read("list", "The audit log, page by page", sections.page, form_class=sections.RunsForm),
        Read("run", "One run", sections.one, form_class=sections.RunForm),
    ),
    status="recent",
    changelist="opsadmin.OpsRun",
    card="opsadmin/cards/runs.html",
    aliases=(
        Alias("runs/", "runs", read="list"),
        Alias("runs/<int:id>/", "run", read="run"),
    ),
    receivers=(
        (token_issued, token_audit.audit_issued),
        (tokens_revoked, token_audit.audit_revoked),
        (user_locked_out, access_audit.audit_locked_out),
        (lockouts_reset, access_audit.audit_reset),
    ),
)
