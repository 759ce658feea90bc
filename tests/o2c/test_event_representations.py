"""An event shows its object exactly as the REST API does, in JSON's own types.

Events read each field of their object through a plan made once per serializer
(``o2c.api.serializers.representations``) rather than through DRF's generic
path; whatever the object's state, the JSON must be the API's, key for key.
"""

import json
from datetime import date
from decimal import Decimal

import pytest

from invoicing import apis as invoicing_apis
from invoicing.models import Invoice
from invoicing.services.invoices import LineInput, credit_note_create, invoice_create
from o2c.api.serializers import representations
from orders import apis as orders_apis
from orders.models import PaymentTerm
from reconciliation import apis as reconciliation_apis
from reconciliation.services.payments import payment_reverse, write_off_create
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    PaymentTermFactory,
    issued_invoice,
    member,
    received_payment,
)

pytestmark = pytest.mark.django_db


def as_the_api_shows(serializer_class, objects) -> list[dict]:
    return [dict(serializer_class(obj).data) for obj in objects]


def test_events_show_invoices_credit_notes_payments_and_customers_as_the_api(tenant):
    discount_term = PaymentTermFactory(
        days=30, discount_percent=Decimal("2.00"), discount_days=10
    )
    customer = CustomerFactory(payment_term=discount_term)
    customer_in_yen = CustomerFactory(currency="JPY")
    customer_in_yen.collector = member(tenant, username="collector")
    customer_in_yen.save()
    draft = invoice_create(
        customer=customer,
        invoice_date=date(2026, 1, 1),
        lines=[LineInput("Goods", Decimal(3), Decimal("10.10"), tax_rate=Decimal(19))],
        external_id="ERP-1",
        actor=SYSTEM,
    )
    with_discount = issued_invoice(customer, "250.00")
    in_yen = issued_invoice(customer_in_yen, "12000")
    paid = issued_invoice(customer, "80.00")
    credited = issued_invoice(customer, "120.00")
    payment = received_payment(customer, "100.00", allocations=[(paid, "80.00")])
    reversed_payment = received_payment(customer, "5.00")
    payment_reverse(
        payment=reversed_payment,
        reversal_date=date(2026, 1, 20),
        reason="Bounced",
        actor=SYSTEM,
    )
    credit = credit_note_create(
        invoice=credited,
        credit_date=date(2026, 1, 6),
        reason="Returned",
        lines=[LineInput("Return", Decimal(1), Decimal("50.00"))],
        actor=SYSTEM,
    )
    write_off = write_off_create(
        invoice=credited,
        amount="30.00",
        write_off_date=date(2026, 1, 7),
        reason="Too small to chase",
        actor=SYSTEM,
    )
    invoices = list(
        Invoice.objects.filter(
            pk__in=[draft.pk, with_discount.pk, in_yen.pk, paid.pk, credited.pk]
        ).order_by("pk")
    )
    assert invoices[1].discount_amount == Decimal("5.00")  # the term's 2 %
    assert invoices[0].number is None and invoices[0].issued_at is None
    payments = [payment, reversed_payment]
    for serializer_class, objects in [
        (invoicing_apis.InvoiceEventOutput, invoices),
        (invoicing_apis.CreditNoteOutput, [credit]),
        (reconciliation_apis.PaymentOutput, payments),
        (reconciliation_apis.AllocationOutput, list(payment.allocations.all())),
        (reconciliation_apis.WriteOffOutput, [write_off]),
        (orders_apis.CustomerOutput, [customer, customer_in_yen]),
    ]:
        shown = representations(serializer_class)(objects)
        assert shown == as_the_api_shows(serializer_class, objects), serializer_class
        # Stored as it is: JSON's own types, as the API's JSON reads back.
        assert json.loads(json.dumps(shown)) == shown
    shown = representations(invoicing_apis.InvoiceEventOutput)(invoices)
    assert shown[2]["total"] == "12000"  # yen have no minor unit
    assert shown[1]["discount_amount"] == "5.00"
    assert shown[0]["number"] is None and shown[0]["issued_at"] is None
    assert shown[3]["status"] == "paid" and shown[3]["customer"] == customer.pk
    assert PaymentTerm.objects.filter(pk=discount_term.pk).exists()
