"""Sign-in security: a person's second factor, and lockouts an admin lifts.

The mechanisms are django-otp's (a TOTP device for an authenticator app, a static
device holding single-use recovery codes) and django-axes' (failed sign-ins counted
per account and per address). This module only joins them to the organization:
who may do what, and an audit event for each change.
"""

from __future__ import annotations

from base64 import b32encode

import segno
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django_otp import devices_for_user
from django_otp import verify_token as otp_verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from o2c.errors import DomainError
from o2c.models import Membership, Role
from o2c.services import Actor, audit_record
from o2c.tenancy import current_organization_or_none

RECOVERY_CODES = 10
AUTHENTICATOR = "Authenticator app"
RECOVERY = "Recovery codes"


# --- second factor -------------------------------------------------------------------


def second_factor_required(user) -> bool:
    """Admins of any organization (and superusers) must use a second factor while
    ``O2C_REQUIRE_ADMIN_2FA`` is on; for others it is their choice."""
    if not settings.O2C_REQUIRE_ADMIN_2FA:
        return False
    return (
        user.is_superuser
        or Membership.objects.filter(user=user, role=Role.ADMIN).exists()
    )


def has_second_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def pending_authenticator(user) -> TOTPDevice | None:
    """The authenticator being set up (shown as a QR code until confirmed)."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).first()


def authenticator_start(*, user) -> TOTPDevice:
    """A new secret for an authenticator app; any earlier unconfirmed one goes."""
    if has_second_factor(user):
        raise DomainError(
            "already_on", "Two-factor authentication is already on.", field="code"
        )
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def authenticator_qr_svg(device: TOTPDevice) -> str:
    """The device's otpauth:// URL as an inline SVG QR code."""
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)


def authenticator_secret(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it typed in: base32, in groups of 4."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@transaction.atomic
def authenticator_confirm(*, user, code: str, actor: Actor) -> tuple[TOTPDevice, list]:
    """Confirm the pending authenticator with a code it shows; returns the device
    and the fresh recovery codes (shown once, stored as django-otp keeps them)."""
    device = pending_authenticator(user)
    if device is None:
        raise DomainError("no_setup", "Start the set-up first.", field="code")
    if not device.verify_token(_digits(code)):
        raise DomainError(
            "wrong_code",
            "That code is not the one your app shows now. Try the next one.",
            field="code",
        )
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _new_recovery_codes(user)
    _audit(actor, user, "two_factor_enabled")
    return device, codes


@transaction.atomic
def second_factor_disable(*, user, code: str, actor: Actor) -> None:
    """Turn two-factor authentication off; it takes a current code or a recovery
    code, so a session left open cannot do it alone."""
    if second_factor_required(user):
        raise DomainError(
            "required",
            "Admins must keep two-factor authentication on.",
            field="code",
        )
    if verify_second_factor(user=user, code=code) is None:
        raise DomainError(
            "wrong_code", "Enter a current code or a recovery code.", field="code"
        )
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    _audit(actor, user, "two_factor_disabled")


def verify_second_factor(*, user, code: str):
    """The device that accepts ``code`` (an app's code, or a recovery code, which
    is then used up), else None. django-otp throttles each device after a miss."""
    code = _digits(code)
    if not code:
        return None
    # Six digits are the app's; anything else is a recovery code. Trying a code on
    # the wrong device would count a miss there and slow the next right code down.
    app_code = len(code) == 6 and code.isdigit()
    kind = TOTPDevice if app_code else StaticDevice
    for device in devices_for_user(user):
        if isinstance(device, kind):
            token = code if app_code else code.lower()
            verified = otp_verify_token(user, device.persistent_id, token)
            if verified is not None:
                return verified
    return None


def is_recovery(device) -> bool:
    return isinstance(device, StaticDevice)


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user).count()


def _new_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=code) for code in codes
    )
    return codes


def _digits(code: str) -> str:
    return (code or "").strip().replace(" ", "")


def _audit(actor: Actor, user, action: str) -> None:
    # The event lands in the organization the person works in; someone in none
    # has nobody to read it.
    organization = current_organization_or_none()
    if organization is None:
        return
    membership = Membership.objects.filter(user=user, organization=organization).first()
    if membership is not None:
        audit_record(
            actor=actor, obj=membership, action=action, data={"user": user.username}
        )


# --- lockout -------------------------------------------------------------------------


def sign_in_names(user) -> set[str]:
    """What a person may type to sign in (the username, which is the email for
    invited members, and the email)."""
    return {name for name in (user.get_username(), user.email) if name}


def locked_out_names(names) -> set[str]:
    """The names among ``names`` that django-axes locks out now: as many failures
    as the limit within the cool-off."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return set(
        AccessAttempt.objects.filter(username__in=list(names), attempt_time__gte=since)
        .values("username")
        .annotate(failures=Sum("failures_since_start"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
        .values_list("username", flat=True)
    )


@transaction.atomic
def member_unlock(*, membership: Membership, actor: Actor) -> int:
    """Lift the lockout of a member (axes' reset for their names); the failures
    recorded from an address for those names go with it."""
    names = sign_in_names(membership.user)
    cleared = sum(axes_reset(username=name) for name in names)
    audit_record(
        actor=actor,
        obj=membership,
        action="member_unlocked",
        data={"user": membership.user.get_username(), "attempts_cleared": cleared},
    )
    return cleared
