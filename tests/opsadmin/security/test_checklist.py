"""The security checklist: every deploy check id is an item, the development default fails honestly, production
settings pass, the live audit grades the headers really sent, and the portal's own checks catch what they claim."""

import ipaddress
import re

import pytest
from django.core.management import call_command
from django.test import override_settings

from opsadmin.models import Instance
from opsadmin.operations.security import checks, facts, items
from opsadmin.operations.security.checklist import checklist
from opsadmin.operations.security.grades import FAILURE, INFO, PASS, WARNING
from opsadmin.operations.security.sections import security_checklist
from opsadmin.spine.results import FAILING, OK
from tests.opsadmin.security.settings import AXES, LOGIN_BRANCH, login_branch_installed, production

pytestmark = pytest.mark.django_db
needs_login_branch = pytest.mark.skipif(not login_branch_installed, reason=LOGIN_BRANCH)

# Django 6.1's `check --deploy` security ids (shared/notes/anchors.md), and its security checks run on every check.
DEPLOY_IDS = [
    *(f"security.W{n:03}" for n in (1, 2, 3, 4, 5, 21, 6, 8, 9, 25, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22)),
    "security.E023",
    "security.E024",
]
ALWAYS_IDS = ["security.E026", "security.W027", "security.E101", "security.E102"]
HTTPS_ITEMS = ["security.W008", "security.W004", "security.W012", "security.W016", "live.hsts", "live.cookies.secure"]


def graded():
    return {item.id: item for item in checklist().items}


@pytest.mark.parametrize("check_id", DEPLOY_IDS + ALWAYS_IDS)
def test_every_django_security_check_id_is_an_item(check_id):
    owners = [item.id for item in items.ITEMS if check_id in item.check_ids]
    assert len(owners) == 1, owners
    assert owners[0] in graded()  # listed whatever it says, passing or not


def test_every_item_says_what_it_is_should_be_why_and_the_fix():
    listed = checklist().items
    assert len({item.id for item in listed}) == len(listed)
    for item in listed:
        assert item.status in (FAILURE, WARNING, PASS, INFO)
        assert all((item.current, item.expected, item.why, item.fix)), item.id


def test_fixes_name_the_setting_and_its_environment_variable():
    for item in items.DJANGO:
        assert re.match(r"[A-Z][A-Z_]+\b", item.fix) or item.fix.startswith("MIDDLEWARE"), item.id
    for item_id in ("security.W008", "security.W004", "security.W012", "security.W016"):
        assert "PORTAL_HTTPS=1" in next(item.fix for item in items.DJANGO if item.id == item_id)


@override_settings(DEBUG=True)
def test_the_development_default_fails_honestly():
    found = graded()
    for item_id in HTTPS_ITEMS:
        assert found[item_id].status == FAILURE, (item_id, found[item_id].current)
    assert found["security.W018"].status == FAILURE
    assert found["security.W018"].current == "DEBUG = True"
    assert found["security.W004"].current == "SECURE_HSTS_SECONDS = 0"
    # HSTS's subdomains and preload are not checked while HSTS is off: a note, not a pass.
    assert found["security.W005"].status == INFO
    assert "HSTS is off" in found["security.W005"].current
    # What passes is listed as passing, with its value.
    assert found["security.W019"].status == PASS
    assert found["security.W019"].current == "X_FRAME_OPTIONS = 'DENY'"
    section = security_checklist()
    assert section.status == FAILING
    assert section.data.score < 100


@needs_login_branch
def test_production_settings_pass_every_item():
    with override_settings(**production()):
        listed = checklist()
    problems = [(item.id, item.current) for item in listed.items if item.status in (FAILURE, WARNING)]
    assert problems == []
    assert listed.score == 100
    assert listed.counts[PASS] >= 40
    found = {item.id: item for item in listed.items}
    assert found["opsadmin.security.W109"].current == "axes installed: yes; AxesMiddleware in MIDDLEWARE: yes"
    assert found["live.cookies.csrf-httponly"].status == INFO  # readable by scripts by design: noted, not graded


def test_production_settings_without_lockout_and_second_factors_fail_only_those():
    """Production settings without a lockout and second factors: those two fail, nothing else."""
    middleware = [entry for entry in production()["MIDDLEWARE"] if entry != AXES]
    settings = production(MIDDLEWARE=middleware, PORTAL_OTP_REQUIRED=False)
    with override_settings(**settings):
        listed = checklist()
    # Once axes is installed its own check (axes.W002, middleware missing) agrees, listed as Django reports it.
    assert [item.id for item in listed.at_least(WARNING) if not item.id.startswith("axes.")] == [
        "opsadmin.security.W109",
        "opsadmin.security.W110",
    ]
    assert 0 < listed.score < 100


def test_the_live_audit_grades_the_headers_actually_sent():
    with override_settings(**production()):
        found = graded()
    hsts = found["live.hsts"]
    assert hsts.status == PASS
    assert hsts.current == (
        "admin login (200): max-age=31536000; includeSubDomains; preload; API (401): max-age=31536000; "
        "includeSubDomains; preload"
    )  # sent as HTTPS, so the SSL redirect let it through
    assert found["live.csp"].current.startswith("admin login (200): default-src 'self'; script-src 'self'")
    assert found["live.permissions"].status == PASS
    assert found["live.cookies.secure"].current == "csrftoken: Secure, no HttpOnly, SameSite=Lax"


def test_the_live_audit_sees_a_header_the_settings_promise_but_no_middleware_sends():
    middleware = [
        m for m in production()["MIDDLEWARE"] if not m.endswith(("XFrameOptionsMiddleware", "Axes" + "Middleware"))
    ]
    with override_settings(**production(MIDDLEWARE=middleware, SILENCED_SYSTEM_CHECKS=["security.W002"])):
        found = graded()
    assert found["live.frames"].status == FAILURE
    assert found["live.frames"].current == "admin login (200): absent; API (401): absent"


def test_the_audit_trusts_the_proxy_header_the_settings_trust():
    proxied = production(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"), PORTAL_BEHIND_PROXY=True)
    with override_settings(**proxied):
        found = graded()
    assert found["live.hsts"].status == PASS
    assert found["opsadmin.security.W101"].status == PASS
    with override_settings(**production(PORTAL_BEHIND_PROXY=True)):
        assert graded()["opsadmin.security.W101"].status == FAILURE


def test_a_silenced_warning_is_a_note_but_a_silenced_failure_still_fails():
    with override_settings(**production(SECURE_HSTS_PRELOAD=False, SECURE_SSL_REDIRECT=False)):
        found = graded()
    assert found["security.W021"].status == WARNING
    silenced = ["security.W021", "security.W008"]
    with override_settings(
        **production(SECURE_HSTS_PRELOAD=False, SECURE_SSL_REDIRECT=False, SILENCED_SYSTEM_CHECKS=silenced)
    ):
        found = graded()
    assert found["security.W021"].status == INFO
    assert found["security.W021"].current.endswith("(silenced in SILENCED_SYSTEM_CHECKS)")
    assert found["security.W008"].status == FAILURE


@pytest.mark.parametrize(
    ("changes", "item_id", "status"),
    [
        ({"SESSION_COOKIE_AGE": 86401}, "opsadmin.security.W102", WARNING),
        ({"SESSION_SAVE_EVERY_REQUEST": True}, "opsadmin.security.W103", WARNING),
        ({"SESSION_EXPIRE_AT_BROWSER_CLOSE": True}, "opsadmin.security.W104", WARNING),
        ({"SECURE_CSP": {}}, "opsadmin.security.W105", WARNING),
        # The settings accept W106 for unfold's sake (SILENCED_SYSTEM_CHECKS); unsilenced, it warns.
        (
            {"SECURE_CSP": {"script-src": ["'self'", "'unsafe-inline'"]}, "SILENCED_SYSTEM_CHECKS": []},
            "opsadmin.security.W106",
            WARNING,
        ),
        (
            {"SECURE_CSP": {"default-src": ["'self'", "'unsafe-eval'"]}, "SILENCED_SYSTEM_CHECKS": []},
            "opsadmin.security.W106",
            WARNING,
        ),
        ({"PERMISSIONS_POLICY": {}}, "opsadmin.security.W107", WARNING),
        ({"AUTH_PASSWORD_VALIDATORS": []}, "opsadmin.security.W108", FAILURE),
        ({"PORTAL_OTP_REQUIRED": False}, "opsadmin.security.W110", FAILURE),
    ],
)
def test_the_portals_own_checks_grade_their_settings(changes, item_id, status):
    with override_settings(**production(**changes)):
        found = graded()
    assert found[item_id].status == status
    assert found[item_id].said[0].startswith(f"{item_id}: ")


def test_an_ops_api_answering_html_and_a_public_metrics_are_caught():
    assert facts.api_answers_json() == (
        True,
        "/api/ops/status/: 401 application/json; /api/ops/no-such-path/: 401 application/json",
    )
    with override_settings(ROOT_URLCONF="tests.opsadmin.security.leaky_urls"):
        ok, current = facts.api_answers_json()
        assert not ok
        assert "/api/ops/no-such-path/: 404 text/html" in current
        assert facts.health_and_metrics_protected() == (False, "anonymous /health/: 401; anonymous /metrics: 200")
        said = [message.id for check in checks.CHECKS for message in check()]
    assert {"opsadmin.security.W111", "opsadmin.security.W113"} <= set(said)


@pytest.mark.parametrize(
    ("allowed", "graded"),
    [
        ("127.0.0.1/32,::1/128", (True, "anonymous /health/: 401; anonymous /metrics: 401")),  # a scraper on the host
        ("0.0.0.0/0,::/0", (False, "anonymous /health/: 401; /metrics allowed to every address the audit tried")),
        ("203.0.113.0/24", (True, "anonymous /health/: 401; anonymous /metrics: 401")),  # asked from the next one
    ],
)
def test_metrics_allowed_to_its_scrapers_only_is_not_public(allowed, graded):
    networks = [ipaddress.ip_network(network) for network in allowed.split(",")]
    with override_settings(PORTAL_METRICS_ALLOWED_ADDRESSES=networks):
        assert facts.health_and_metrics_protected() == graded


def test_tokens_are_graded_from_what_the_model_keeps(monkeypatch):
    assert facts.tokens_hashed_and_scoped() == (True, "only its digest is kept; scope one of ops, scanner")
    from portal.accounts import tokens

    def keeps_the_token(record):
        token = "abc.plain-token-value"
        record.prefix, record.digest = "abc", token  # the token itself, "hashed" as itself
        return token

    monkeypatch.setattr(tokens, "prepare_token", keeps_the_token)
    assert facts.tokens_hashed_and_scoped() == (False, "kept in digest; scope one of ops, scanner")


def test_check_deploy_reports_the_portals_checks_too(capsys):
    call_command("check", deploy=True, tags=["security"])
    reported = capsys.readouterr().err
    assert "opsadmin.security.W110" in reported  # the tests run without second factors
    assert "security.W004" in reported
    with override_settings(**production(PORTAL_OTP_REQUIRED=False)):
        call_command("check", deploy=True, tags=["security"])
    assert "opsadmin.security.W110" in capsys.readouterr().err


def test_the_browser_xss_filter_is_a_note_not_a_setting_to_add():
    note = graded()["opsadmin.security.I114"]
    assert note.status == INFO
    assert "removed SECURE_BROWSER_XSS_FILTER in 4.0" in note.why


@needs_login_branch
def test_the_section_is_ok_only_when_nothing_fails_or_warns():
    with override_settings(**production(SESSION_COOKIE_AGE=1209600)):
        assert security_checklist().status == "warning"
    with override_settings(**production()):
        assert security_checklist().status == OK


def test_the_audit_requests_leave_no_trace_of_a_web_process(caplog):
    """They are not served by a server: no heartbeat (the Instances page would list this process), no log lines."""
    checklist()
    assert not Instance.objects.exists()
    assert [record.getMessage() for record in caplog.records if record.name == "django.request"] == []


def test_a_page_the_audit_finds_broken_fails_the_checklist_not_the_log(caplog, settings):
    """Without DEBUG and without collectstatic the login page is a server error: the checklist says so."""
    manifest = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STORAGES=manifest):
        found = graded()
    assert found["live.answers"].status == FAILURE
    assert found["live.answers"].current == "admin login: 500; API: 401"
    assert [record for record in caplog.records if record.name == "django.request"] == []
    assert graded()["live.answers"].status == PASS
