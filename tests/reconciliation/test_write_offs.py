"""Write-offs of small differences, within the organization's limit."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import Invoice, LedgerEntry
from invoicing.selectors import customer_balances, invoice_open_amount
from invoicing.services.invoices import fee_post
from o2c.checks import run_ledger_checks
from o2c.errors import ConflictError, DomainError
from o2c.models import Role
from o2c.services import Actor
from reconciliation.models import WriteOff
from reconciliation.services.payments import write_off_create, write_off_reverse
from tests.factories import CustomerFactory, issued_invoice, received_payment

FINANCE = Actor(label="clerk@example.com", role=Role.FINANCE)
ADMIN = Actor(label="cfo@example.com", role=Role.ADMIN)
JAN_10, JAN_31 = date(2026, 1, 10), date(2026, 1, 31)


@pytest.fixture
def customer(tenant):
    tenant.write_off_limit = Decimal("5.00")
    tenant.save()
    return CustomerFactory()


@pytest.fixture
def short_paid(customer):
    """Invoiced 100.00, paid 96.00: 4.00 left that nobody will pay."""
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    received_payment(
        customer,
        "96.00",
        received_date=date(2026, 1, 20),
        allocations=[(invoice, "96.00")],
    )
    return Invoice.objects.get(pk=invoice.pk)


def write_off(invoice, amount, *, actor=FINANCE, on=JAN_31, reason="Bank charges"):
    return write_off_create(
        invoice=invoice,
        amount=Decimal(amount),
        write_off_date=on,
        reason=reason,
        actor=actor,
    )


def test_write_off_within_the_limit_settles_the_invoice(customer, short_paid):
    written = write_off(short_paid, "4.00")

    assert (written.amount, written.currency, written.status) == (
        Decimal("4.00"),
        "EUR",
        WriteOff.Status.POSTED,
    )
    invoice = Invoice.objects.get(pk=short_paid.pk)
    assert (invoice.open_amount, invoice.status, invoice.settled_date) == (
        Decimal("0.00"),
        Invoice.Status.PAID,
        JAN_31,
    )
    entry = LedgerEntry.objects.get(kind="write_off")
    assert (entry.amount, entry.posting_date, entry.memo) == (
        Decimal("-4.00"),
        JAN_31,
        "Write-off: Bank charges",
    )
    (balance,) = customer_balances(customer=customer, as_of=JAN_31)
    assert balance.balance == Decimal("0.00")
    assert invoice_open_amount(invoice=invoice, as_of=date(2026, 1, 30)) == Decimal(
        "4.00"
    )
    assert run_ledger_checks() == []


def test_exactly_the_limit_is_allowed(short_paid):
    invoice = issued_invoice(short_paid.customer, "5.00", invoice_date=JAN_10)
    write_off(invoice, "5.00")
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


def test_above_the_limit_needs_an_admin(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)

    with pytest.raises(DomainError) as refused:
        write_off(invoice, "5.01")

    assert refused.value.code == "over_write_off_limit"
    assert refused.value.field == "amount"
    assert refused.value.message == "Write-offs above 5.00 EUR need an admin."
    assert not WriteOff.objects.exists()
    assert Invoice.objects.get(pk=invoice.pk).open_amount == Decimal("100.00")

    write_off(invoice, "5.01", actor=ADMIN)
    assert Invoice.objects.get(pk=invoice.pk).open_amount == Decimal("94.99")


def test_no_limit_configured_means_no_limit_check(tenant):
    customer = CustomerFactory()
    invoice = issued_invoice(customer, "1000.00", invoice_date=JAN_10)
    write_off(invoice, "1000.00")
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID


def test_write_off_beyond_the_open_amount_is_refused(short_paid):
    with pytest.raises(DomainError) as refused:
        write_off(short_paid, "4.01")
    assert refused.value.code == "exceeds_open_amount"
    assert refused.value.message == (
        f"Invoice {short_paid.number} has 4.00 EUR open; got 4.01."
    )
    assert not WriteOff.objects.exists()


@pytest.mark.parametrize(
    ("amount", "fields", "field"),
    [
        ("0", {}, "amount"),
        ("-1.00", {}, "amount"),
        ("1.005", {}, "amount"),
        ("1.00", {"reason": "  "}, "reason"),
        ("1.00", {"on": date(2026, 1, 9)}, "write_off_date"),
    ],
)
def test_invalid_write_offs_are_refused(short_paid, amount, fields, field):
    with pytest.raises(DomainError) as refused:
        write_off(short_paid, amount, **fields)
    assert refused.value.field == field
    assert not WriteOff.objects.exists()
    assert not LedgerEntry.objects.filter(kind="write_off").exists()


def test_back_dated_write_off_cannot_make_history_negative(short_paid):
    fee_post(
        invoice=short_paid,
        amount=Decimal("10.00"),
        posting_date=date(2026, 2, 1),
        memo="Reminder fee",
        document_type="tests.fee",
        document_id=1,
        actor=FINANCE,
    )
    # 14.00 is open now, but on 25 January only 4.00 was.
    with pytest.raises(DomainError) as refused:
        write_off(short_paid, "5.00", on=date(2026, 1, 25))
    assert refused.value.code == "exceeds_open_amount"
    assert "(by 1.00 as of 2026-01-25)" in refused.value.message
    assert not WriteOff.objects.exists()
    write_off(short_paid, "5.00", on=date(2026, 2, 1))
    assert Invoice.objects.get(pk=short_paid.pk).open_amount == Decimal("9.00")
    assert run_ledger_checks() == []


def test_reversing_a_write_off_reopens_the_invoice(short_paid):
    written = write_off(short_paid, "4.00")

    write_off_reverse(write_off=written, reversal_date=date(2026, 2, 5), actor=FINANCE)

    invoice = Invoice.objects.get(pk=short_paid.pk)
    assert (invoice.open_amount, invoice.status) == (
        Decimal("4.00"),
        Invoice.Status.PARTIALLY_PAID,
    )
    assert WriteOff.objects.get(pk=written.pk).status == WriteOff.Status.REVERSED
    assert invoice_open_amount(invoice=invoice, as_of=date(2026, 2, 4)) == 0
    with pytest.raises(ConflictError):
        write_off_reverse(
            write_off=written, reversal_date=date(2026, 2, 5), actor=FINANCE
        )
    assert run_ledger_checks() == []


def test_write_off_in_kwd_is_exact_to_the_fils(tenant):
    customer = CustomerFactory(currency="KWD")
    invoice = issued_invoice(customer, "10.250", invoice_date=JAN_10)
    received_payment(customer, "10.247", allocations=[(invoice, "10.247")])
    write_off(invoice, "0.003")
    assert Invoice.objects.get(pk=invoice.pk).open_amount == Decimal("0.000")
    assert run_ledger_checks() == []
