"""How a customer gets in and stays in: a link's token opens a visit, kept in
the session (so the token leaves the address bar and the history), for
``PORTAL_SESSION_MINUTES``; every page checks the link again (revoked, expired
by the settlement rule) and acts in the link's organization, which it sets as
the tenant (and so, on PostgreSQL, row-level security) for the request.

Whatever is wrong — an unknown, expired, revoked, used or other organization's
token, a visit that ended — the customer sees the same neutral page with the
same status, which says nothing about what exists.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from django.conf import settings
from django.shortcuts import render
from django.utils import translation
from django_ratelimit.core import is_ratelimited

from invoicing.models import PortalAccess, PortalSettings
from invoicing.portal import access_is_valid, portal_settings
from o2c.document_language import speaking
from o2c.models import Organization
from o2c.tenancy import all_tenants, tenant_context
from orders.models import Customer

SESSION_KEY = "o2c_portal"
NEUTRAL_STATUS = 404


@dataclass
class Visit:
    access: PortalAccess
    organization: Organization
    customer: Customer
    settings: PortalSettings


def neutral(request):
    """The one answer to every token that does not open the portal."""
    with translation.override(translation.get_language_from_request(request)):
        response = render(request, "portal/neutral.html", status=NEUTRAL_STATUS)
    return response


def over_limit(request, group: str, rate_name: str, key="ip") -> bool:
    return is_ratelimited(
        request,
        group=f"portal-{group}",
        key=key,
        rate=settings.PORTAL_RATE_LIMITS[rate_name],
        increment=True,
    )


def too_many(request):
    with translation.override(translation.get_language_from_request(request)):
        response = render(request, "portal/too_many.html", status=429)
    response["Retry-After"] = "60"
    return response


def visit_start(request, access: PortalAccess) -> None:
    # A new session id on entry: a session id planted before cannot ride along.
    request.session.cycle_key()
    request.session[SESSION_KEY] = {
        "access": access.pk,
        "organization": access.organization_id,
        "until": int(time.time()) + settings.PORTAL_SESSION_MINUTES * 60,
    }


def visit_end(request) -> None:
    request.session.pop(SESSION_KEY, None)


def portal_page(view):
    """A portal page: the visit's organization as the tenant, the customer's
    language, or the neutral page when there is no valid visit."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        state = request.session.get(SESSION_KEY)
        if not isinstance(state, dict) or state.get("until", 0) < time.time():
            visit_end(request)
            return neutral(request)
        with all_tenants():
            access = (
                PortalAccess.unscoped.select_related("organization", "customer")
                .filter(
                    pk=state.get("access"), organization_id=state.get("organization")
                )
                .first()
            )
        if access is None:
            visit_end(request)
            return neutral(request)
        organization = access.organization
        with tenant_context(organization):
            if not access_is_valid(access, for_entry=False):
                visit_end(request)
                return neutral(request)
            request.portal = Visit(
                access=access,
                organization=organization,
                customer=access.customer,
                settings=portal_settings(),
            )
            with speaking(access.customer.language, organization) as language:
                request.LANGUAGE_CODE = language.language
                response = view(request, *args, **kwargs)
                # Rendered here, in the customer's language and the tenant.
                if hasattr(response, "render") and not response.is_rendered:
                    response.render()
        response.headers["Content-Language"] = request.LANGUAGE_CODE
        response.headers["Cache-Control"] = "private, no-store"
        return response

    return wrapper
