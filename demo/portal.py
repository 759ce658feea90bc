"""The demo company's customer portal: links to open it as a customer, and a few
things customers did there (a dispute, a promise, remittance advice), so that My
day, the timelines and the webhook log show portal actions from the first login."""

from __future__ import annotations

import random
from datetime import date, timedelta

from collecting.models import Source
from collecting.selectors import paused_invoices
from collecting.services.commitments import dispute_open, promise_create
from invoicing.models import Invoice, PortalAccess
from invoicing.portal import portal_link_issue
from o2c.models import Role
from o2c.services import Actor
from orders.models import Customer
from reconciliation.services.remittance import remittance_advice_record

OPEN = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
LINKS = 3


def seed_portal(*, seed: int, today: date) -> list[tuple[str, str]]:
    """Portal actions of three customers with overdue invoices; returns
    (customer, link) for a few customers to open the portal as."""
    rnd = random.Random(seed + 14)
    overdue = list(
        Invoice.objects.filter(status__in=OPEN, due_date__lt=today, currency="EUR")
        .order_by("customer_id", "due_date")
        .values_list("pk", "customer_id")[:2000]
    )
    paused = paused_invoices(invoice_ids=[pk for pk, _ in overdue])
    by_customer: dict[int, list[int]] = {}
    for pk, customer_id in overdue:
        if pk not in paused:
            by_customer.setdefault(customer_id, []).append(pk)
    chosen = rnd.sample(sorted(by_customer), k=min(3, len(by_customer)))
    customers = Customer.objects.in_bulk(chosen)
    for step, customer_id in enumerate(chosen):
        customer = customers[customer_id]
        invoice = Invoice.objects.get(pk=by_customer[customer_id][0])
        actor = Actor(label=f"{customer.name} (customer portal)", role=Role.VIEWER)
        if step == 0:
            dispute_open(
                customer=customer, invoices=[invoice], reason_code="quantity",
                description="Two of the ten cartons arrived damaged; photos follow.",
                source=Source.PORTAL, actor=actor,
            )  # fmt: skip
        elif step == 1:
            promise_create(
                customer=customer, invoices=[invoice], amount=invoice.open_amount,
                promised_date=today + timedelta(days=10), source=Source.PORTAL,
                actor=actor,
            )  # fmt: skip
        else:
            remittance_advice_record(
                customer=customer, invoices=[invoice], amount=invoice.open_amount,
                paid_on=today - timedelta(days=1), reference="Sammelzahlung",
                actor=actor,
            )  # fmt: skip
    linked = list(Customer.objects.filter(pk__in=chosen).order_by("pk")[:LINKS])
    return [
        (
            customer.name,
            portal_link_issue(customer=customer, kind=PortalAccess.Kind.MANUAL),
        )
        for customer in linked
    ]
