from o2c.models import Membership


def tenancy(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "organization": membership.organization,
        "membership": membership,
        "memberships": Membership.objects.filter(user=request.user)
        .select_related("organization")
        .order_by("organization__name"),
    }
