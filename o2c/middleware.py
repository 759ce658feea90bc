"""Bind the signed-in user's active organization to the request, and speak its
language."""

from django.utils import translation
from django.utils.cache import patch_vary_headers

from o2c.models import Membership
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
