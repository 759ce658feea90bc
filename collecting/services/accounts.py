"""A collector's actions on an account: log a call or note, send a templated email,
set the next action, put on hold, reassign."""

from __future__ import annotations

from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from collecting.models import (
    Activity,
    DunningStep,
    EmailTemplate,
    Notice,
    NoticeItem,
)
from collecting.selectors import open_invoices_of
from collecting.services.commitments import clean_invoices
from collecting.services.sending import notices_enqueue
from collecting.services.worklist import profile_for, worklist_refresh
from o2c.errors import DomainError
from o2c.models import Membership, Role
from o2c.services import Actor, audit_record
from o2c.tenancy import current_organization
from orders.models import Customer


@transaction.atomic
def activity_log(
    *,
    customer: Customer,
    kind: str,
    actor: Actor,
    outcome: str = "",
    note: str = "",
    occurred_at: datetime | None = None,
    next_action_date: date | None = None,
    notice: Notice | None = None,
) -> Activity:
    """Log a call, email or note. A call's outcome "promised", "disputed" or "paid"
    counts as the customer answering (notices sent before no longer count as
    unanswered); any logged call clears a call-task request."""
    if kind not in Activity.Kind.values:
        raise DomainError("invalid_choice", f"Unknown kind '{kind}'.", field="kind")
    if outcome not in Activity.Outcome.values:
        raise DomainError(
            "invalid_choice", f"Unknown outcome '{outcome}'.", field="outcome"
        )
    if kind == Activity.Kind.NOTE and not note.strip():
        raise DomainError("required", gettext("A note needs text."), field="note")
    activity = Activity.objects.create(
        organization=current_organization(),
        customer=customer,
        kind=kind,
        outcome=outcome,
        note=note.strip(),
        notice=notice,
        user=actor.user,
        actor_label=actor.label,
        occurred_at=occurred_at or timezone.now(),
    )
    profile = profile_for(customer)
    changed = []
    if outcome in Activity.REACHED:
        profile.last_contact_at = activity.occurred_at
        changed.append("last_contact_at")
    if kind == Activity.Kind.CALL and profile.call_requested:
        profile.call_requested = False
        changed.append("call_requested")
    if next_action_date is not None:
        profile.next_action_date = next_action_date
        changed.append("next_action_date")
    if changed:
        profile.save(update_fields=changed)
    worklist_refresh(customer=customer)
    return activity


@transaction.atomic
def next_action_set(*, customer: Customer, day: date | None, actor: Actor) -> None:
    profile = profile_for(customer)
    previous = profile.next_action_date
    profile.next_action_date = day
    profile.save(update_fields=["next_action_date"])
    audit_record(
        actor=actor,
        obj=customer,
        action="next_action",
        data={
            "from": previous.isoformat() if previous else None,
            "to": day.isoformat() if day else None,
        },
    )
    worklist_refresh(customer=customer)


@transaction.atomic
def hold_set(*, customer: Customer, on_hold: bool, actor: Actor, reason: str = ""):
    """Hold (no dunning, off the queue) or release an account."""
    profile = profile_for(customer)
    if profile.on_hold != on_hold:
        profile.on_hold = on_hold
        profile.hold_reason = reason if on_hold else ""
        profile.save(update_fields=["on_hold", "hold_reason"])
        audit_record(
            actor=actor,
            obj=customer,
            action="collection_hold" if on_hold else "collection_release",
            data={"reason": reason},
        )
    worklist_refresh(customer=customer)
    return profile


@transaction.atomic
def collector_assign(*, customers: list[Customer], collector, actor: Actor) -> int:
    """A manager moves accounts to another collector (``None``: unassigned)."""
    if (
        collector is not None
        and not Membership.objects.filter(
            organization=current_organization(),
            user=collector,
            role__in=(Role.COLLECTOR, Role.FINANCE, Role.ADMIN),
        ).exists()
    ):
        raise DomainError(
            "not_a_collector",
            gettext("That person is not a collector of this organization."),
            field="collector",
        )
    moved = 0
    for customer in Customer.objects.select_for_update().filter(
        pk__in=[c.pk for c in customers]
    ):
        if customer.collector_id == (collector.pk if collector else None):
            continue
        previous = customer.collector_id
        customer.collector = collector
        customer.save(update_fields=["collector"])
        audit_record(
            actor=actor,
            obj=customer,
            action="reassigned",
            data={"from": previous, "to": collector.pk if collector else None},
        )
        worklist_refresh(customer=customer)
        moved += 1
    return moved


def collector_user(user_id: int):
    return get_user_model().objects.filter(pk=user_id).first()


@transaction.atomic
def email_send(
    *,
    customer: Customer,
    template: EmailTemplate,
    actor: Actor,
    invoices=None,
) -> Notice:
    """A collector's templated email about the customer's open invoices.

    It is a notice like the dunning's (written first, claimed, sent, recorded) but
    without a step, so it never counts as a dunning step issued. A customer
    marked do-not-contact gets none.
    """
    if customer.do_not_contact:
        raise DomainError(
            "do_not_contact",
            gettext("%(name)s is marked do not contact: no email is sent.")
            % {"name": customer.name},
        )
    if invoices:
        # Chosen invoices must be this customer's: the email lists them to its
        # contacts.
        invoices, currency = clean_invoices(customer, invoices)
    else:
        invoices = list(open_invoices_of(customer))
        if not invoices:
            raise DomainError(
                "nothing_open",
                gettext("Customer %(customer)s has no open invoice.")
                % {"customer": customer},
                field="invoices",
            )
        currency = invoices[0].currency
        invoices = [invoice for invoice in invoices if invoice.currency == currency]
    organization = current_organization()
    today = organization.today()
    notice = Notice.objects.create(
        organization=organization,
        customer=customer,
        template=template,
        channel=DunningStep.Channel.EMAIL,
        currency=currency,
        notice_date=today,
        total_amount=sum(invoice.open_amount for invoice in invoices),
        created_by=actor.user,
    )
    NoticeItem.objects.bulk_create(
        NoticeItem(
            organization=organization,
            notice=notice,
            invoice=invoice,
            days_overdue=(today - invoice.due_date).days,
            open_amount=invoice.open_amount,
        )
        for invoice in invoices
    )
    Activity.objects.create(
        organization=organization,
        customer=customer,
        kind=Activity.Kind.EMAIL,
        note=f"Email: {template.name}",
        notice=notice,
        user=actor.user,
        actor_label=actor.label,
        occurred_at=timezone.now(),
    )
    notices_enqueue([notice.pk])
    return notice
