"""The payment status counts fees: one rule for the services, the bulk loader and
``verify_ledger``, in Python and in SQL."""

import re
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from invoicing.models import Invoice, LedgerEntry
from invoicing.services.bulk import (
    BulkLoadError,
    BulkWriter,
    InvoiceLoader,
    InvoiceSpec,
    LineSpec,
    PlannedCredit,
    PlannedFee,
)
from invoicing.services.invoices import fee_post
from invoicing.status import fees_charged_sql, payment_status, payment_status_sql
from o2c.tenancy import all_tenants
from reconciliation.models import Payment
from reconciliation.services.bulk import AllocationSpec, PaymentLoader, PaymentSpec
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

JAN = date(2026, 1, 5)
FEE_DAY = date(2026, 2, 10)


def dunning_fee(invoice, amount="5.00", day=FEE_DAY):
    return fee_post(
        invoice=invoice,
        amount=Decimal(amount),
        posting_date=day,
        memo="Dunning fee",
        document_type="tests.notice",
        document_id=1,
        actor=SYSTEM,
    )


def verify(org):
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_ledger", "--org", org.slug, stdout=out, stderr=err)
    except CommandError as failure:
        return err.getvalue() or str(failure)
    return out.getvalue()


@pytest.fixture
def customer(tenant):
    return CustomerFactory()


@pytest.fixture
def invoice_with_fee(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN)
    dunning_fee(invoice)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.open_amount) == ("open", Decimal("105.00"))
    return invoice


def test_paying_part_of_an_invoice_with_a_fee_makes_it_partially_paid(
    tenant, customer, invoice_with_fee
):
    received_payment(
        customer,
        "50.00",
        received_date=date(2026, 2, 15),
        allocations=[(invoice_with_fee, "50.00")],
    )
    invoice_with_fee.refresh_from_db()
    assert invoice_with_fee.open_amount == Decimal("55.00")
    assert invoice_with_fee.status == Invoice.Status.PARTIALLY_PAID

    received_payment(
        customer,
        "55.00",
        received_date=date(2026, 2, 20),
        allocations=[(invoice_with_fee, "55.00")],
    )
    invoice_with_fee.refresh_from_db()
    assert invoice_with_fee.open_amount == Decimal("0.00")
    assert invoice_with_fee.status == Invoice.Status.PAID
    assert invoice_with_fee.settled_date == date(2026, 2, 20)
    assert verify(tenant) == f"{tenant.slug}: ledger consistent\n"


def test_a_payment_that_covers_no_more_than_the_fee_is_a_partial_payment(
    tenant, customer, invoice_with_fee
):
    # 105.00 charged, 5.00 paid: 100.00 is still open, which is the total, but
    # the customer has paid something.
    received_payment(
        customer,
        "5.00",
        received_date=date(2026, 2, 15),
        allocations=[(invoice_with_fee, "5.00")],
    )
    invoice_with_fee.refresh_from_db()
    assert invoice_with_fee.open_amount == Decimal("100.00")
    assert invoice_with_fee.status == Invoice.Status.PARTIALLY_PAID
    assert verify(tenant) == f"{tenant.slug}: ledger consistent\n"


def test_verify_ledger_names_a_status_that_ignores_the_fee(
    tenant, customer, invoice_with_fee
):
    received_payment(
        customer,
        "3.00",
        received_date=date(2026, 2, 15),
        allocations=[(invoice_with_fee, "3.00")],
    )
    with all_tenants():
        Invoice.unscoped.filter(pk=invoice_with_fee.pk).update(status="open")

    assert verify(tenant) == (
        f"{tenant.slug}: invoice {invoice_with_fee.number}: status open but open "
        "amount 102.000 of 100.000 + fees 5.000 means partially_paid\n"
    )


def load(specs, payments=()):
    with transaction.atomic():
        loader = InvoiceLoader(BulkWriter())
        loader.add_invoices(specs)
        PaymentLoader(loader).add_payments(list(payments))
        loader.writer.flush()
        loader.finish()


def spec_with_fee(customer, *credits):
    return InvoiceSpec(
        customer_id=customer.pk,
        currency="EUR",
        invoice_date=JAN,
        term=customer.payment_term,
        lines=[LineSpec("Paper", Decimal(1), Decimal("100.00"))],
        fees=[PlannedFee(FEE_DAY, Decimal("5.00"), "tests.notice", 1, "Dunning fee")],
        credits=[PlannedCredit(day, Decimal(amount)) for day, amount in credits],
    )


def payment_for(customer, spec, amount, day):
    return PaymentSpec(
        customer_id=customer.pk,
        currency="EUR",
        received_date=day,
        amount=Decimal(amount),
        allocations=[AllocationSpec(spec, Decimal(amount), day)],
    )


def test_the_bulk_loader_leaves_a_fee_and_a_part_payment_partially_paid(
    tenant, customer
):
    part_paid = spec_with_fee(customer, (date(2026, 2, 15), "5.00"))
    settled = spec_with_fee(
        customer, (date(2026, 2, 15), "50.00"), (date(2026, 2, 20), "55.00")
    )
    load(
        [part_paid, settled],
        [
            payment_for(customer, part_paid, "5.00", date(2026, 2, 15)),
            payment_for(customer, settled, "50.00", date(2026, 2, 15)),
            payment_for(customer, settled, "55.00", date(2026, 2, 20)),
        ],
    )

    loaded = {i.pk: i for i in Invoice.objects.all()}
    assert loaded[part_paid.id].open_amount == Decimal("100.00")
    assert loaded[part_paid.id].status == Invoice.Status.PARTIALLY_PAID
    assert loaded[settled.id].open_amount == Decimal("0.00")
    assert loaded[settled.id].status == Invoice.Status.PAID
    assert loaded[settled.id].settled_date == date(2026, 2, 20)
    fees = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.FEE)
    assert sorted(fees.values_list("invoice_id", "amount", "posting_date")) == [
        (part_paid.id, Decimal("5.00"), FEE_DAY),
        (settled.id, Decimal("5.00"), FEE_DAY),
    ]
    assert Payment.objects.count() == 3
    assert verify(tenant) == f"{tenant.slug}: ledger consistent\n"


def test_the_bulk_loader_refuses_a_credit_of_the_fee_before_it_was_charged(
    tenant, customer
):
    # 105.00 paid on 15 January, when only 100.00 was charged: the ledger service
    # would refuse it as taking that day's balance below zero.
    early = spec_with_fee(customer, (date(2026, 1, 15), "105.00"))

    with pytest.raises(BulkLoadError, match=re.escape("by 5.00 as of 2026-01-15")):
        load([early], [payment_for(customer, early, "105.00", date(2026, 1, 15))])
    assert not Invoice.objects.exists()


# Amounts chosen where float arithmetic would go wrong (0.10 + 0.20) and around each
# boundary of the rule: nothing open, exactly the total, exactly total and fees.
CASES = [
    # total, fees, open amount
    ("100.00", "0.00", "100.00"),
    ("100.00", "0.00", "99.99"),
    ("100.00", "0.00", "0.00"),
    ("100.00", "5.00", "105.00"),
    ("100.00", "5.00", "104.99"),
    ("100.00", "5.00", "100.00"),
    ("100.00", "5.00", "55.00"),
    ("100.00", "5.00", "5.00"),
    ("100.00", "5.00", "0.00"),
    ("0.10", "0.20", "0.30"),
    ("0.10", "0.20", "0.29"),
    ("0.10", "0.20", "0.10"),
    ("1000", "7", "1007"),
    ("1000", "7", "1006"),
    ("1.000", "0.125", "1.125"),
    ("1.000", "0.125", "1.124"),
]


def test_the_sql_rule_agrees_with_the_python_rule(tenant, customer):
    """Each case as an invoice row with its fee entries, decided by the database."""
    expected = {}
    for index, (total, fees, open_amount) in enumerate(CASES):
        invoice = Invoice.objects.create(
            organization=tenant,
            customer=customer,
            number=f"CASE-{index}",
            currency="EUR",
            invoice_date=JAN,
            due_date=JAN,
            status=Invoice.Status.OPEN,
            total=Decimal(total),
            open_amount=Decimal(open_amount),
        )
        # Fees in two entries, so the database has to add them up.
        unit = Decimal(1).scaleb(Decimal(fees).as_tuple().exponent)
        for part in (Decimal(fees) - unit, unit) if Decimal(fees) else ():
            LedgerEntry.objects.create(
                organization=tenant,
                customer=customer,
                invoice=invoice,
                kind=LedgerEntry.Kind.FEE,
                amount=part,
                currency="EUR",
                posting_date=JAN,
                document_type="tests.case",
                document_id=index,
            )
        expected[invoice.number] = payment_status(
            total=Decimal(total), fees=Decimal(fees), open_amount=Decimal(open_amount)
        )

    decided = dict(
        Invoice.objects.annotate(fees=fees_charged_sql(), derived=payment_status_sql())
        .order_by("pk")
        .values_list("number", "derived")
    )

    assert decided == expected
    assert sorted(expected.values()) == sorted(
        ["open"] * 5 + ["partially_paid"] * 9 + ["paid"] * 2
    )
