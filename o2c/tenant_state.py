"""The context :mod:`o2c.tenancy` manages, kept free of models so that the
database backend (:mod:`o2c.db.postgresql.base`) can read it while Django loads."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from o2c.models import Organization

_current_organization: ContextVar[Organization | None] = ContextVar(
    "o2c_current_organization", default=None
)
_all_tenants: ContextVar[bool] = ContextVar("o2c_all_tenants", default=False)


def database_tenant_setting() -> tuple[str, str]:
    """The values of ``o2c.organization_id`` and ``o2c.all_tenants`` the
    database session must hold for the current context."""
    organization = _current_organization.get()
    organization_id = "" if organization is None else str(organization.pk or "")
    return organization_id, "on" if _all_tenants.get() else "off"
