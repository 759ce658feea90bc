"""The organization's audit trail as an admin reads it: who changed what and when.

Services write the events (``audit_record``); this reads them newest first, a page
at a time by id (no OFFSET at any depth), filtered by who, what and when. A change
of master data carries its fields as ``{"field": [old, new]}`` in the event's data
(customers' credit limits and terms, bank accounts, payment terms, members' roles),
shown here field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet

from o2c.models import AuditEvent
from o2c.tenancy import current_organization

PAGE_SIZE = 100


@dataclass(frozen=True)
class AuditFilters:
    actor: int | None = None
    object_type: str = ""
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None
    before: int | None = None


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: object
    new: object


def audit_events(filters: AuditFilters) -> tuple[list[AuditEvent], int | None]:
    """One page of events, newest first, and the id to continue before (or None)."""
    events: QuerySet[AuditEvent] = AuditEvent.objects.select_related("actor_user")
    if filters.actor:
        events = events.filter(actor_user_id=filters.actor)
    if filters.object_type:
        events = events.filter(object_type=filters.object_type)
    if filters.action:
        events = events.filter(action=filters.action)
    zone = current_organization().tzinfo
    if filters.date_from:
        events = events.filter(
            created_at__gte=datetime.combine(filters.date_from, time.min, zone)
        )
    if filters.date_to:
        end = filters.date_to + timedelta(days=1)
        events = events.filter(created_at__lt=datetime.combine(end, time.min, zone))
    if filters.before:
        events = events.filter(pk__lt=filters.before)
    page = list(events.order_by("-pk")[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    return page, (page[-1].pk if more else None)


def field_changes(event: AuditEvent) -> list[FieldChange]:
    """The fields an event changed, where it recorded them as ``[old, new]``."""
    data = event.data if isinstance(event.data, dict) else {}
    return [
        FieldChange(field=name, old=value[0], new=value[1])
        for name, value in data.items()
        if isinstance(value, list) and len(value) == 2
    ]
