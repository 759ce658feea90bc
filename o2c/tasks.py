"""Celery plumbing: every task acts for exactly one organization."""

from functools import wraps

from o2c.errors import TenantNotSet
from o2c.models import Organization
from o2c.tenancy import tenant_context


def tenant_task(func):
    """Run ``func(organization_id, ...)`` inside that organization's context.

    A task called without an organization raises; one whose organization is gone
    returns quietly (the work has nobody left to do it for).
    """

    @wraps(func)
    def wrapper(organization_id=None, *args, **kwargs):
        if organization_id is None:
            raise TenantNotSet(f"Task {func.__name__} needs an organization_id.")
        organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return None
        with tenant_context(organization):
            return func(organization_id, *args, **kwargs)

    return wrapper
