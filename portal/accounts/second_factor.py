"""Second factors: one TOTP device per user, enrolled from the admin, and single-use recovery codes.

Enrolling is two steps: an unconfirmed device whose secret the page shows (QR code and text),
then its first valid code, which confirms it, verifies this session, and makes a fresh set of
recovery codes (a django-otp static device) shown that once. Removing deletes both; enrolling
again starts over. Codes are checked by django-otp's devices, which slow down repeated wrong
codes (their throttling) and refuse a TOTP code already used.
"""

from base64 import b32encode

import django_otp
import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

AUTHENTICATOR = "authenticator"
RECOVERY = "recovery codes"


def enrolled_device(user):
    """The user's confirmed TOTP device, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(user):
    """The unconfirmed TOTP device this user is enrolling, made on first asking (one at a time)."""
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return pending or TOTPDevice.objects.create(user=user, confirmed=False, name=AUTHENTICATOR)


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def confirm(request, code):
    """Confirm the pending device with its first code: verifies this session; returns the new recovery codes.

    None when the code is wrong (the pending device stays, for another try).
    """
    device = pending_device(request.user)
    if not device.verify_token(code.strip()):
        return None
    TOTPDevice.objects.filter(user=request.user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    django_otp.login(request, device)
    return new_recovery_codes(request.user)


@transaction.atomic
def new_recovery_codes(user):
    """Replace the user's recovery codes with a fresh set; returns them (only their rows remain)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.PORTAL_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def remove(user):
    """Delete the user's TOTP device and recovery codes; a session verified by them is no longer."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


def verify(request, code):
    """Verify this session with a TOTP code or a recovery code (used up); the device that took it, or None."""
    code = code.strip().replace(" ", "").lower()
    for device in django_otp.devices_for_user(request.user):
        if django_otp.verify_token(request.user, device.persistent_id, code):
            django_otp.login(request, device)
            return device
    return None


def qr_svg(device):
    """The device's otpauth:// URI as an inline SVG QR code (no image request leaves the page)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    return image.to_string(encoding="unicode")


def secret_text(device):
    """The device's secret as authenticator apps take it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
