"""Kernel services: actors, audit events, status transitions, document numbers."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from o2c.errors import ConflictError
from o2c.models import AuditEvent, Membership, Organization, Role, Sequence
from o2c.rows import RoundTrip, queue_rows, update_rows
from o2c.tenancy import current_organization
from o2c.webhooks import event_batch


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


# How deep in atomic blocks the write request's own transaction is (None: no
# request transaction in this context).
_request_depth: ContextVar[int | None] = ContextVar("o2c_request_depth", default=None)


@contextmanager
def request_transaction():
    """The one transaction of a write request (an API call): it commits or rolls
    back as a whole, and a service failing inside it fails the request. The
    services it calls directly then need no savepoint of their own — two round
    trips (``SAVEPOINT``, ``RELEASE``) of every write — since nothing in the
    request goes on after one of them fails."""
    with transaction.atomic():
        token = _request_depth.set(len(connection.atomic_blocks))
        try:
            yield
        finally:
            _request_depth.reset(token)


def service_transaction(func):
    """``transaction.atomic`` for a service: a savepoint when called inside
    another transaction (a caller may catch the service's error and go on), none
    when called directly by :func:`request_transaction` — no other atomic block
    between them — whose failure ends with the service's."""

    @functools.wraps(func)
    def inner(*args, **kwargs):
        direct = _request_depth.get() == len(connection.atomic_blocks)
        with transaction.atomic(savepoint=not direct):
            return func(*args, **kwargs)

    return inner


_pending_audit: ContextVar[list[dict] | None] = ContextVar(
    "o2c_pending_audit", default=None
)


def audit_record(
    *,
    actor: Actor,
    obj,
    action: str,
    from_status: str = "",
    to_status: str = "",
    data: dict | None = None,
) -> AuditEvent | None:
    """Record who did what to ``obj`` and return the event; inside
    :func:`audit_batch` the event is written with the batch's others when the
    batch ends (and ``None`` is returned)."""
    row = _audit_row(actor, obj._meta.label_lower, action, from_status, to_status)
    row |= {"object_id": str(obj.pk), "data": data or {}}
    pending = _pending_audit.get()
    if pending is not None:
        pending.append(row)
        return None
    return AuditEvent.objects.create(**row)


def audit_records(
    *, actor: Actor, model, ids: list[int], action: str, to_status: str = ""
) -> None:
    """:func:`audit_record` for rows of ``model`` just written by id (with no
    instances made for them), inside :func:`audit_batch`."""
    pending = _pending_audit.get()
    if pending is None:
        raise RuntimeError("audit_records is for use inside audit_batch.")
    row = _audit_row(actor, model._meta.label_lower, action, "", to_status)
    pending.extend(row | {"object_id": str(pk), "data": {}} for pk in ids)


def _audit_row(actor: Actor, object_type, action, from_status, to_status) -> dict:
    return {
        "organization_id": current_organization().pk,
        "created_at": timezone.now(),
        "actor_user_id": actor.user.pk if actor.user is not None else None,
        "actor_label": actor.label,
        "object_type": object_type,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
    }


@contextmanager
def audit_batch():
    """Write the audit events recorded inside the block in one INSERT at its end.

    A service that records several events (an invoice issued, a payment received
    and its allocations, the invoices it paid) wraps its body in this, inside its
    transaction: the events still commit or roll back with the work, in the order
    they were recorded. Nested batches join the outermost one; when a block
    raises, its events are dropped with the rest of the rolled-back work. Wrap a
    service's whole body (inside its ``transaction.atomic``), so that the batch
    ends where the transaction or savepoint does. The block is an
    ``o2c.webhooks.event_batch`` too: its events are written together at the end,
    in the same round trip as the audit events when both batches end here.
    """
    trip = RoundTrip()
    with event_batch(trip) as events_sent, _audit_rows_batch(trip, events_sent):
        yield


@contextmanager
def _audit_rows_batch(trip: RoundTrip, events_sent: bool):
    """The audit half of :func:`audit_batch`: at the end of the outermost batch
    its rows go with ``trip`` — sent then with the events, unless the events
    belong to an outer batch (``events_sent`` false), when it is sent here."""
    outer = _pending_audit.get()
    if outer is not None:
        mark = len(outer)
        try:
            yield
        except BaseException:
            # A caller's savepoint may catch this and carry on: the events of
            # the work it rolls back must not be written with the rest.
            del outer[mark:]
            raise
        return
    events: list[dict] = []
    token = _pending_audit.set(events)
    try:
        yield
        _pending_audit.reset(token)
        token = None
        queue_rows(AuditEvent, events, trip)
        if not events_sent:
            trip.send()
    finally:
        if token is not None:
            _pending_audit.reset(token)


def lock(obj):
    """Re-read ``obj`` with a row lock, inside the caller's organization."""
    return type(obj).objects.select_for_update().get(pk=obj.pk)


def transition(
    *,
    obj,
    to_status: str,
    actor: Actor,
    action: str | None = None,
    data: dict | None = None,
    field: str = "status",
    extra_fields: dict | None = None,
    locked: bool = False,
):
    """Move ``obj`` to ``to_status`` if its model's TRANSITIONS table allows it.

    The row is locked first, so two concurrent transitions serialize and the second
    one sees the first one's result. Returns the locked, updated instance.
    ``locked=True`` says the caller holds the row lock already and ``obj`` was
    read under it: it is changed in place, without reading it again.

    Inside a caller's transaction no savepoint is taken: the only refusal comes
    before anything is written, so the caller's transaction stays usable.
    """
    arguments = (obj, to_status, actor, action, data, field, extra_fields or {})
    if connection.in_atomic_block:
        return _transition(*arguments, already_locked=locked)
    with transaction.atomic():
        return _transition(*arguments, already_locked=locked)


def _transition(
    obj, to_status, actor, action, data, field, extra_fields, *, already_locked
):
    locked = obj if already_locked else lock(obj)
    if getattr(locked, field) == to_status:
        return locked
    _check_transition(locked, getattr(locked, field), to_status, field)
    _move(locked, to_status, actor, action, data, field, extra_fields)
    locked.save(update_fields=[field, *extra_fields])
    for name in (field, *extra_fields):
        setattr(obj, name, getattr(locked, name))
    return locked


def transition_many(
    changes: list[tuple[object, dict, dict]],
    *,
    to_status: str,
    actor: Actor,
    action: str | None = None,
    field: str = "status",
    trip: RoundTrip | None = None,
) -> None:
    """:func:`transition` for many objects of one model that the caller holds
    locked, each given as (object, audit data, extra fields): checked all
    before any is written, then one UPDATE for all (held for ``trip``, when
    given) and an audit event each."""
    moving = [change for change in changes if getattr(change[0], field) != to_status]
    for change in moving:
        _check_transition(change[0], getattr(change[0], field), to_status, field)
    if not moving:
        return
    names = {field}
    for obj, data, extra_fields in moving:
        _move(obj, to_status, actor, action, data, field, extra_fields)
        names.update(extra_fields)
    update_rows(
        type(moving[0][0]),
        {obj.pk: {name: getattr(obj, name) for name in names} for obj, _, _ in moving},
        trip=trip,
    )


def _move(obj, to_status, actor, action, data, field, extra_fields) -> None:
    """Set a checked transition's fields on ``obj`` and record it (the caller
    writes the row)."""
    from_status = getattr(obj, field)
    setattr(obj, field, to_status)
    for name, value in extra_fields.items():
        setattr(obj, name, value)
    audit_record(
        actor=actor,
        obj=obj,
        action=action or f"status:{to_status}",
        from_status=from_status,
        to_status=to_status,
        data=data,
    )


def _check_transition(obj, from_status: str, to_status: str, field: str) -> None:
    allowed = type(obj).TRANSITIONS.get(from_status, frozenset())
    if to_status not in allowed:
        raise ConflictError(
            "invalid_transition",
            _(
                "%(kind)s %(document)s is %(from_status)s; it cannot become "
                "%(to_status)s."
            )
            % {
                "kind": obj._meta.verbose_name.capitalize(),
                "document": obj,
                "from_status": from_status,
                "to_status": to_status,
            },
            field=field,
        )


def next_number(name: str, *, prefix: str) -> str:
    """Take the next number of sequence ``name``; call inside the issuing transaction.

    The row lock holds until the transaction ends and a rollback returns the number,
    so numbers have no gaps and no duplicates.
    """
    return next_numbers(name, prefix=prefix, count=1)[0]


def next_numbers(name: str, *, prefix: str, count: int) -> list[str]:
    """Take ``count`` consecutive numbers of sequence ``name`` (as :func:`next_number`).

    One ``UPDATE … RETURNING`` takes the numbers and the row lock together
    (PostgreSQL, and SQLite from 3.35); a sequence used for the first time is
    created, then taken the same way.
    """
    if count <= 0:
        return []
    organization = current_organization()
    row = _advance_sequence(organization.pk, name, count)
    if row is None:
        try:
            with transaction.atomic():
                Sequence.objects.create(
                    organization=organization, name=name, prefix=prefix
                )
        except IntegrityError:
            pass  # created concurrently; the update below waits for its lock
        row = _advance_sequence(organization.pk, name, count)
    first, sequence_prefix, padding = row
    return [
        f"{sequence_prefix}{value:0{padding}d}" for value in range(first, first + count)
    ]


def _advance_sequence(organization_id: int, name: str, count: int):
    table = connection.ops.quote_name(Sequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_value = next_value + %s "
            "WHERE organization_id = %s AND name = %s "
            "RETURNING next_value - %s, prefix, padding",
            [count, organization_id, name, count],
        )
        return cursor.fetchone()


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
