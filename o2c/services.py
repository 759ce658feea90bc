"""Kernel services: actors, audit events, status transitions, document numbers."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from o2c.errors import ConflictError
from o2c.models import AuditEvent, Membership, Organization, Role, Sequence
from o2c.tenancy import current_organization


@dataclass(frozen=True)
class Actor:
    """Who is acting: a person, an integration's API key, or the system itself."""

    label: str
    role: str
    user: object | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(label=label, role=Role.ADMIN)

    @classmethod
    def for_user(cls, user, organization: Organization) -> Actor:
        membership = Membership.objects.filter(
            user=user, organization=organization
        ).first()
        role = membership.role if membership else Role.VIEWER
        return cls(label=user.get_username(), role=role, user=user)

    @classmethod
    def for_member(cls, membership: Membership) -> Actor:
        """The signed-in person of a request (``request.membership``)."""
        user = membership.user
        return cls(label=user.get_username(), role=membership.role, user=user)


def audit_record(
    *,
    actor: Actor,
    obj,
    action: str,
    from_status: str = "",
    to_status: str = "",
    data: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        organization=current_organization(),
        actor_user=actor.user,
        actor_label=actor.label,
        object_type=obj._meta.label_lower,
        object_id=obj.pk,
        action=action,
        from_status=from_status,
        to_status=to_status,
        data=data or {},
    )


def lock(obj):
    """Re-read ``obj`` with a row lock, inside the caller's organization."""
    return type(obj).objects.select_for_update().get(pk=obj.pk)


@transaction.atomic
def transition(
    *,
    obj,
    to_status: str,
    actor: Actor,
    action: str | None = None,
    data: dict | None = None,
    field: str = "status",
    extra_fields: dict | None = None,
):
    """Move ``obj`` to ``to_status`` if its model's TRANSITIONS table allows it.

    The row is locked first, so two concurrent transitions serialize and the second
    one sees the first one's result. Returns the locked, updated instance.
    """
    locked = lock(obj)
    from_status = getattr(locked, field)
    if from_status == to_status:
        return locked
    allowed = type(locked).TRANSITIONS.get(from_status, frozenset())
    if to_status not in allowed:
        raise ConflictError(
            "invalid_transition",
            _(
                "%(kind)s %(document)s is %(from_status)s; it cannot become "
                "%(to_status)s."
            )
            % {
                "kind": locked._meta.verbose_name.capitalize(),
                "document": locked,
                "from_status": from_status,
                "to_status": to_status,
            },
            field=field,
        )
    setattr(locked, field, to_status)
    for name, value in (extra_fields or {}).items():
        setattr(locked, name, value)
    locked.save(update_fields=[field, *(extra_fields or {})])
    audit_record(
        actor=actor,
        obj=locked,
        action=action or f"status:{to_status}",
        from_status=from_status,
        to_status=to_status,
        data=data,
    )
    for name in (field, *(extra_fields or {})):
        setattr(obj, name, getattr(locked, name))
    return locked


def next_number(name: str, *, prefix: str) -> str:
    """Take the next number of sequence ``name``; call inside the issuing transaction.

    The row lock holds until the transaction ends and a rollback returns the number,
    so numbers have no gaps and no duplicates.
    """
    organization = current_organization()
    sequence = _locked_sequence(organization, name, prefix)
    value = sequence.next_value
    Sequence.objects.filter(pk=sequence.pk).update(next_value=F("next_value") + 1)
    return f"{sequence.prefix}{value:0{sequence.padding}d}"


def _locked_sequence(organization, name, prefix) -> Sequence:
    sequences = Sequence.objects.select_for_update()
    try:
        return sequences.get(name=name)
    except Sequence.DoesNotExist:
        try:
            with transaction.atomic():
                Sequence.objects.create(
                    organization=organization, name=name, prefix=prefix
                )
        except IntegrityError:
            pass  # created concurrently; the lock below waits for it
        return sequences.get(name=name)


@transaction.atomic
def organization_create(
    *,
    name: str,
    slug: str,
    base_currency: str = "EUR",
    timezone: str = "UTC",
    admin_email: str,
    admin_password: str,
    **settings_fields,
):
    """Start a tenant with its first admin (an existing user keeps their password)."""
    import zoneinfo

    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_slug

    from o2c.errors import DomainError
    from o2c.money import validate_currency

    if timezone not in zoneinfo.available_timezones():
        raise DomainError(
            "invalid_timezone",
            _("Unknown timezone '%(timezone)s'.") % {"timezone": timezone},
            field="timezone",
        )
    if not (name or "").strip():
        raise DomainError("required", _("Name is required."), field="name")
    # The slug names the tenant in URLs and commands; the model field only
    # validates in forms, so the service checks it.
    try:
        validate_slug(slug)
    except ValidationError:
        raise DomainError(
            "invalid_slug",
            _("'%(slug)s' is not a slug: use letters, digits, '-' or '_'.")
            % {"slug": slug},
            field="slug",
        ) from None
    if Organization.objects.filter(slug=slug).exists():
        raise ConflictError(
            "duplicate", _("Slug '%(slug)s' is taken.") % {"slug": slug}, field="slug"
        )
    users = get_user_model().objects
    if not users.filter(username=admin_email).exists():
        _check_password(
            admin_password, users.model(username=admin_email, email=admin_email)
        )
    organization = Organization.objects.create(
        name=name,
        slug=slug,
        base_currency=validate_currency(base_currency),
        timezone=timezone,
        **settings_fields,
    )
    user = users.filter(username=admin_email).first()
    if user is None:
        user = users.create_user(
            username=admin_email, email=admin_email, password=admin_password
        )
    Membership.objects.create(organization=organization, user=user, role=Role.ADMIN)
    return organization, user


def _check_password(password: str, user) -> None:
    """The password policy (``AUTH_PASSWORD_VALIDATORS``), as a refusal naming
    the field."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from o2c.errors import DomainError

    try:
        validate_password(password, user)
    except ValidationError as error:
        raise DomainError(
            "weak_password", " ".join(error.messages), field="admin_password"
        ) from None


@transaction.atomic
def membership_set(*, organization: Organization, user, role: str) -> Membership:
    membership, _created = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    return membership
