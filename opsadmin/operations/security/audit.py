"""The live header audit: what the admin login page and an API answer actually send, through every middleware.

Settings can say one thing and the answer another (a middleware missing, another one
overriding a header), so these items grade the responses themselves: one anonymous request to
each (probe.py), each header graded on both answers, and every cookie they set.

The session cookie is only set at login, which an audit must not perform (a lockout counts
failures, and a session would be created): it is graded from its settings (security.W012,
security.W015). The CSRF cookie is readable by scripts by design unless CSRF_COOKIE_HTTPONLY:
the token is in every form of the page anyway, so HttpOnly protects nothing there and is noted,
not graded.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from opsadmin.operations.security import probe
from opsadmin.operations.security.grades import FAILURE, INFO, PASS, WARNING, Graded, worst

ABSENT = "absent"
SOURCE = "live audit"


@dataclass(frozen=True)
class Header:
    """A response header, how one value of it is graded (`grade(value or None)`), and what it should be."""

    id: str
    name: str
    grade: Callable[[str | None], str]
    expected: str
    why: str
    fix: str
    severity: str = FAILURE


def present(severity):
    return lambda value: PASS if value else severity


def hsts(value):
    """A max-age of at least a day counts; a shorter one is a warning."""
    if not value:
        return FAILURE
    ages = [part.split("=", 1)[1] for part in value.replace(" ", "").split(";") if part.lower().startswith("max-age=")]
    return PASS if ages and ages[0].isdigit() and int(ages[0]) >= 86400 else WARNING


def frames(value):
    return {"DENY": PASS, "SAMEORIGIN": WARNING}.get((value or "").upper(), FAILURE)


def referrer(value):
    leaky = {"", "unsafe-url", "no-referrer-when-downgrade"}
    return WARNING if (value or "").split(",")[-1].strip().lower() in leaky else PASS


def equals(expected, otherwise):
    return lambda value: PASS if (value or "").strip().lower() == expected else otherwise


HEADERS = (
    Header(
        "live.hsts",
        "Strict-Transport-Security",
        hsts,
        "max-age of at least a day (a year: 31536000)",
        "Tells the browser to use HTTPS only, so no later request can be downgraded to plain HTTP.",
        "SECURE_HSTS_SECONDS: set PORTAL_HTTPS=1 (requests must arrive as HTTPS, see PORTAL_BEHIND_PROXY).",
    ),
    Header(
        "live.csp",
        "Content-Security-Policy",
        present(WARNING),
        "a policy (not report-only)",
        "Limits where scripts, styles and frames come from: injected markup cannot load or run code.",
        "SECURE_CSP with ContentSecurityPolicyMiddleware: set PORTAL_HTTPS=1.",
        WARNING,
    ),
    Header(
        "live.frames",
        "X-Frame-Options",
        frames,
        "DENY",
        "Stops other sites framing the admin to trick clicks on its buttons.",
        "X_FRAME_OPTIONS = 'DENY' and XFrameOptionsMiddleware, in portal/settings.py.",
    ),
    Header(
        "live.nosniff",
        "X-Content-Type-Options",
        equals("nosniff", WARNING),
        "nosniff",
        "Stops browsers guessing a type and running an answer as script or HTML.",
        "SECURE_CONTENT_TYPE_NOSNIFF = True (Django's default), in portal/settings.py.",
        WARNING,
    ),
    Header(
        "live.referrer",
        "Referrer-Policy",
        referrer,
        "same-origin or stricter",
        "Keeps admin URLs (ids, filters) out of the Referer other sites receive.",
        "SECURE_REFERRER_POLICY = 'same-origin', in portal/settings.py.",
        WARNING,
    ),
    Header(
        "live.coop",
        "Cross-Origin-Opener-Policy",
        equals("same-origin", WARNING),
        "same-origin",
        "A window the portal opens, or that opened it, cannot reach into its pages.",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY = 'same-origin' (Django's default), in portal/settings.py.",
        WARNING,
    ),
    Header(
        "live.permissions",
        "Permissions-Policy",
        present(WARNING),
        "a policy turning off unused features",
        "Injected code cannot reach the camera, microphone, geolocation or payment APIs.",
        "PERMISSIONS_POLICY with PermissionsPolicyMiddleware: set PORTAL_HTTPS=1.",
        WARNING,
    ),
)


def answers():
    """{label: response} for the pages audited: the admin login page and an ops API endpoint (anonymous)."""
    return {"admin login": probe.get(reverse("admin:login")), "API": probe.get(reverse("ops_api:status"))}


def audit():
    """Whether the pages answered, then every header and cookie item, graded on what the answers sent."""
    responses = answers()
    return [answered(responses), *(grade_header(header, responses) for header in HEADERS), *grade_cookies(responses)]


def answered(responses):
    """A server error's headers are an error page's: say so, as a failure (the probe's log lines are not kept)."""
    errors = [label for label, response in responses.items() if response.status_code >= 500]
    return Graded(
        "live.answers",
        "The audited pages answer",
        FAILURE if errors else PASS,
        "; ".join(f"{label}: {probe.summary(response)}" for label, response in responses.items()),
        "no server error (the login page 200, the API 401 to an anonymous caller)",
        "The headers below are graded on these answers; a server error here means the page itself is broken.",
        "Open the page and read the server's log; without DEBUG the static files must be collected first "
        "(manage.py collectstatic).",
        FAILURE,
        SOURCE,
    )


def grade_header(header, responses):
    values = {label: response.get(header.name) for label, response in responses.items()}
    status = worst([header.grade(value) for value in values.values()])
    current = "; ".join(
        f"{label} ({probe.summary(responses[label])}): {value or ABSENT}" for label, value in values.items()
    )
    return Graded(
        header.id,
        f"{header.name} is sent",
        status,
        current,
        header.expected,
        header.why,
        header.fix,
        header.severity,
        SOURCE,
    )


def grade_cookies(responses):
    """Secure, HttpOnly (the CSRF cookie noted apart) and SameSite on every cookie the answers set."""
    cookies = {name: morsel for response in responses.values() for name, morsel in response.cookies.items()}
    csrf = settings.CSRF_COOKIE_NAME
    others = {name: morsel for name, morsel in cookies.items() if name != csrf}
    return [
        _cookies(
            "live.cookies.secure",
            "Cookies are Secure",
            cookies,
            lambda morsel: PASS if morsel["secure"] else FAILURE,
            "Secure on every cookie",
            "A cookie without Secure is sent over plain HTTP too, readable on the network.",
            "SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE: set PORTAL_HTTPS=1.",
            FAILURE,
        ),
        _cookies(
            "live.cookies.httponly",
            "Cookies are HttpOnly (but the CSRF cookie)",
            others,
            lambda morsel: PASS if morsel["httponly"] else FAILURE,
            "HttpOnly on every cookie but the CSRF one",
            "Scripts (an injected one too) cannot read an HttpOnly cookie. The session cookie is set only at "
            "login, so it is graded from SESSION_COOKIE_HTTPONLY (security.W015).",
            "SESSION_COOKIE_HTTPONLY = True (Django's default), in portal/settings.py.",
            FAILURE,
        ),
        _cookies(
            "live.cookies.csrf-httponly",
            "The CSRF cookie is readable by scripts",
            {name: morsel for name, morsel in cookies.items() if name == csrf},
            lambda morsel: INFO,
            "either: HttpOnly protects nothing here",
            "The CSRF token is also in every form of the page, so a script that can run can read it there; "
            "leaving the cookie readable lets the pages' scripts send it as X-CSRFToken. Noted, not graded.",
            "Nothing needed; CSRF_COOKIE_HTTPONLY = True in portal/settings.py if no script reads it.",
            INFO,
        ),
        _cookies(
            "live.cookies.samesite",
            "Cookies are SameSite",
            cookies,
            lambda morsel: PASS if morsel["samesite"].lower() in ("lax", "strict") else WARNING,
            "SameSite=Lax or Strict",
            "Another site's requests then go without the cookie: a second line against forged requests.",
            "SESSION_COOKIE_SAMESITE and CSRF_COOKIE_SAMESITE = 'Lax' (Django's default), in portal/settings.py.",
            WARNING,
        ),
    ]


def _cookies(id, title, cookies, grade, expected, why, fix, severity):
    """One item over some cookies: the worst of their grades; none sent passes (a note stays a note), saying so."""
    grades = [grade(morsel) for morsel in cookies.values()]
    status = worst(grades) if grades else (INFO if severity == INFO else PASS)
    current = "; ".join(f"{name}: {_attributes(morsel)}" for name, morsel in cookies.items()) or "none sent"
    return Graded(id, title, status, current, expected, why, fix, severity, SOURCE)


def _attributes(morsel):
    """ "Secure, HttpOnly, SameSite=Lax" or "no Secure, no HttpOnly, no SameSite"."""
    secure = "Secure" if morsel["secure"] else "no Secure"
    httponly = "HttpOnly" if morsel["httponly"] else "no HttpOnly"
    samesite = f"SameSite={morsel['samesite']}" if morsel["samesite"] else "no SameSite"
    return f"{secure}, {httponly}, {samesite}"
