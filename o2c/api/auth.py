"""API-key authentication: ``Authorization: Api-Key <key>`` or ``X-Api-Key: <key>``.

Keys come from djangorestframework-api-key: a prefix to find the row and a hash
(never the key itself) to check it. The key's organization and role decide what
the caller sees and may do.
"""

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework_api_key.permissions import KeyParser

from o2c.models import OrganizationAPIKey


class APIKeyPrincipal:
    """Stands in for ``request.user`` when an integration calls with a key."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, api_key: OrganizationAPIKey):
        self.api_key = api_key

    def get_username(self) -> str:
        return f"api-key:{self.api_key.name}"

    def __str__(self):
        return self.get_username()


class OrganizationAPIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        key = KeyParser().get_from_authorization(request) or request.META.get(
            "HTTP_X_API_KEY"
        )
        if not key:
            return None
        try:
            api_key = OrganizationAPIKey.objects.get_from_key(key)
        except OrganizationAPIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed(
                "Invalid, revoked or expired API key."
            ) from None
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("API key expired.")
        _note_use(api_key)
        return (APIKeyPrincipal(api_key), api_key)

    def authenticate_header(self, request):
        return self.keyword


LAST_USED_PRECISION = timedelta(minutes=1)


def _note_use(api_key: OrganizationAPIKey) -> None:
    """Record when the key was last used, at most once a minute: a busy
    integration must not turn every read into a write on the same row."""
    now = timezone.now()
    OrganizationAPIKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION),
        pk=api_key.pk,
    ).update(last_used_at=now)
