"""``invoice_create(issue=True)``: created and issued in one call leaves what
``invoice_create`` then ``invoice_issue`` leave — the same invoice, ledger,
receivables summary, email, audit trail and events — and numbers without gaps."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Q

from invoicing.models import Invoice, InvoiceDelivery, LedgerEntry, ReceivablesSummary
from invoicing.services.invoices import LineInput, invoice_create, invoice_issue
from o2c.checks import run_ledger_checks
from o2c.errors import ConflictError, DomainError
from o2c.models import AuditEvent, Event
from orders.models import Customer
from tests.factories import SYSTEM, CustomerFactory, PaymentTermFactory

pytestmark = pytest.mark.django_db
MARCH = date(2026, 3, 2)


@pytest.fixture
def customer(tenant):
    # 2 % discount within 10 days, net 30: the discount is copied on issue.
    term = PaymentTermFactory(days=30, discount_percent=Decimal(2), discount_days=10)
    return CustomerFactory(payment_term=term)


def lines(*prices, tax_rate=19):
    return [
        LineInput(
            description=f"Line {n}",
            quantity=Decimal(3),
            unit_price=Decimal(price),
            tax_rate=Decimal(tax_rate),
        )
        for n, price in enumerate(prices)
    ]


def two_calls(customer, items, **fields):
    draft = invoice_create(
        customer=customer, invoice_date=MARCH, lines=items, actor=SYSTEM, **fields
    )
    return invoice_issue(invoice=draft, actor=SYSTEM)


def one_call(customer, items, **fields):
    return invoice_create(
        customer=customer,
        invoice_date=MARCH,
        lines=items,
        issue=True,
        actor=SYSTEM,
        **fields,
    )


def written(invoice):
    """What a finance person (and a webhook receiver) sees of one invoice; ids,
    numbers and times differ between two invoices, the rest must not."""
    invoice = Invoice.objects.get(pk=invoice.pk)
    number = invoice.number
    row = {
        name: getattr(invoice, name)
        for name in (
            "status", "currency", "invoice_date", "due_date", "subtotal",
            "tax_total", "total", "open_amount", "settled_date",
            "discount_percent", "discount_date", "discount_amount",
        )
    }  # fmt: skip
    row["issued"] = invoice.issued_at is not None
    row["lines"] = list(
        invoice.lines.order_by("position").values_list(
            "position", "description", "net_amount", "tax_amount"
        )
    )
    row["instalments"] = list(
        invoice.instalments.order_by("sequence").values_list("due_date", "amount")
    )
    ledger = [
        (kind, amount, day, memo.replace(number, "<n>"))
        for kind, amount, day, memo in LedgerEntry.objects.filter(
            invoice=invoice
        ).values_list("kind", "amount", "posting_date", "memo")
    ]
    deliveries = list(InvoiceDelivery.objects.filter(invoice=invoice))
    trail = list(
        AuditEvent.objects.filter(
            Q(object_type="invoicing.invoice", object_id=str(invoice.pk))
            | Q(
                object_type="invoicing.invoicedelivery",
                object_id__in=[str(d.pk) for d in deliveries],
            )
        )
        .order_by("pk")
        .values_list("object_type", "action", "from_status", "to_status")
    )
    events = [
        (event.type, _comparable(event.data, number))
        for event in Event.objects.filter(object_id=str(invoice.pk)).order_by("id")
    ]
    return {
        "invoice": row,
        "ledger": ledger,
        "deliveries": [d.status for d in deliveries],
        "trail": trail,
        "events": events,
    }


def _comparable(data, number):
    data = {k: v for k, v in data.items() if k not in ("id", "created_at")}
    data["issued_at"] = data["issued_at"] is not None
    if data["number"] == number:
        data["number"] = "<n>"
    return data


def test_one_call_leaves_what_create_then_issue_leave(customer):
    first = two_calls(customer, lines("100.00", "33.33"))
    second = one_call(customer, lines("100.00", "33.33"))

    assert written(second) == written(first)
    # The figures themselves: 399.99 net, 76.00 tax, 475.99 due in 30 days,
    # 2 % (9.52) off until 12 March, posted once and open in full.
    invoice = written(second)["invoice"]
    assert (invoice["total"], invoice["open_amount"]) == (
        Decimal("475.99"),
        Decimal("475.99"),
    )
    assert (invoice["discount_amount"], invoice["discount_date"]) == (
        Decimal("9.52"),
        date(2026, 3, 12),
    )
    assert written(second)["ledger"] == [
        ("invoice", Decimal("475.99"), MARCH, "Invoice <n>")
    ]
    assert written(second)["trail"] == [
        ("invoicing.invoice", "created", "", "draft"),
        ("invoicing.invoice", "issued", "draft", "open"),
        ("invoicing.invoicedelivery", "requested", "", "pending"),
    ]
    created, issued = written(second)["events"]
    assert created[0] == "invoice.created"
    assert (created[1]["status"], created[1]["number"], created[1]["open_amount"]) == (
        "draft",
        None,
        "0.00",
    )
    assert (issued[0], issued[1]["status"], issued[1]["open_amount"]) == (
        "invoice.issued",
        "open",
        "475.99",
    )
    # Numbered in turn, and the customer's receivables count both invoices.
    assert (first.number, second.number) == ("INV-000001", "INV-000002")
    summary = ReceivablesSummary.objects.get(customer=customer, currency="EUR")
    assert (summary.balance, summary.invoices_open) == (
        Decimal("951.98"),
        Decimal("951.98"),
    )
    assert run_ledger_checks() == []


def test_a_zero_invoice_is_paid_at_once_without_a_ledger_entry(customer):
    first = two_calls(customer, lines("0.00"))
    second = one_call(customer, lines("0.00"))

    assert written(second) == written(first)
    assert written(second)["invoice"]["status"] == "paid"
    assert written(second)["invoice"]["settled_date"] == MARCH
    assert written(second)["ledger"] == []
    assert [event for event, _ in written(second)["events"]] == [
        "invoice.created",
        "invoice.issued",
        "invoice.paid",
    ]


def test_numbered_elsewhere_keeps_its_number_and_shows_it_when_created(customer):
    invoice = one_call(customer, lines("10.00"), number="ERP-77")

    assert invoice.number == "ERP-77"
    created, _ = written(invoice)["events"]
    assert created[1]["number"] == "<n>"  # ERP-77, given at creation


def test_no_email_when_asked(customer):
    invoice = invoice_create(
        customer=customer,
        invoice_date=MARCH,
        lines=lines("10.00"),
        issue=True,
        email=False,
        actor=SYSTEM,
    )
    assert written(invoice)["deliveries"] == []


def test_a_refused_invoice_takes_no_number(customer):
    one_call(customer, lines("10.00"), external_id="ERP-1")
    with pytest.raises(DomainError):
        one_call(customer, lines("-10.00"))  # a negative total is refused
    with pytest.raises(ConflictError):
        one_call(customer, lines("10.00"), external_id="ERP-1")  # a duplicate

    # Nothing of either was written, and the next number follows the first.
    assert Invoice.objects.count() == 1
    assert one_call(customer, lines("10.00")).number == "INV-000002"
    assert run_ledger_checks() == []


def test_one_call_costs_one_statement_per_table_and_no_read_back(
    customer, django_assert_num_queries
):
    customer = Customer.objects.select_related("payment_term").get(pk=customer.pk)
    one_call(customer, lines("1.00"))  # first use creates the sequence
    # savepoint, number, invoice, lines and instalments (one round trip on
    # PostgreSQL), the ledger's writes (debit, open amount, receivables summary:
    # one round trip on PostgreSQL), delivery, audit events and events (one
    # INSERT each, in one round trip on PostgreSQL), release: the draft is not
    # written, locked and read back.
    postgresql = connection.vendor == "postgresql"
    lines_and_instalments, ledger_writes, audit_and_events = (
        (1, 1, 1) if postgresql else (2, 3, 2)
    )
    with django_assert_num_queries(
        5 + lines_and_instalments + ledger_writes + audit_and_events
    ):
        one_call(customer, lines("100.00", "20.00", "5.00"))
