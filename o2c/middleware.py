"""Bind the signed-in user's active organization to the request."""

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
