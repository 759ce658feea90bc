"""The bulk loaders refuse history whose cached amounts would drift from the ledger."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from invoicing.models import Invoice, LedgerEntry
from invoicing.services.bulk import (
    BulkLoadError,
    BulkWriter,
    InvoiceLoader,
    InvoiceSpec,
    LineSpec,
    PlannedCredit,
)
from reconciliation.models import Payment
from reconciliation.services.bulk import AllocationSpec, PaymentLoader, PaymentSpec
from tests.factories import CustomerFactory, issued_invoice

JAN = date(2026, 1, 5)


def invoice_spec(customer, *credits, amount="100.00"):
    return InvoiceSpec(
        customer_id=customer.pk,
        currency="EUR",
        invoice_date=JAN,
        term=customer.payment_term,
        lines=[LineSpec("Paper", Decimal(2), Decimal(amount) / 2)],
        credits=[PlannedCredit(day, Decimal(value)) for day, value in credits],
    )


def load(customer, invoices, payments=()):
    with transaction.atomic():
        loader = InvoiceLoader(BulkWriter())
        loader.add_invoices(invoices)
        PaymentLoader(loader).add_payments(list(payments))
        loader.writer.flush()
        loader.finish()


def test_a_partly_paid_invoice_is_loaded_as_the_services_would_leave_it(tenant):
    customer = CustomerFactory()
    before = issued_invoice(customer, "10.00", invoice_date=JAN)
    spec = invoice_spec(customer, (date(2026, 2, 1), "60.00"))
    payment = PaymentSpec(
        customer_id=customer.pk,
        currency="EUR",
        received_date=date(2026, 2, 1),
        amount=Decimal("75.00"),
        allocations=[AllocationSpec(spec, Decimal("60.00"), date(2026, 2, 1))],
    )

    load(customer, [spec], [payment])

    invoice = Invoice.objects.get(pk=spec.id)
    assert invoice.number == f"INV-{int(before.number[4:]) + 1:06d}"
    assert invoice.status == Invoice.Status.PARTIALLY_PAID
    assert invoice.open_amount == Decimal("40.00")
    assert Payment.objects.get(pk=payment.id).unapplied_amount == Decimal("15.00")
    assert LedgerEntry.objects.filter(customer=customer).count() == 1 + 1 + 1 + 2
    out = StringIO()
    call_command("verify_ledger", "--org", tenant.slug, stdout=out)
    assert "ledger consistent" in out.getvalue()


def test_a_credit_the_invoice_was_not_loaded_with_is_refused(tenant):
    customer = CustomerFactory()
    spec = invoice_spec(customer)
    payment = PaymentSpec(
        customer_id=customer.pk,
        currency="EUR",
        received_date=date(2026, 2, 1),
        amount=Decimal("50.00"),
        allocations=[AllocationSpec(spec, Decimal("50.00"), date(2026, 2, 1))],
    )

    with pytest.raises(BulkLoadError, match="was not planned"):
        load(customer, [spec], [payment])
    assert not Invoice.objects.exists()


def test_a_planned_credit_left_unposted_fails_the_load(tenant):
    customer = CustomerFactory()

    with pytest.raises(BulkLoadError, match="did not receive their planned credits"):
        load(customer, [invoice_spec(customer, (date(2026, 2, 1), "100.00"))])
    assert not LedgerEntry.objects.exists()


def test_credits_above_the_total_are_refused(tenant):
    customer = CustomerFactory()

    with pytest.raises(BulkLoadError, match="exceed the total"):
        load(customer, [invoice_spec(customer, (date(2026, 2, 1), "100.01"))])
