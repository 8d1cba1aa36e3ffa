"""The portal's own security checks, on Django's check framework beside its own.

Registered as Django registers its `--deploy` checks (tag `security`, deployment only), so
`manage.py check --deploy` reports them and the checklist reads them from `run_checks` like
Django's. The spine registers a capability's `system_checks` for every `check`, untagged for
deployment; these belong with `--deploy` (a laptop is not expected to pass them), so they are
registered here, once, when the capability is loaded. Each is a Warning, as Django's are: the
checklist's items say which of them fail a deployment.
"""

from django.core import checks

from opsadmin.operations.security.items import PORTAL


def check_for(item):
    """A system check warning with the item's id while its reading is not ok."""

    def check(app_configs=None, **kwargs):
        ok, current = item.reading()
        if ok:
            return []
        return [checks.Warning(f"{item.title}: not so ({current}).", hint=item.fix, id=item.id)]

    check.__name__ = check.__qualname__ = f"check_{item.id.rsplit('.', 1)[-1]}"
    return check


CHECKS = tuple(check_for(item) for item in PORTAL)
for _check in CHECKS:
    checks.register(_check, checks.Tags.security, deploy=True)
