"""Bind the signed-in user's active organization to the request and speak its
language; sign out idle sessions; hold a session that owes a second factor at the
code or setup page."""

import time
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from o2c.api.errors import error_body
from o2c.models import Membership
from o2c.security import has_second_factor, second_factor_required
from o2c.tenancy import activate, deactivate

SESSION_KEY = "o2c_organization_id"


def active_membership(request) -> Membership | None:
    """The membership the user works in: chosen in the switcher, else the first."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related(
        "organization", "user"
    )
    chosen = request.session.get(SESSION_KEY)
    membership = None
    if chosen:
        membership = memberships.filter(organization_id=chosen).first()
    return membership or memberships.order_by("organization__name").first()


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        membership = active_membership(request)
        request.membership = membership
        request.organization = membership.organization if membership else None
        token = activate(request.organization)
        try:
            return self.get_response(request)
        finally:
            deactivate(token)


# Integrations read the API's and the webhooks' messages: they stay in English,
# whatever the organization's locale, so a client never parses German.
ENGLISH_ONLY_PREFIXES = ("/api/", "/hooks/")


def interface_language(locale: str | None) -> str:
    """The interface language for an organization's ``locale`` ("de", "de-CH",
    "en_GB"): its base language when the interface has it, else English."""
    if locale:
        try:
            return translation.get_supported_language_variant(
                locale.replace("_", "-").lower()
            )
        except LookupError:
            pass
    return "en"


class LanguageMiddleware:
    """Pages speak the active organization's language; sign-in and other pages
    without an organization speak the browser's (Accept-Language), else English.
    Runs right after :class:`TenantMiddleware`, which has chosen the organization.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        organization = getattr(request, "organization", None)
        if request.path_info.startswith(ENGLISH_ONLY_PREFIXES):
            language = "en"
        elif organization is not None:
            language = interface_language(organization.locale)
        else:
            language = translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        if organization is None:
            patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", language)
        return response


LAST_ACTIVITY_KEY = "o2c_last_activity"
# Writing the session on every request would cost a database write each time; a
# minute's precision is plenty for a half-hour limit.
_ACTIVITY_PRECISION_SECONDS = 60


class IdleSessionMiddleware:
    """Sign a person out after ``SESSION_IDLE_TIMEOUT`` without a request.

    ``SESSION_COOKIE_AGE`` bounds a session's whole life; this bounds the pause, so
    a browser left open on a shared desk does not stay signed in for hours.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(LAST_ACTIVITY_KEY)
            idle_limit = settings.SESSION_IDLE_TIMEOUT.total_seconds()
            if last is not None and now - last > idle_limit:
                minutes = int(idle_limit // 60)
                logout(request)
                messages.info(
                    request,
                    _(
                        "You were signed out after %(minutes)d minutes without "
                        "activity. Sign in again."
                    )
                    % {"minutes": minutes},
                )
                if not request.path.startswith("/api/"):
                    return _send_to_page(request, "login")
            elif last is None or now - last >= _ACTIVITY_PRECISION_SECONDS:
                request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)


# Pages a person who still owes a second factor may reach.
_VERIFY_PAGES = {"login", "logout", "login-verify"}
_SETUP_PAGES = _VERIFY_PAGES | {
    "security",
    "security-totp-start",
    "security-totp-confirm",
}


class SecondFactorMiddleware:
    """A signed-in person with a confirmed device reaches nothing but the code page
    until the session is verified (django-otp's ``is_verified()``); an admin
    without a device reaches nothing but the setup page while
    ``O2C_REQUIRE_ADMIN_2FA`` is on. Static files are served before this runs; API
    keys authenticate in DRF, where ``request.user`` here is anonymous."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        page = request.resolver_match.url_name if request.resolver_match else None
        if has_second_factor(user):
            if page in _VERIFY_PAGES:
                return None
            return _send_to(request, "login-verify", _("Enter your sign-in code."))
        if second_factor_required(user):
            if page in _SETUP_PAGES:
                return None
            return _send_to(
                request,
                "security",
                _("Admins must use two-factor authentication. Set it up to go on."),
            )
        return None


def _send_to(request, page: str, reason: str):
    if request.path.startswith("/api/"):
        body = error_body("second_factor_required", reason)
        return JsonResponse(body, status=403)
    return _send_to_page(request, page)


def _send_to_page(request, page: str):
    """A redirect to ``page`` that comes back here afterwards; for an htmx swap,
    the whole window goes (``HX-Redirect``) and comes back to the page it showed."""
    here = request.get_full_path()
    htmx = request.headers.get("HX-Request") == "true"
    if htmx and (shown := urlsplit(request.headers.get("HX-Current-URL", ""))).path:
        here = f"{shown.path}?{shown.query}" if shown.query else shown.path
    target = f"{reverse(page)}?{urlencode({'next': here})}"
    if htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)
