"""Which organization the current request, task or command acts for.

Every business model derives from :class:`TenantModel`. Its default manager filters
by the organization in context and *raises* :class:`TenantNotSet` when there is none:
code that forgot to choose an organization fails closed instead of reading every
tenant's rows. ``Model.unscoped`` is the explicit, greppable escape hatch for code
that must see across tenants (``verify_ledger --all``, migrations, the bench).

On PostgreSQL a second guard stands behind the managers: row-level security
(:mod:`o2c.rls`). The database connection carries the organization in context as
the session setting ``o2c.organization_id`` (:mod:`o2c.db.postgresql` sets it
before the first query after a switch), and a query without it — raw SQL, a
``_base_manager`` lookup, a forgotten ``unscoped`` — sees no tenant rows. Code that
really works across tenants says so twice: ``Model.unscoped`` for the manager and
:func:`all_tenants` for the database.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.db import models

from o2c.errors import TenantNotSet
from o2c.tenant_state import _all_tenants, _current_organization

if TYPE_CHECKING:
    from o2c.models import Organization


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
    # Work for one organization is guarded as such, even inside all_tenants().
    all_token = _all_tenants.set(False)
    try:
        yield organization
    finally:
        _all_tenants.reset(all_token)
        _current_organization.reset(token)


@contextmanager
def all_tenants():
    """Cross-tenant work (the beat fan-out, ``verify_ledger --all``, expiring
    idempotency keys, the bench): the database's row-level security lets every
    organization's rows through while inside. Pair it with ``Model.unscoped``;
    a :func:`tenant_context` inside narrows to one organization again."""
    token = _all_tenants.set(True)
    try:
        yield
    finally:
        _all_tenants.reset(token)


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
