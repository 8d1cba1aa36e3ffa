"""Settings as a production deployment would have them (README, "Production"), for override_settings.

django-axes and django-otp belong to the login branch (issue 12, "The login and the people behind
it"); a test needing them skips while the portal does not install them. They are not added here:
an app loaded for one test leaves its signal receivers behind, and axes' would then log every
later test's logins into a table this branch never creates.
"""

import secrets

from django.conf import settings
from django.utils.csp import CSP

HOST = "ops.example.com"
AXES = "axes.middleware.AxesMiddleware"
CSP_MIDDLEWARE = "django.middleware.csp.ContentSecurityPolicyMiddleware"
PERMISSIONS_POLICY_MIDDLEWARE = "django_permissions_policy.PermissionsPolicyMiddleware"
LOGIN_BRANCH = "needs axes and django_otp in INSTALLED_APPS: the login branch of issue 12 (lockout, TOTP) adds them"
login_branch_installed = "axes" in settings.INSTALLED_APPS and "django_otp" in settings.INSTALLED_APPS


def production(**changes):
    """Every setting the checklist grades, as production sets them; `changes` on top."""
    middleware = [*settings.MIDDLEWARE]
    middleware.insert(
        middleware.index("django.middleware.security.SecurityMiddleware") + 1,
        "django.middleware.csp.ContentSecurityPolicyMiddleware",
    )
    middleware.insert(
        middleware.index("django.middleware.csp.ContentSecurityPolicyMiddleware") + 1,
        "django_permissions_policy.PermissionsPolicyMiddleware",
    )
    if login_branch_installed and AXES not in middleware:
        middleware.append(AXES)
    return {
        "DEBUG": False,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": [HOST],
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_AGE": 86400,
        "SECURE_CSP": {"default-src": [CSP.SELF], "script-src": [CSP.SELF], "frame-ancestors": [CSP.NONE]},
        "PERMISSIONS_POLICY": {"camera": [], "geolocation": [], "microphone": [], "payment": []},
        "PORTAL_OTP_REQUIRED": True,
        "MIDDLEWARE": middleware,
        **changes,
    }
