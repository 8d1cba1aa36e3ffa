"""The rate-limits capability: the limiter's status, its health check, the Membership admin's usage column, and
resetting callers through every door (admin page and action, `ops run`, the ops API), audited as runs."""

import re
from io import StringIO

import pytest
import redis
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from opsadmin.models import OpsRun
from opsadmin.spine import registry, targets
from stocks import rate_limits
from stocks.models import Membership
from tests.helpers import OPERATORS, VIEWERS, logged_in, post_json
from tests.services import free_port

pytestmark = pytest.mark.django_db

SMALL = {tier: {"minute": 60, "day": 5000} for tier in rate_limits.TIERS}
WRITE_URL = "/api/ops/rate_limits/reset_rate_limits/"


@pytest.fixture
def shared(settings, redis_url):
    """The limiter on an emptied throwaway Redis: counters shared, so a reset runs once, here."""
    redis.Redis.from_url(redis_url).flushall()
    settings.PORTAL_RATE_LIMIT_STORAGE = redis_url
    settings.PORTAL_RATE_LIMITS = SMALL
    return redis_url


@pytest.fixture
def nowhere(settings):
    """The limiter pointed at a port nothing listens on."""
    settings.PORTAL_RATE_LIMIT_STORAGE = f"redis://127.0.0.1:{free_port()}/0"


def member(username, tier="free"):
    user = User.objects.create_user(username)
    Membership.objects.create(user=user, tier=tier)
    return user


def counted(user, times):
    for _ in range(times):
        rate_limits.hit(rate_limits.user_identity(user))


def used(identity):
    return rate_limits.peek(identity).used


# --- The status, its health check, the page and the card ----------------------------------------------


def test_the_status_says_enforcing_with_each_tier_and_its_users(shared):
    member("alice", "pro")
    member("bob", "basic")
    User.objects.create_user("carol")  # no membership: free
    User.objects.create_user("gone", is_active=False)
    section = logged_in(VIEWERS).get("/api/ops/rate_limits/limiter/").json()
    assert (section["status"], section["headline"]) == ("ok", "enforcing")
    assert section["detail"] == f"counters in {shared}, shared by every process"
    tiers = {tier["tier"]: (tier["minute"], tier["day"], tier["members"]) for tier in section["data"]["tiers"]}
    # free: carol and the viewer who asked
    assert tiers == {
        "anonymous": (60, 5000, None),
        "free": (60, 5000, 2),
        "basic": (60, 5000, 1),
        "pro": (60, 5000, 1),
        "enterprise": (60, 5000, 0),
    }
    assert "free: 60 a minute, 5,000 a day — 2 users" in section["lines"]


def test_on_memory_the_status_says_each_process_counts_its_own(settings):
    settings.PORTAL_RATE_LIMIT_STORAGE = "memory://"
    section = registry.get_capability("rate_limits").status_read.function()
    assert section.ok
    assert section.detail == "counters in memory://: each process counts its own, so limits hold per process"


def test_an_unreachable_storage_is_a_warning_failing_open_and_failing_closed(nowhere, settings):
    read = registry.get_capability("rate_limits").status_read.function
    section = read()
    assert (section.status, section.headline) == ("warning", "failing open")
    assert "unreachable (Error 111 connecting to 127.0.0.1" in section.detail
    assert section.detail.endswith("scanner requests are admitted uncounted")
    settings.PORTAL_RATE_LIMIT_FAIL_OPEN = False
    assert (read().status, read().headline) == ("failing", "failing closed")


def test_the_health_check_warns_while_failing_open_and_readiness_stays_ok(client, nowhere):
    detail = logged_in(VIEWERS).get("/health/", HTTP_ACCEPT="application/json").json()
    check = detail["checks"]["rate_limits"]
    assert check["status"] == "warning"
    assert "failing open: redis://127.0.0.1:" in check["message"]
    assert "rate_limits" not in client.get("/health/ready/").content.decode()


def test_the_page_and_the_dashboard_card_show_the_limiter(shared):
    operator = logged_in(OPERATORS)
    page = operator.get(reverse("admin:ops_rate_limits")).content.decode()
    assert 'data-state="enforcing"' in page
    assert 'data-tier="enterprise"' in page
    assert 'id="reset-rate-limits"' in page
    assert (
        'id="reset-rate-limits"'
        not in logged_in(VIEWERS, username="viewer").get(reverse("admin:ops_rate_limits")).content.decode()
    )
    dashboard = operator.get(reverse("admin:index")).content.decode()
    assert 'id="rate-limits-card" data-state="enforcing"' in dashboard
    assert 'data-tile="rate_limits"' in dashboard


# --- The Membership admin -----------------------------------------------------------------------------


def test_the_membership_list_shows_each_member_s_usage(shared, settings):
    settings.PORTAL_RATE_LIMITS = {**SMALL, "pro": {"minute": 600, "day": 50_000}}
    alice, _ = member("alice", "pro"), member("bob")
    counted(alice, 1203 - 600)  # 603 hits: 600 admitted a minute, the rest refused (they count on the minute only)
    rate_limits.hit(rate_limits.user_identity(alice))
    page = logged_in(OPERATORS).get(reverse("admin:stocks_membership_changelist"))
    cells = re.findall(r'<td class="field-usage[^"]*">(.*?)</td>', page.content.decode(), re.S)
    assert sorted(cells) == ["604 / 600 a minute · 600 / 50,000 a day", "—"]  # bob: not counted in these windows


def test_the_membership_list_says_when_the_storage_is_unreachable(nowhere):
    member("alice")
    page = logged_in(OPERATORS).get(reverse("admin:stocks_membership_changelist"))
    assert page.status_code == 200
    assert "unknown: rate-limit storage unreachable" in page.content.decode()


# --- The reset, through every door --------------------------------------------------------------------


def test_the_membership_action_resets_the_selected_members_only(shared):
    alice, bob = member("alice"), member("bob")
    counted(alice, 5)
    counted(bob, 7)
    operator = logged_in(OPERATORS)
    changelist = reverse("admin:stocks_membership_changelist")
    assert "Reset rate limits for selected members" in operator.get(changelist).content.decode()
    response = operator.post(
        changelist, {"action": "reset_rate_limits", "_selected_action": [alice.membership.pk], "index": 0}
    )
    assert response.status_code == 302
    assert used(rate_limits.user_identity(alice)) == {"minute": 0, "day": 0}
    assert used(rate_limits.user_identity(bob)) == {"minute": 7, "day": 7}
    run = OpsRun.objects.get()
    assert (run.operation, run.door, run.status) == ("reset_rate_limits", "admin", "succeeded")
    assert run.arguments == {"usernames": ["alice"], "addresses": []}
    assert run.result["summary"] == "Reset the rate limits of 1 caller: 1 had been counted."


def test_viewers_get_no_reset_action(shared):
    member("alice")
    page = logged_in(VIEWERS).get(reverse("admin:stocks_membership_changelist"))
    assert "reset_rate_limits" not in page.content.decode()


def test_the_operation_page_resets_users_and_anonymous_addresses(shared):
    alice = member("alice")
    counted(alice, 3)
    address = rate_limits.Identity("anonymous", "address:2001:db8::1")
    rate_limits.hit(address)
    page = reverse("admin:ops_operation", args=["reset_rate_limits"])
    response = logged_in(OPERATORS).post(page, {"usernames": "alice", "addresses": "2001:0db8:0:0:0:0:0:1"})
    assert response.status_code == 302
    assert used(rate_limits.user_identity(alice)) == used(address) == {"minute": 0, "day": 0}
    assert OpsRun.objects.get().arguments == {"usernames": ["alice"], "addresses": ["2001:db8::1"]}


def test_the_command_line_and_the_api_reset_and_are_audited(shared):
    alice, bob = member("alice"), member("bob")
    counted(alice, 2)
    counted(bob, 2)
    out = StringIO()
    call_command("ops", "run", "reset_rate_limits", "--set", "usernames=alice", stdout=out)
    assert "Reset the rate limits of 1 caller: 1 had been counted." in out.getvalue()
    response = post_json(logged_in(OPERATORS), WRITE_URL, {"usernames": ["bob"], "addresses": ["192.0.2.1"]})
    assert response.status_code == 200, response.content
    assert response.json()["result"]["had_counters"] == 1
    assert used(rate_limits.user_identity(bob)) == {"minute": 0, "day": 0}
    assert list(OpsRun.objects.order_by("pk").values_list("door", "status")) == [
        ("cli", "succeeded"),
        ("api", "succeeded"),
    ]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"usernames": ["alice", "nobody", "ghost"]}, "usernames", "Unknown users: nobody, ghost."),
        ({"addresses": ["192.0.2.1", "not-an-ip"]}, "addresses", "Not IP addresses: not-an-ip."),
        ({}, "__all__", "Name at least one user or address."),
    ],
)
def test_bad_input_gets_the_same_error_on_every_door_and_changes_nothing(shared, data, field, message):
    alice = member("alice")
    counted(alice, 4)
    response = post_json(logged_in(OPERATORS), WRITE_URL, data)
    assert response.status_code == 400
    assert response.json()["fields"][field] == [message]

    typed = {name: ", ".join(values) for name, values in data.items()}  # as a person types them on the page
    page = logged_in(OPERATORS, username="operator2").post(
        reverse("admin:ops_operation", args=["reset_rate_limits"]), typed
    )
    assert page.status_code == 200
    assert message in page.content.decode()

    assignments = [arg for name, values in data.items() for value in values for arg in ("--set", f"{name}={value}")]
    with pytest.raises(CommandError, match=message.rstrip(".")) as refused:
        call_command("ops", "run", "reset_rate_limits", *assignments, stdout=StringIO(), stderr=StringIO())
    assert refused.value.returncode == 2

    assert used(rate_limits.user_identity(alice)) == {"minute": 4, "day": 4}
    assert not OpsRun.objects.exists()


def test_an_unreachable_storage_fails_the_run_saying_nothing_was_reset(nowhere):
    member("alice")
    response = post_json(logged_in(OPERATORS), WRITE_URL, {"usernames": ["alice"]})
    run = OpsRun.objects.get()
    assert run.status == "failed"
    assert (response.status_code, response.json()["status"]) == (200, "failed")
    assert re.fullmatch(
        r"rate-limit storage redis://127\.0\.0\.1:\d+/0 unreachable \(Error 111 .*\): nothing was reset", run.error
    )


def test_per_process_counters_are_reset_in_every_web_process(settings):
    settings.PORTAL_RATE_LIMIT_STORAGE = "memory://"
    write = registry.get_write("reset_rate_limits")
    assert write.target_for({}) == targets.EVERY_WEB_PROCESS
    alice = member("alice")
    counted(alice, 2)
    report = write.function(usernames=["alice"], addresses=[])
    assert report.summary == "Reset the rate limits of 1 caller in this process: 1 had been counted."
    settings.PORTAL_RATE_LIMIT_STORAGE = "redis://127.0.0.1:6379/0"
    assert write.target_for({}) == targets.HERE
