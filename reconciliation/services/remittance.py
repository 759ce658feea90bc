"""Remittance advice: a customer says which invoices a transfer paid.

The portal records it through :func:`remittance_advice_record`; it goes on the
customer's timeline (an audit event on the customer, which collecting reads
without importing this app), out as the webhook event ``remittance.advised``,
and into cash application as a hint (:mod:`reconciliation.matching.engine`
proposes the advised invoices for a bank line of the advised amount, while they
are open; once they are paid the advice has done its work).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils.translation import gettext

from invoicing.models import Invoice
from o2c.errors import DomainError
from o2c.money import exact_amount
from o2c.services import Actor, audit_record
from o2c.tenancy import current_organization
from o2c.webhooks import event_emit
from orders.models import Customer
from reconciliation.models import RemittanceAdvice, RemittanceAdviceInvoice

# A transfer announced for later is not a remittance; one from long ago is noise.
MAX_DAYS_BACK = 120


@transaction.atomic
def remittance_advice_record(
    *,
    customer: Customer,
    invoices: list[Invoice],
    amount,
    paid_on: date,
    actor: Actor,
    reference: str = "",
    note: str = "",
) -> RemittanceAdvice:
    invoices = _clean_invoices(customer, invoices)
    currency = invoices[0].currency
    amount = exact_amount(amount, currency)
    if amount <= 0:
        raise DomainError(
            "invalid_amount", gettext("Amount must be positive."), field="amount"
        )
    today = current_organization().today()
    if paid_on > today:
        raise DomainError(
            "invalid_date",
            gettext("Tell us about a transfer once it is made."),
            field="paid_on",
        )
    if paid_on < today - timedelta(days=MAX_DAYS_BACK):
        raise DomainError(
            "invalid_date",
            gettext("The transfer date is too far in the past."),
            field="paid_on",
        )
    organization = current_organization()
    advice = RemittanceAdvice.objects.create(
        organization=organization,
        customer=customer,
        currency=currency,
        amount=amount,
        paid_on=paid_on,
        reference=reference.strip()[:140],
        note=note.strip(),
    )
    RemittanceAdviceInvoice.objects.bulk_create(
        RemittanceAdviceInvoice(organization=organization, advice=advice, invoice=i)
        for i in invoices
    )
    numbers = [invoice.number for invoice in invoices]
    audit_record(
        actor=actor,
        obj=customer,
        action="remittance_advised",
        data={
            "advice": advice.pk,
            "invoices": numbers,
            "amount": str(amount),
            "currency": currency,
            "paid_on": paid_on.isoformat(),
            "reference": advice.reference,
        },
    )
    event_emit(
        "remittance.advised",
        data={
            "id": advice.pk,
            "customer": customer.pk,
            "invoices": [invoice.pk for invoice in invoices],
            "amount": str(amount),
            "currency": currency,
            "paid_on": paid_on.isoformat(),
            "reference": advice.reference,
            "source": "portal",
        },
    )
    return advice


def _clean_invoices(customer: Customer, invoices: list[Invoice]) -> list[Invoice]:
    if not invoices:
        raise DomainError(
            "required", gettext("Choose at least one invoice."), field="invoices"
        )
    if any(invoice.customer_id != customer.pk for invoice in invoices):
        raise DomainError(
            "customer_mismatch",
            gettext("An invoice belongs to another customer."),
            field="invoices",
        )
    if len({invoice.currency for invoice in invoices}) > 1:
        raise DomainError(
            "currency_mismatch",
            gettext("The invoices are in several currencies; choose one currency."),
            field="invoices",
        )
    return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.pk))
