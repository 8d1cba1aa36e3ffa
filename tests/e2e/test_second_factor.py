"""Login in a browser: an operator enrols an authenticator app when second factors are required, keeps the
recovery codes, and later gets in with one; a login that keeps failing meets the lockout page."""

from base64 import b32encode

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import helpers

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or, in CI, fails) with the reason
    expect = None

pytestmark = pytest.mark.sqlite  # one pass is enough: see tests/e2e/conftest.py


def sign_in(page, username, password=helpers.PASSWORD):
    page.goto("/admin/")
    page.wait_for_url("**/admin/login/?next=/admin/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("#login-form [type=submit]").click()


def test_an_operator_enrols_an_authenticator_and_keeps_the_recovery_codes(page, user_in, settings, screenshot):
    settings.PORTAL_OTP_REQUIRED = True  # the live server runs in this process: it sees this
    operator = user_in("Ops operators")
    sign_in(page, operator.username)
    page.wait_for_url("**/admin/second-factor/?next=%2Fadmin%2F")
    expect(page.locator(".qr-code svg")).to_be_visible()
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    shown = page.locator("#totp-secret").inner_text().replace(" ", "")
    assert shown == b32encode(device.bin_key).decode()
    screenshot("enrol")

    page.locator("#id_code").fill(f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    codes = page.locator("#recovery-codes li").all_inner_texts()
    screenshot("recovery-codes")
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url("**/admin/")
    expect(page.get_by_role("link", name="Second factor")).to_be_visible()
    screenshot("dashboard")

    page.context.clear_cookies()  # another day: the password, then a code
    sign_in(page, operator.username)
    page.wait_for_url("**/admin/second-factor/verify/?next=%2Fadmin%2F")
    expect(page.locator("#verify-form")).to_contain_text(f"Signed in as {operator.username}")
    screenshot("verify")
    page.locator("#id_code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/admin/")

    page.goto("/admin/second-factor/")
    expect(page.locator("#enrolled")).to_contain_text("9 recovery codes left")
    screenshot("enrolled")


def test_a_login_that_keeps_failing_meets_the_lockout_page(page, user_in, settings, screenshot):
    settings.AXES_FAILURE_LIMIT = 2
    operator = user_in("Ops operators")
    sign_in(page, operator.username, "not the password")
    expect(page.locator("#login-form")).to_be_visible()
    page.locator("#id_password").fill("still not the password")
    page.locator("#login-form [type=submit]").click()
    expect(page.locator("#locked-out")).to_contain_text("Too many failed logins.")
    expect(page.locator("#locked-out")).to_contain_text("logins are refused for 15 minutes, the right password too")
    screenshot("locked-out")

    page.context.clear_cookies()  # an administrator, in another browser, lifts the lockout
    admin = helpers.user_in(superuser=True, username="root")
    sign_in(page, admin.username)
    page.wait_for_url("**/admin/")
    page.get_by_role("link", name="Access attempts").click()
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(operator.username)
    row.locator("input.action-select").check()
    page.locator('select[name="action"]').select_option("reset_lockout")
    screenshot("login-attempts")
    page.locator('button[name="index"]').click()
    expect(page.locator(".messagelist, #messages, body")).to_contain_text("Reset 1 login attempt count.")
    screenshot("lockout-reset")

    page.context.clear_cookies()
    sign_in(page, operator.username)
    page.wait_for_url("**/admin/")
