"""API rate limits per API key and per signed-in user, counted in the shared cache.

django-ratelimit's counter (an atomic ``INCR`` per fixed window in Redis) behind a
DRF throttle, so every web process shares one count. Over the limit the API answers
429 with ``Retry-After`` (seconds to the next window) in the one error shape.
Limits come from ``API_RATE_LIMITS`` (``"1200/m"``-style rates, by caller kind).
"""

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

from o2c.models import OrganizationAPIKey

GROUP = "o2c-api"


class CallerRateThrottle(BaseThrottle):
    def allow_request(self, request, view):
        caller = _caller(request)
        if caller is None:
            return True
        kind, ident = caller
        usage = get_usage(
            request,
            group=f"{GROUP}-{kind}",
            key=lambda group, request: ident,
            rate=settings.API_RATE_LIMITS[kind],
            increment=True,
        )
        if usage is None or not usage["should_limit"]:
            return True
        self._wait = max(usage["time_left"], 1)
        return False

    def wait(self):
        return getattr(self, "_wait", None)


def _caller(request) -> tuple[str, str] | None:
    if isinstance(request.auth, OrganizationAPIKey):
        return "api_key", request.auth.prefix
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return "user", str(user.pk)
    return None
