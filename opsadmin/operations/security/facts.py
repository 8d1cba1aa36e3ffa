"""What the portal's own checks grade that no single setting says: each a small function answering (ok, what is).

Settings of features built on other branches (django-axes, django-otp, django-permissions-policy,
PORTAL_OTP_REQUIRED) are read with defaults, so an absent feature reads as absent, not as an error.
"""

import ipaddress
import json

from django.apps import apps
from django.conf import settings
from django.urls import reverse
from django.utils.csp import CSP

from opsadmin.operations.security import probe
from opsadmin.spine import humanize
from portal.accounts import tokens
from portal.accounts.models import ApiToken
from portal.environment import env_bool

AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"
CSP_MIDDLEWARE = "django.middleware.csp.ContentSecurityPolicyMiddleware"
PERMISSIONS_POLICY_MIDDLEWARE = "django_permissions_policy.PermissionsPolicyMiddleware"
UNSAFE_SCRIPTS = (CSP.UNSAFE_INLINE, CSP.UNSAFE_EVAL)
MIN_PASSWORD_LENGTH = 8
DAY = 86400  # the longest a session may last
PASSWORD_VALIDATION = "django.contrib.auth.password_validation."


def behind_proxy():
    """PORTAL_BEHIND_PROXY as the settings read it (the environment's, until a setting keeps it)."""
    declared = getattr(settings, "PORTAL_BEHIND_PROXY", None)
    return env_bool("PORTAL_BEHIND_PROXY") if declared is None else bool(declared)


def proxy_header():
    header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if behind_proxy():
        return bool(header), f"behind a proxy; SECURE_PROXY_SSL_HEADER = {header!r}"
    return True, f"not behind a proxy; SECURE_PROXY_SSL_HEADER = {header!r}"


def session_age():
    age = settings.SESSION_COOKIE_AGE
    return age <= DAY, f"SESSION_COOKIE_AGE = {age} ({humanize.duration(age)})"


def session_saved_every_request():
    saved = settings.SESSION_SAVE_EVERY_REQUEST
    return not saved, f"SESSION_SAVE_EVERY_REQUEST = {saved}"


def session_ends_with_browser():
    ends = settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    return not ends, f"SESSION_EXPIRE_AT_BROWSER_CLOSE = {ends}"


def content_security_policy():
    """(enforced, what is): an enforced policy needs SECURE_CSP and Django's CSP middleware."""
    policy, report_only = getattr(settings, "SECURE_CSP", {}), getattr(settings, "SECURE_CSP_REPORT_ONLY", {})
    listed = CSP_MIDDLEWARE in settings.MIDDLEWARE
    if policy and listed:
        return True, f"enforced: {_directives(policy)}"
    if policy:
        return False, "SECURE_CSP is set but ContentSecurityPolicyMiddleware is not in MIDDLEWARE: nothing is sent"
    if report_only and listed:
        return False, f"report-only (blocks nothing): {_directives(report_only)}"
    return False, "no policy: SECURE_CSP is empty"


def unsafe_scripts():
    """(ok, what is): the enforced policy's script-src (else default-src) allows neither inline nor eval."""
    policy = getattr(settings, "SECURE_CSP", {}) or {}
    directive = "script-src" if "script-src" in policy else "default-src"
    sources = policy.get(directive) or []
    sources = sources.split() if isinstance(sources, str) else list(sources)
    unsafe = [source for source in UNSAFE_SCRIPTS if source in sources]
    if not policy:
        return True, "no policy to weaken (see opsadmin.security.W105)"
    shown = " ".join(str(source) for source in sources) or "(none)"
    return not unsafe, f"{directive}: {shown}"


def permissions_policy():
    declared = getattr(settings, "PERMISSIONS_POLICY", None)
    listed = PERMISSIONS_POLICY_MIDDLEWARE in settings.MIDDLEWARE
    if declared and listed:
        return True, f"{len(declared)} features declared: {', '.join(sorted(declared))}"
    if declared:
        return False, "PERMISSIONS_POLICY is set but PermissionsPolicyMiddleware is not in MIDDLEWARE"
    return False, "PERMISSIONS_POLICY is not set"


def password_validators():
    """(ok, what is): a minimum length of at least MIN_PASSWORD_LENGTH and the common-password list."""
    validators = {entry["NAME"]: entry.get("OPTIONS", {}) for entry in settings.AUTH_PASSWORD_VALIDATORS}
    length = validators.get(f"{PASSWORD_VALIDATION}MinimumLengthValidator")
    common = f"{PASSWORD_VALIDATION}CommonPasswordValidator" in validators
    minimum = None if length is None else length.get("min_length", 8)
    names = ", ".join(name.rsplit(".", 1)[-1] for name in validators) or "none"
    ok = minimum is not None and minimum >= MIN_PASSWORD_LENGTH and common
    return ok, f"{names}; minimum length {minimum if minimum is not None else 'none'}"


def login_lockout():
    installed, listed = apps.is_installed("axes"), AXES_MIDDLEWARE in settings.MIDDLEWARE
    return installed and listed, f"axes installed: {_yes(installed)}; AxesMiddleware in MIDDLEWARE: {_yes(listed)}"


def second_factors():
    installed, required = apps.is_installed("django_otp"), bool(getattr(settings, "PORTAL_OTP_REQUIRED", False))
    return installed and required, f"django_otp installed: {_yes(installed)}; PORTAL_OTP_REQUIRED = {required}"


# Documentation addresses (RFC 5737, RFC 3849): "anyone" for the audit, unless the metrics allow-list holds them.
OUTSIDE_ADDRESSES = ("203.0.113.7", "198.51.100.7", "192.0.2.7", "2001:db8::7")


def health_and_metrics_protected():
    """(ok, what is): an anonymous caller gets neither the health detail nor /metrics (not served counts as ok).

    /metrics is asked from an address outside PORTAL_METRICS_ALLOWED_ADDRESSES: the scrapers on that list are
    meant to get it (a loopback scraper on the host is no alarm); an allow-list that holds every address is.
    """
    health = probe.get(reverse("health_detail"))
    outside = next((address for address in OUTSIDE_ADDRESSES if not _metrics_allowed(address)), None)
    if outside is None:
        return False, f"anonymous /health/: {probe.summary(health)}; /metrics allowed to every address the audit tried"
    metrics = probe.get("/metrics", address=outside)
    ok = health.status_code != 200 and metrics.status_code != 200
    shown = "not served (404)" if metrics.status_code == 404 else probe.summary(metrics)
    return ok, f"anonymous /health/: {probe.summary(health)}; anonymous /metrics: {shown}"


def _metrics_allowed(address):
    return any(ipaddress.ip_address(address) in network for network in settings.PORTAL_METRICS_ALLOWED_ADDRESSES)


def tokens_hashed_and_scoped():
    """(ok, what is): a freshly prepared token is in no field of its row, and the row has a required scope."""
    record = ApiToken(user_id=0)
    token = tokens.prepare_token(record)
    fields = ApiToken._meta.concrete_fields
    holding = [field.name for field in fields if token in str(field.value_from_object(record) or "")]
    scope = next((field for field in fields if field.name == "scope"), None)
    scoped = bool(scope and scope.choices and not scope.blank and not scope.null)
    kept = f"kept in {', '.join(holding)}" if holding else "only its digest is kept"
    scopes = f"scope one of {', '.join(value for value, _ in scope.choices)}" if scoped else "no required scope"
    return not holding and scoped, f"{kept}; {scopes}"


def api_answers_json():
    """(ok, what is): a browser's request (Accept: text/html) to the ops API, known path or not, gets JSON."""
    answers = {
        path: probe.get(path, accept="text/html") for path in (reverse("ops_api:status"), "/api/ops/no-such-path/")
    }
    kinds = {path: response.get("Content-Type", "").split(";")[0] for path, response in answers.items()}
    shown = "; ".join(f"{path}: {answers[path].status_code} {kind or 'no type'}" for path, kind in kinds.items())
    return all(kind == "application/json" for kind in kinds.values()), shown


def _directives(policy):
    return json.dumps(policy, default=str)


def _yes(value):
    return "yes" if value else "no"
