"""Which organization the current request, task or command acts for.

Every business model derives from :class:`TenantModel`. Its default manager filters
by the organization in context and *raises* :class:`TenantNotSet` when there is none:
code that forgot to choose an organization fails closed instead of reading every
tenant's rows. ``Model.unscoped`` is the explicit, greppable escape hatch for code
that must see across tenants (``verify_ledger --all``, migrations, the bench).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.db import models

from o2c.errors import TenantNotSet

if TYPE_CHECKING:
    from o2c.models import Organization

_current_organization: ContextVar[Organization | None] = ContextVar(
    "o2c_current_organization", default=None
)


def current_organization() -> Organization:
    organization = _current_organization.get()
    if organization is None:
        raise TenantNotSet(
            "No organization in context: wrap the work in tenant_context(org)."
        )
    return organization


def current_organization_or_none() -> Organization | None:
    return _current_organization.get()


@contextmanager
def tenant_context(organization: Organization):
    if organization is None:
        raise TenantNotSet("tenant_context() needs an organization.")
    token = _current_organization.set(organization)
    try:
        yield organization
    finally:
        _current_organization.reset(token)


def activate(organization: Organization | None):
    """Set the organization for the rest of this context; returns a reset token."""
    return _current_organization.set(organization)


def deactivate(token) -> None:
    _current_organization.reset(token)


class TenantManager(models.Manager):
    def get_queryset(self):
        organization = current_organization()
        return super().get_queryset().filter(organization_id=organization.pk)


class TenantModel(models.Model):
    organization = models.ForeignKey(
        "o2c.Organization", on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantManager()
    unscoped = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        abstract = True
