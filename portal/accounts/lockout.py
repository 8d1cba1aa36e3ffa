"""The login lockout's two answers: the page a locked-out login gets, and an administrator's reset.

django-axes counts the failures and refuses the login (settings.AXES_*); it calls `locked_out`
for the answer: the admin's own login look, 429 with Retry-After, saying for how long and who
can lift it. `reset` deletes the counted attempts and says so (signals.lockouts_reset), so the
ops portal's audit log records who lifted which lockout.
"""

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse

from portal.accounts.signals import lockouts_reset


def locked_out(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the styled 429 page, never a traceback; the right password gets the same."""
    cool_off = settings.AXES_COOLOFF_TIME
    context = {
        **admin.site.each_context(request),
        "title": "Login locked",
        "username": (credentials or {}).get("username") or request.POST.get("username", ""),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": max(1, round(cool_off.total_seconds() / 60)),
    }
    response = TemplateResponse(request, "admin/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    response["Cache-Control"] = "no-store"
    return response.render()


def reset(attempts, *, by, door="admin"):
    """Delete the AccessAttempt rows of `attempts` (a queryset), lifting their lockouts; returns how many."""
    lifted = [(attempt.username, attempt.ip_address, attempt.failures_since_start) for attempt in attempts]
    count, _ = attempts.model.objects.filter(pk__in=attempts.values("pk")).delete()
    if lifted:
        lockouts_reset.send(attempts.model, attempts=lifted, by=by, door=door)
    return count
