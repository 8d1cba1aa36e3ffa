"""The checklist's items, declared once: what each grades, what it should be, why, and the fix.

Every check id of Django's `check --deploy` security checks and of the portal's own
(checks.py) belongs to one item here, so a passing item is listed with its current value too;
the check framework's answer decides each item's grade (checklist.py). `current()` says what
the setting is now without ever showing a secret. Fixes name the setting and the environment
variable that sets it (PORTAL_HTTPS=1 turns on the HTTPS group: README, "Production").
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from opsadmin.operations.security import facts
from opsadmin.operations.security.grades import FAILURE, WARNING

UNSET = "unset"
IN_SETTINGS = "portal/settings.py (no environment variable)"


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    current: Callable[[], str]
    expected: str
    why: str
    fix: str
    checks: tuple[str, ...] = ()  # the check ids that grade it (its own id when empty)
    severity: str = FAILURE  # its grade when one of its checks warns (an error always fails)
    reading: Callable[[], tuple[bool, str]] | None = None  # the portal's own: what checks.py grades
    applies: Callable[[], str] | None = None  # "" when its check applies now, else why not (then it is a note)

    @property
    def check_ids(self):
        return self.checks or (self.id,)


def shown(*names):
    """current() of plain settings: "NAME = value; OTHER = value"."""
    return lambda: "; ".join(f"{name} = {getattr(settings, name, UNSET)!r}" for name in names)


def hsts_on():
    """Django checks HSTS's subdomains and preload only once HSTS is on."""
    return "" if settings.SECURE_HSTS_SECONDS else "not checked while HSTS is off (security.W004)"


def middleware(path):
    return lambda: f"{path.rsplit('.', 1)[-1]} {'in' if path in settings.MIDDLEWARE else 'not in'} MIDDLEWARE"


def secret_key():
    """The key, or "" where it is unset (Django raises on reading an empty one)."""
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:
        return ""


def key_strength(key):
    """How strong a key looks, never the key: its length, distinct characters, and Django's insecure prefix."""
    insecure = ", starts with django-insecure-" if str(key).startswith("django-insecure-") else ""
    return f"{len(key)} characters, {len(set(key))} distinct{insecure}"


def ours(id, title, reading, expected, why, fix, severity=FAILURE):
    """An item the portal's own check grades (checks.py): `reading()` answers (ok, what is now)."""
    return Item(id, title, lambda: reading()[1], expected, why, fix, severity=severity, reading=reading)


DJANGO = (
    Item(
        "security.W018",
        "DEBUG is off",
        shown("DEBUG"),
        "False",
        "With DEBUG on, an error page shows settings, source and SQL to anyone who triggers it.",
        "DEBUG = False: leave DEBUG unset (or 0) in the environment.",
    ),
    Item(
        "security.W009",
        "SECRET_KEY is strong",
        lambda: key_strength(secret_key()),
        "50+ characters, 5+ distinct, not django-insecure-",
        "The key signs sessions, password-reset links and messages: a guessable key forges them.",
        "SECRET_KEY: set SECRET_KEY in the environment to 50+ random characters.",
    ),
    Item(
        "security.W025",
        "SECRET_KEY_FALLBACKS are strong",
        lambda: "; ".join(key_strength(key) for key in settings.SECRET_KEY_FALLBACKS) or "no fallbacks",
        "each 50+ characters, 5+ distinct",
        "A weak old key still verifies signatures while it is a fallback.",
        f"SECRET_KEY_FALLBACKS: drop weak keys in {IN_SETTINGS}.",
    ),
    Item(
        "security.W020",
        "ALLOWED_HOSTS is set",
        shown("ALLOWED_HOSTS"),
        "the portal's host names",
        "Without it (DEBUG off) every request is refused; with '*' forged Host headers poison links.",
        "ALLOWED_HOSTS: set ALLOWED_HOSTS in the environment (comma-separated).",
    ),
    Item(
        "security.W001",
        "SecurityMiddleware is installed",
        middleware("django.middleware.security.SecurityMiddleware"),
        "in MIDDLEWARE",
        "It sends HSTS, nosniff, Referrer-Policy and COOP and does the SSL redirect.",
        f"MIDDLEWARE: list django.middleware.security.SecurityMiddleware in {IN_SETTINGS}.",
    ),
    Item(
        "security.W002",
        "Clickjacking protection is installed",
        middleware("django.middleware.clickjacking.XFrameOptionsMiddleware"),
        "in MIDDLEWARE",
        "Without X-Frame-Options a page of another site can frame the admin and trick clicks on its buttons.",
        f"MIDDLEWARE: list django.middleware.clickjacking.XFrameOptionsMiddleware in {IN_SETTINGS}.",
    ),
    Item(
        "security.W003",
        "CSRF protection is installed",
        middleware("django.middleware.csrf.CsrfViewMiddleware"),
        "in MIDDLEWARE",
        "Without it another site can post the admin's forms (flush a cache, drop an index) as a logged-in user.",
        f"MIDDLEWARE: list django.middleware.csrf.CsrfViewMiddleware in {IN_SETTINGS}.",
    ),
    Item(
        "security.W008",
        "Plain HTTP is redirected to HTTPS",
        shown("SECURE_SSL_REDIRECT"),
        "True",
        "Over plain HTTP passwords, session cookies and tokens cross the network readable.",
        "SECURE_SSL_REDIRECT = True: set PORTAL_HTTPS=1 (or PORTAL_BEHIND_PROXY=1).",
    ),
    Item(
        "security.W004",
        "HSTS is on",
        shown("SECURE_HSTS_SECONDS"),
        "a year (31536000) or more",
        "Without HSTS a browser's first request may go over plain HTTP, where it can be intercepted.",
        "SECURE_HSTS_SECONDS: set PORTAL_HTTPS=1 (its age from PORTAL_HSTS_SECONDS).",
    ),
    Item(
        "security.W005",
        "HSTS covers subdomains",
        shown("SECURE_HSTS_INCLUDE_SUBDOMAINS"),
        "True",
        "A subdomain served over plain HTTP can set cookies for the portal's domain.",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS = True: set PORTAL_HTTPS=1.",
        severity=WARNING,
        applies=hsts_on,
    ),
    Item(
        "security.W021",
        "HSTS preload",
        shown("SECURE_HSTS_PRELOAD"),
        "True, or the warning silenced on purpose",
        "Preloading protects even the first visit, but is hard to undo: off by default, silence it when chosen.",
        "SECURE_HSTS_PRELOAD = True (PORTAL_HSTS_PRELOAD=1), or list security.W021 in SILENCED_SYSTEM_CHECKS.",
        severity=WARNING,
        applies=hsts_on,
    ),
    Item(
        "security.W006",
        "Content types are not sniffed",
        shown("SECURE_CONTENT_TYPE_NOSNIFF"),
        "True",
        "A browser guessing a type may run an uploaded or JSON answer as script or HTML.",
        f"SECURE_CONTENT_TYPE_NOSNIFF = True (Django's default) in {IN_SETTINGS}.",
        severity=WARNING,
    ),
    Item(
        "security.W012",
        "The session cookie is Secure",
        shown("SESSION_COOKIE_SECURE"),
        "True",
        "A session cookie sent over plain HTTP can be stolen and replayed as the logged-in user.",
        "SESSION_COOKIE_SECURE = True: set PORTAL_HTTPS=1.",
        checks=("security.W010", "security.W011", "security.W012"),
    ),
    Item(
        "security.W015",
        "The session cookie is HttpOnly",
        shown("SESSION_COOKIE_HTTPONLY"),
        "True",
        "A script injected into a page could read an HttpOnly-less session cookie and send it away.",
        f"SESSION_COOKIE_HTTPONLY = True (Django's default) in {IN_SETTINGS}.",
        checks=("security.W013", "security.W014", "security.W015"),
    ),
    Item(
        "security.W016",
        "The CSRF cookie is Secure",
        shown("CSRF_COOKIE_SECURE"),
        "True",
        "A CSRF token sent over plain HTTP can be read and used to forge the admin's forms.",
        "CSRF_COOKIE_SECURE = True: set PORTAL_HTTPS=1.",
    ),
    Item(
        "security.W019",
        "Frames are denied",
        shown("X_FRAME_OPTIONS"),
        "'DENY'",
        "The portal is never framed, even by itself: DENY leaves no page to clickjack.",
        f"X_FRAME_OPTIONS = 'DENY' (Django's default) in {IN_SETTINGS}.",
        severity=WARNING,
    ),
    Item(
        "security.W022",
        "A referrer policy is set",
        shown("SECURE_REFERRER_POLICY"),
        "'same-origin' or stricter",
        "Admin URLs (with ids and filters) would leak to other sites in the Referer header.",
        f"SECURE_REFERRER_POLICY = 'same-origin' in {IN_SETTINGS}.",
        checks=("security.W022", "security.E023"),
        severity=WARNING,
    ),
    Item(
        "security.E024",
        "The cross-origin opener policy is valid",
        shown("SECURE_CROSS_ORIGIN_OPENER_POLICY"),
        "'same-origin'",
        "An invalid value sends no policy: a window this page opens could reach back into it.",
        f"SECURE_CROSS_ORIGIN_OPENER_POLICY = 'same-origin' (Django's default) in {IN_SETTINGS}.",
    ),
    Item(
        "security.E026",
        "The CSP settings are well formed",
        shown("SECURE_CSP", "SECURE_CSP_REPORT_ONLY"),
        "dicts of directives; a nonce only with the csp context processor",
        "A malformed policy is not sent; a nonce with no context processor blocks the pages' own scripts.",
        f"SECURE_CSP and SECURE_CSP_REPORT_ONLY in {IN_SETTINGS}.",
        checks=("security.E026", "security.W027"),
    ),
    Item(
        "security.E101",
        "The CSRF failure view is valid",
        shown("CSRF_FAILURE_VIEW"),
        "a view taking (request, reason)",
        "A broken failure view turns every refused form into a server error.",
        f"CSRF_FAILURE_VIEW in {IN_SETTINGS}.",
        checks=("security.E101", "security.E102"),
    ),
)

PORTAL = (
    ours(
        "opsadmin.security.W101",
        "The proxy's HTTPS header is trusted behind a proxy",
        facts.proxy_header,
        "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https') when behind a proxy",
        "Behind a TLS-terminating proxy Django sees plain HTTP: the SSL redirect loops and cookies lose Secure.",
        "SECURE_PROXY_SSL_HEADER: set PORTAL_BEHIND_PROXY=1 (only behind a proxy that strips the client's header).",
    ),
    ours(
        "opsadmin.security.W102",
        "Sessions last at most a day",
        facts.session_age,
        "86400 or less",
        "Django's default keeps a stolen or forgotten session valid for two weeks.",
        f"SESSION_COOKIE_AGE = 86400 in {IN_SETTINGS}.",
        WARNING,
    ),
    ours(
        "opsadmin.security.W103",
        "Using a session does not extend it",
        facts.session_saved_every_request,
        "False",
        "Saved on every request, a session in use never reaches its age: the day's limit stops meaning anything.",
        f"SESSION_SAVE_EVERY_REQUEST = False (Django's default) in {IN_SETTINGS}.",
        WARNING,
    ),
    ours(
        "opsadmin.security.W104",
        "Sessions are bounded by their age, not the browser",
        facts.session_ends_with_browser,
        "False",
        "Browsers restoring tabs keep 'session' cookies for weeks; a cookie with an explicit age is the bound.",
        f"SESSION_EXPIRE_AT_BROWSER_CLOSE = False (Django's default) in {IN_SETTINGS}.",
        WARNING,
    ),
    ours(
        "opsadmin.security.W105",
        "A content security policy is enforced",
        facts.content_security_policy,
        "SECURE_CSP set and ContentSecurityPolicyMiddleware in MIDDLEWARE",
        "A policy limits where scripts come from: an injected script tag or a stolen CDN cannot run.",
        "SECURE_CSP: set PORTAL_HTTPS=1 (its policy in portal/settings.py).",
        WARNING,
    ),
    ours(
        "opsadmin.security.W106",
        "The policy allows no inline script or eval",
        facts.unsafe_scripts,
        "script-src without 'unsafe-inline' and 'unsafe-eval'",
        "'unsafe-inline' lets an injected <script> run and 'unsafe-eval' lets strings run as code: the XSS "
        "a policy exists to stop.",
        f"SECURE_CSP's script-src in {IN_SETTINGS}: nonces (CSP.NONCE) instead of 'unsafe-inline'.",
        WARNING,
    ),
    ours(
        "opsadmin.security.W107",
        "A permissions policy is sent",
        facts.permissions_policy,
        "PERMISSIONS_POLICY set and PermissionsPolicyMiddleware in MIDDLEWARE",
        "It turns off browser features the portal never uses (camera, geolocation, payment) for any injected code.",
        f"PERMISSIONS_POLICY and django_permissions_policy's middleware in {IN_SETTINGS}.",
        WARNING,
    ),
    ours(
        "opsadmin.security.W108",
        "Passwords are validated",
        facts.password_validators,
        f"MinimumLengthValidator (at least {facts.MIN_PASSWORD_LENGTH}) and CommonPasswordValidator",
        "This login gates FLUSHDB, DROP INDEX and drain: a short or common password is guessed first.",
        f"AUTH_PASSWORD_VALIDATORS in {IN_SETTINGS}.",
    ),
    ours(
        "opsadmin.security.W109",
        "Repeated login failures lock out",
        facts.login_lockout,
        "axes in INSTALLED_APPS and AxesMiddleware in MIDDLEWARE",
        "Without a lockout a script can try passwords on the admin login without end.",
        f"INSTALLED_APPS and MIDDLEWARE: django-axes in {IN_SETTINGS}.",
    ),
    ours(
        "opsadmin.security.W110",
        "Staff who can write need a second factor",
        facts.second_factors,
        "django_otp installed and PORTAL_OTP_REQUIRED = True",
        "A leaked password alone should not flush caches or drop indexes.",
        "PORTAL_OTP_REQUIRED = True: set PORTAL_OTP_REQUIRED=1.",
    ),
    ours(
        "opsadmin.security.W111",
        "The health detail and /metrics are not public",
        facts.health_and_metrics_protected,
        "refused to an anonymous caller (or not served)",
        "Check messages and metrics name hosts, versions and failures: a map for an attacker.",
        "Keep /health/ behind view_ops (opsadmin/health/views.py) and /metrics behind a login or token "
        "(or PORTAL_METRICS_ALLOWED_ADDRESSES: the scrapers' addresses only).",
    ),
    ours(
        "opsadmin.security.W112",
        "API tokens are stored hashed and scoped",
        facts.tokens_hashed_and_scoped,
        "only a digest stored; every token bound to one scope",
        "A database dump or backup must not hand out working tokens, and a scanner token must not run ops.",
        "portal/accounts (ApiToken, tokens.py): store digests only, keep the scope required.",
    ),
    ours(
        "opsadmin.security.W113",
        "The ops API never answers HTML",
        facts.api_answers_json,
        "application/json, even to Accept: text/html and to unknown paths",
        "An HTML error page on the API leaks debug details and can be framed or scripted like a page.",
        "Route every /api/ops/ path (and its 404) through opsadmin.api's JSON views.",
    ),
)

# Notes: listed so no one adds them, never graded.
NOTES = (
    Item(
        "opsadmin.security.I114",
        "SECURE_BROWSER_XSS_FILTER is gone",
        lambda: "not a setting since Django 4.0",
        "nothing to set",
        "Django removed SECURE_BROWSER_XSS_FILTER in 4.0 and browsers dropped X-XSS-Protection (its filter "
        "could itself leak data); the content security policy (W105, W106) is what stops injected scripts.",
        "Nothing: don't add the setting or the header.",
    ),
)

ITEMS = (*DJANGO, *PORTAL)
