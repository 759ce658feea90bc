"""Sign-in pages: the password form (django-axes counts its failures), the code a
person with a second factor gives next, the lockout page, and the Security page
where anyone sets up or turns off two-factor authentication.

The rules live in ``o2c.security``; ``o2c.middleware.SecondFactorMiddleware`` keeps
a session that owes a code (or an admin without a device) on these pages.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from o2c import security
from o2c.errors import DomainError
from o2c.views import actor_of, organization_required


def locked_out(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out sign-in: the sign-in layout, 429."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request, "o2c/locked_out.html", {"cooloff_minutes": minutes}, status=429
    )


def client_address(request) -> str | None:
    """The address a sign-in came from, as django-axes counts it.

    Behind ``TRUSTED_PROXY_COUNT`` reverse proxies, each appending the address it
    saw to ``X-Forwarded-For``, it is the entry the outermost one appended: the
    entries left of it are what the client claims and could be anything. Without
    proxies it is the connection's address.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


def _next_page(request) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(
        REDIRECT_FIELD_NAME, ""
    )
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@never_cache
def sign_in_code(request):
    """The second step of signing in: a code from the app, or a recovery code."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.is_verified() or not security.has_second_factor(request.user):
        return redirect(_next_page(request))
    error = ""
    status = 200
    if request.method == "POST":
        device = security.verify_second_factor(
            user=request.user, code=request.POST.get("code", "")
        )
        if device is not None:
            otp_login(request, device)
            if security.is_recovery(device):
                left = security.recovery_codes_left(request.user)
                messages.warning(
                    request,
                    _("Recovery code used; %(left)d left.") % {"left": left},
                )
            return redirect(_next_page(request))
        error = _(
            "That code was not accepted. Enter the current code from your app, "
            "or one of your recovery codes."
        )
        status = 422
    return render(
        request,
        "o2c/sign_in_code.html",
        {"error": error, "next": _next_page(request)},
        status=status,
    )


def _security_page(request, *, status=200, **extra):
    user = request.user
    pending = security.pending_authenticator(user)
    context = {
        "enabled": security.has_second_factor(user),
        "recovery_left": security.recovery_codes_left(user),
        "required": security.second_factor_required(user),
        "pending": pending,
        "qr_svg": security.authenticator_qr_svg(pending) if pending else "",
        "secret": security.authenticator_secret(pending) if pending else "",
        "errors": {},
        "next": _next_page(request),
    } | extra
    response = render(request, "o2c/security.html", context, status=status)
    # The page may carry a secret or recovery codes: no cache keeps them.
    response["Cache-Control"] = "no-store"
    return response


@organization_required
def security_page(request):
    return _security_page(request)


@organization_required
@require_POST
def security_totp_start(request):
    try:
        security.authenticator_start(user=request.user)
    except DomainError as error:
        return _security_page(request, status=409, errors={"code": error.message})
    return _security_page(request)


@organization_required
@require_POST
def security_totp_confirm(request):
    try:
        device, codes = security.authenticator_confirm(
            user=request.user,
            code=request.POST.get("code", ""),
            actor=actor_of(request),
        )
    except DomainError as error:
        return _security_page(request, status=422, errors={"code": error.message})
    # The code just given verifies this session too.
    otp_login(request, device)
    messages.success(request, _("Two-factor authentication is on."))
    return _security_page(request, recovery_codes=codes)


@organization_required
@require_POST
def security_disable(request):
    try:
        security.second_factor_disable(
            user=request.user,
            code=request.POST.get("code", ""),
            actor=actor_of(request),
        )
    except DomainError as error:
        return _security_page(
            request, status=422, errors={"disable_code": error.message}
        )
    messages.success(request, _("Two-factor authentication is off."))
    return redirect("security")
