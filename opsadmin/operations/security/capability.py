"""The security capability: the deployment's security checklist, graded from the check framework and a live audit.

Its detail reveals weaknesses, so it needs its own permission, view_security, stricter than
view_ops: operators have it, viewers don't (their dashboard shows no tile for it).
"""

# Importing checks registers the portal's own with Django's --deploy checks (checks.py says why not system_checks).
from opsadmin.operations.security import checks, sections  # noqa: F401
from opsadmin.operations.security.grades import FAILURE, INFO, PASS, WARNING
from opsadmin.spine.capability import Alias, Capability, DeclaredPermission, Page, Read

VIEW_SECURITY = "view_security"

CAPABILITY = Capability(
    name="security",
    title="Security",
    icon="shield_lock",
    group="Security",
    nav_title="Security checklist",
    reads=(Read("checklist", "The security checklist", sections.security_checklist, permission=VIEW_SECURITY),),
    status="checklist",
    page=Page("opsadmin/security.html", sections.page_context, permission=VIEW_SECURITY),
    card="opsadmin/cards/security.html",
    permissions=(DeclaredPermission(VIEW_SECURITY, "Can view the security checklist", groups=("Ops operators",)),),
    colours={FAILURE: "danger", WARNING: "warning", PASS: "success", INFO: "info"},
    aliases=(Alias("security/", "security", read="checklist"),),
)
