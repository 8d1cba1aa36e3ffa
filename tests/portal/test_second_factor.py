"""Second factors: with PORTAL_OTP_REQUIRED, whoever holds an ops write permission gives one after the password
before the admin (or a session API call) works; viewers are not asked, tokens never; recovery codes work once."""

import pytest
from django.test import Client, override_settings
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from opsadmin.spine import registry
from opsadmin.spine.permissions import holds_write_permission
from portal.accounts import second_factor
from portal.accounts.tokens import issue_token
from tests.helpers import OPERATORS, PASSWORD, VIEWERS, bearer, user_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ops_groups"), pytest.mark.usefixtures("_required")]

ENROL, VERIFY = "/admin/second-factor/", "/admin/second-factor/verify/"


@pytest.fixture
def _required():
    with override_settings(PORTAL_OTP_REQUIRED=True):
        yield


@pytest.fixture
def no_throttle():
    """django-otp makes a device wait after a wrong code (1 s, doubling): these tests try the right one at once."""
    with override_settings(OTP_TOTP_THROTTLE_FACTOR=0, OTP_STATIC_THROTTLE_FACTOR=0):
        yield


def code_of(device):
    """The code the device's app shows now."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def enrolled(user):
    """A confirmed TOTP device for `user`, with recovery codes; returns (device, codes)."""
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return device, second_factor.new_recovery_codes(user)


def password_login(user):
    """A client that logged in through the admin's form: a password, no second factor yet."""
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def test_an_operator_without_a_device_enrols_then_the_admin_works(no_throttle):
    operator = user_in(OPERATORS, username="operator")
    client = password_login(operator)
    response = client.get("/admin/ops/caches/")
    assert response.status_code == 302
    assert response["Location"] == f"{ENROL}?next=%2Fadmin%2Fops%2Fcaches%2F"

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"<svg" in page.content
    assert b'id="totp-secret"' in page.content
    assert b"https://" not in page.content.split(b'<div class="qr-code')[1].split(b"</div>")[0]  # inline, no request
    device = TOTPDevice.objects.get(user=operator, confirmed=False)

    wrong = client.post(ENROL, {"action": "confirm", "code": "000000" if code_of(device) != "000000" else "111111"})
    assert wrong.status_code == 400
    assert b"not the one your app shows" in wrong.content
    assert client.get("/admin/").status_code == 302

    confirmed = client.post(ENROL, {"action": "confirm", "code": code_of(device), "next": "/admin/ops/caches/"})
    assert confirmed.status_code == 200
    codes = list(StaticToken.objects.filter(device__user=operator).values_list("token", flat=True))
    assert len(codes) == 10
    assert all(code.encode() in confirmed.content for code in codes)
    assert b'href="/admin/ops/caches/"' in confirmed.content  # continue to where the gate stopped
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/ops/caches/").status_code == 200
    assert b"recovery-codes" not in client.get(ENROL).content  # shown once


def test_an_enrolled_operator_is_refused_until_a_valid_code_then_the_admin_works(no_throttle):
    operator = user_in(OPERATORS, username="operator")
    device, _ = enrolled(operator)
    client = password_login(operator)

    assert client.get("/admin/")["Location"] == f"{VERIFY}?next=%2Fadmin%2F"
    assert client.get("/admin/auth/user/")["Location"].startswith(VERIFY)
    refused = client.get("/api/ops/status/")
    assert refused.status_code == 403
    assert refused.json() == {"error": "second factor required: verify in the admin first"}
    assert client.get(VERIFY).status_code == 200

    assert client.post(VERIFY, {"code": "12345x", "next": "/admin/"}).status_code == 400
    assert client.get("/admin/").status_code == 302
    verified = client.post(VERIFY, {"code": code_of(device), "next": "/admin/"})
    assert verified.status_code == 302
    assert verified["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/ops/status/").status_code == 200


def test_after_a_wrong_code_even_the_right_one_waits():
    operator = user_in(OPERATORS, username="operator")
    device, _ = enrolled(operator)
    client = password_login(operator)
    assert client.post(VERIFY, {"code": "99999x"}).status_code == 400
    assert client.post(VERIFY, {"code": code_of(device)}).status_code == 400
    assert client.get("/admin/").status_code == 302


def test_the_verify_page_sends_nowhere_but_here():
    operator = user_in(OPERATORS, username="operator")
    device, _ = enrolled(operator)
    verified = password_login(operator).post(VERIFY, {"code": code_of(device), "next": "https://evil.example/"})
    assert verified["Location"] == "/admin/"


def test_a_viewer_is_not_asked():
    viewer = user_in(VIEWERS, username="viewer")
    client = password_login(viewer)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/ops/caches/").status_code == 200
    assert client.get("/api/ops/status/").status_code == 200


def test_a_superuser_and_any_one_write_permission_count():
    assert holds_write_permission(user_in(superuser=True, username="root"))
    some_write = registry.writes()[0].permission
    assert holds_write_permission(user_in(username="one-write", permissions=["view_ops", some_write]))
    assert not holds_write_permission(user_in(VIEWERS, username="viewer"))
    assert password_login(user_in(superuser=True, username="root2")).get("/admin/").status_code == 302


def test_every_declared_write_permission_counts():
    for write in registry.writes():
        user = user_in(username=f"holder-of-{write.name}", permissions=[write.permission])
        assert holds_write_permission(user), write.permission


def test_a_bearer_token_needs_no_second_factor():
    operator = user_in(OPERATORS, username="operator")
    enrolled(operator)
    token = issue_token(operator, "script")[1]
    assert Client().get("/api/ops/status/", **bearer(token)).status_code == 200
    # Even alongside a session that has not given one.
    client = password_login(operator)
    assert client.get("/api/ops/status/", **bearer(token)).status_code == 200


def test_a_recovery_code_works_once():
    operator = user_in(OPERATORS, username="operator")
    _, codes = enrolled(operator)
    first = password_login(operator)
    assert first.post(VERIFY, {"code": codes[0].upper(), "next": "/admin/"}).status_code == 302
    assert first.get("/admin/").status_code == 200
    assert StaticToken.objects.filter(device__user=operator).count() == len(codes) - 1

    again = password_login(operator)
    assert again.post(VERIFY, {"code": codes[0], "next": "/admin/"}).status_code == 400
    assert again.get("/admin/").status_code == 302


def test_a_password_alone_can_not_remove_or_renew_an_enrolled_factor():
    operator = user_in(OPERATORS, username="operator")
    enrolled(operator)
    client = password_login(operator)
    for action in ("remove", "renew"):
        response = client.post(ENROL, {"action": action})
        assert response.status_code == 302
        assert response["Location"].startswith(VERIFY)
    assert TOTPDevice.objects.filter(user=operator, confirmed=True).exists()
    assert StaticToken.objects.filter(device__user=operator).count() == 10


def test_a_verified_operator_removes_the_factor_and_must_enrol_again():
    operator = user_in(OPERATORS, username="operator")
    device, _ = enrolled(operator)
    client = password_login(operator)
    client.post(VERIFY, {"code": code_of(device), "next": "/admin/"})
    renewed = client.post(ENROL, {"action": "renew"})
    assert renewed.status_code == 200
    assert b"recovery-codes" in renewed.content

    assert client.post(ENROL, {"action": "remove"})["Location"] == ENROL
    assert not TOTPDevice.objects.filter(user=operator, confirmed=True).exists()
    assert client.get("/admin/")["Location"].startswith(ENROL)


@override_settings(PORTAL_OTP_REQUIRED=False)
def test_when_not_required_an_operator_s_password_is_enough():
    operator = user_in(OPERATORS, username="operator")
    enrolled(operator)
    assert password_login(operator).get("/admin/").status_code == 200


def verified_client(user):
    """A client logged in as `user`, who enrolled and gave a code this session."""
    device, _ = enrolled(user)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def test_the_admin_shows_devices_but_never_their_secrets_and_deletes_them():
    operator = user_in(OPERATORS, username="operator")
    device, _ = enrolled(operator)
    root = verified_client(user_in(superuser=True, username="root"))
    assert root.get("/admin/").status_code == 200

    listing = root.get("/admin/otp_totp/totpdevice/")
    assert listing.status_code == 200
    assert b"operator" in listing.content
    assert device.key.encode() not in root.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content
    assert root.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 403
    assert root.get("/admin/otp_totp/totpdevice/add/").status_code == 403
    assert root.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    # The operator, at the next login, has recovery codes left: verify with one, or remove and enrol again.
    assert password_login(operator).get("/admin/")["Location"].startswith(VERIFY)
