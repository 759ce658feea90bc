"""Integration API keys: created with a role and an optional expiry, shown once,
stored hashed (djangorestframework-api-key), revoked but never deleted, so the
audit trail keeps naming the key that did something."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from o2c.errors import DomainError
from o2c.models import OrganizationAPIKey, Role
from o2c.services import Actor, audit_record
from o2c.tenancy import current_organization


@transaction.atomic
def api_key_create(
    *, name: str, role: str, expiry_date: datetime | None, actor: Actor
) -> tuple[OrganizationAPIKey, str]:
    """The new key's row and the key itself, which is never shown again."""
    name = (name or "").strip()
    if not name:
        raise DomainError(
            "required", _("Name the key after the integration using it."), field="name"
        )
    if len(name) > 50:
        raise DomainError("too_long", _("At most 50 characters."), field="name")
    if role not in Role.values:
        raise DomainError("invalid_choice", _("Choose a role."), field="role")
    if expiry_date is not None and expiry_date <= timezone.now():
        raise DomainError(
            "invalid_date", _("An expiry must be in the future."), field="expiry_date"
        )
    api_key, key = OrganizationAPIKey.objects.create_key(
        organization=current_organization(),
        created_by=actor.user,
        name=name,
        role=role,
        expiry_date=expiry_date,
    )
    audit_record(
        actor=actor,
        obj=api_key,
        action="api_key_created",
        data={"name": api_key.name, "role": api_key.role},
    )
    return api_key, key


@transaction.atomic
def api_key_revoke(*, api_key: OrganizationAPIKey, actor: Actor) -> OrganizationAPIKey:
    locked = OrganizationAPIKey.objects.select_for_update().get(pk=api_key.pk)
    if not locked.revoked:
        locked.revoked = True
        locked.save(update_fields=["revoked"])
        audit_record(actor=actor, obj=locked, action="api_key_revoked")
    return locked
