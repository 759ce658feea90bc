"""Invoices and credit notes, and what they post to the receivables ledger."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import CreditNote, Invoice, LedgerEntry
from invoicing.selectors import customer_balances, invoice_open_amount
from invoicing.services.invoices import (
    LineInput,
    credit_note_create,
    credit_note_void,
    fee_post,
    invoice_create,
    invoice_create_from_order,
    invoice_issue,
    invoice_void,
)
from o2c.checks import run_ledger_checks
from o2c.errors import ConflictError, DomainError
from o2c.models import AuditEvent
from orders.services.orders import (
    OrderLineInput,
    fulfillment_create,
    order_confirm,
    order_create,
)
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

S = Invoice.Status
JAN_10 = date(2026, 1, 10)


@pytest.fixture
def customer(tenant):
    return CustomerFactory()


def entries(invoice):
    return list(
        LedgerEntry.objects.filter(invoice=invoice)
        .order_by("pk")
        .values_list("kind", "amount", "posting_date")
    )


def reload(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def draft(customer, *lines, **fields):
    return invoice_create(
        customer=customer,
        invoice_date=fields.pop("invoice_date", JAN_10),
        lines=[
            LineInput(f"Line {i}", Decimal(q), Decimal(p))
            for i, (q, p) in enumerate(lines)
        ]
        or [LineInput("Goods", Decimal(1), Decimal("100.00"))],
        actor=SYSTEM,
        **fields,
    )


def credit(invoice, amount, *, credit_date=None, reason="Damaged goods"):
    return credit_note_create(
        invoice=invoice,
        credit_date=credit_date or invoice.invoice_date,
        reason=reason,
        lines=[LineInput("Credit", Decimal(1), Decimal(amount))],
        actor=SYSTEM,
    )


# --- from sales orders ------------------------------------------------------


@pytest.fixture
def shipped_order(customer):
    order = order_create(
        customer=customer,
        order_date=date(2026, 1, 5),
        lines=[
            OrderLineInput(
                quantity=Decimal(10),
                unit_price=Decimal("7.50"),
                tax_rate=Decimal(19),
                description="Bolts",
            ),
            OrderLineInput(
                quantity=Decimal(3), unit_price=Decimal("100.00"), description="Rail"
            ),
        ],
        actor=SYSTEM,
    )
    order = order_confirm(order=order, actor=SYSTEM)
    bolts, rail = order.lines.all()
    fulfillment_create(
        order=order,
        lines=[(bolts, Decimal(4)), (rail, Decimal(3))],
        shipped_date=date(2026, 1, 8),
        actor=SYSTEM,
    )
    return order


def test_invoice_from_order_bills_only_the_shipped_quantity(shipped_order):
    invoice = invoice_create_from_order(
        order=shipped_order, invoice_date=JAN_10, actor=SYSTEM
    )

    lines = list(
        invoice.lines.values_list("quantity", "unit_price", "net_amount", "tax_amount")
    )
    assert lines == [
        (Decimal(4), Decimal("7.50"), Decimal("30.00"), Decimal("5.70")),
        (Decimal(3), Decimal("100.00"), Decimal("300.00"), Decimal("0.00")),
    ]
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("330.00"),
        Decimal("5.70"),
        Decimal("335.70"),
    )
    assert invoice.status == S.DRAFT
    assert invoice.source == Invoice.Source.ORDER
    assert invoice.sales_order == shipped_order
    assert [line.quantity_invoiced for line in shipped_order.lines.all()] == [
        Decimal(4),
        Decimal(3),
    ]


def test_shipped_quantity_is_never_invoiced_twice(shipped_order):
    invoice_create_from_order(order=shipped_order, invoice_date=JAN_10, actor=SYSTEM)

    with pytest.raises(ConflictError) as refused:
        invoice_create_from_order(
            order=shipped_order, invoice_date=JAN_10, actor=SYSTEM
        )
    assert refused.value.code == "nothing_to_invoice"

    bolts = shipped_order.lines.first()
    with pytest.raises(DomainError) as refused:
        invoice_create_from_order(
            order=shipped_order,
            invoice_date=JAN_10,
            lines=[(bolts, Decimal(1))],
            actor=SYSTEM,
        )
    assert refused.value.code == "exceeds_fulfilled"
    assert refused.value.field == "lines[0].quantity"
    assert Invoice.objects.count() == 1


def test_invoicing_chosen_lines_leaves_the_rest_invoiceable(shipped_order):
    bolts, rail = shipped_order.lines.all()
    first = invoice_create_from_order(
        order=shipped_order,
        invoice_date=JAN_10,
        lines=[(bolts, Decimal(1))],
        actor=SYSTEM,
    )
    with pytest.raises(DomainError) as refused:
        invoice_create_from_order(
            order=shipped_order,
            invoice_date=JAN_10,
            lines=[(rail, Decimal(2)), (bolts, Decimal(4))],
            actor=SYSTEM,
        )
    assert refused.value.field == "lines[1].quantity"
    assert "3 of line 1 are shipped and not invoiced; got 4" in refused.value.message
    rest = invoice_create_from_order(
        order=shipped_order, invoice_date=JAN_10, actor=SYSTEM
    )
    assert first.total == Decimal("8.93")  # 7.50 + 1.43 tax (19 % of 7.50 = 1.425)
    assert rest.total == Decimal("326.78")  # 22.50 + 4.28 tax + 300.00
    assert [line.quantity_invoiced for line in shipped_order.lines.all()] == [
        Decimal(4),
        Decimal(3),
    ]


def test_an_empty_line_selection_is_refused(shipped_order):
    with pytest.raises(DomainError) as refused:
        invoice_create_from_order(
            order=shipped_order, invoice_date=JAN_10, lines=[], actor=SYSTEM
        )
    assert refused.value.field == "lines"
    assert not Invoice.objects.exists()


def test_voiding_an_order_invoice_makes_its_quantities_invoiceable_again(
    shipped_order,
):
    invoice = invoice_create_from_order(
        order=shipped_order, invoice_date=JAN_10, actor=SYSTEM
    )
    invoice_void(invoice=invoice, actor=SYSTEM, reason="wrong address")
    assert [line.quantity_invoiced for line in shipped_order.lines.all()] == [
        Decimal(0),
        Decimal(0),
    ]
    again = invoice_create_from_order(
        order=shipped_order, invoice_date=JAN_10, actor=SYSTEM
    )
    assert again.total == Decimal("335.70")


def test_a_line_of_another_order_cannot_be_invoiced(shipped_order, customer):
    other = order_create(
        customer=customer,
        order_date=JAN_10,
        lines=[
            OrderLineInput(quantity=Decimal(1), unit_price=Decimal(1), description="X")
        ],
        actor=SYSTEM,
    )
    with pytest.raises(DomainError) as refused:
        invoice_create_from_order(
            order=shipped_order,
            invoice_date=JAN_10,
            lines=[(other.lines.get(), Decimal(1))],
            actor=SYSTEM,
        )
    assert refused.value.field == "lines[0].order_line"


# --- direct invoices ---------------------------------------------------------


def test_direct_invoice_totals_with_line_tax(customer):
    invoice = invoice_create(
        customer=customer,
        invoice_date=JAN_10,
        lines=[
            LineInput("Hours", Decimal("7.5"), Decimal("95.00"), tax_rate=Decimal(19)),
            LineInput(
                "Travel", Decimal(1), Decimal("48.30"), tax_amount=Decimal("3.38")
            ),
        ],
        actor=SYSTEM,
    )
    assert (invoice.subtotal, invoice.tax_total, invoice.total) == (
        Decimal("760.80"),
        Decimal("138.76"),  # 135.38 (19 % of 712.50) + 3.38 given
        Decimal("899.56"),
    )
    assert invoice.number is None
    assert invoice.open_amount == 0
    assert invoice.due_date == date(2026, 2, 9)  # the factory's net 30
    assert entries(invoice) == []


def test_direct_invoice_in_jpy_and_kwd_is_exact(customer):
    yen = draft(customer, ("3", "333"), currency="JPY")
    dinar = draft(customer, ("3", "0.333"), currency="KWD")
    assert (yen.currency, yen.total) == ("JPY", Decimal(999))
    assert (dinar.currency, dinar.total) == ("KWD", Decimal("0.999"))
    with pytest.raises(DomainError) as refused:
        draft(customer, ("1", "0.5"), currency="JPY")
    assert refused.value.field == "lines[0].unit_price"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "ZZZ"}, "currency"),
        ({"lines": []}, "lines"),
        ({"lines": [LineInput("", Decimal(1), Decimal(1))]}, "lines[0].description"),
        (
            {"lines": [LineInput("x", Decimal(1), Decimal("1.001"))]},
            "lines[0].unit_price",
        ),
        (
            {"lines": [LineInput("x", Decimal(1), Decimal(1), tax_rate=Decimal(101))]},
            "lines[0].tax_rate",
        ),
    ],
)
def test_invalid_direct_invoices_are_refused(customer, fields, field):
    fields.setdefault("lines", [LineInput("Goods", Decimal(1), Decimal(1))])
    with pytest.raises(DomainError) as refused:
        invoice_create(customer=customer, invoice_date=JAN_10, actor=SYSTEM, **fields)
    assert refused.value.field == field
    assert not Invoice.objects.exists()


def test_external_number_and_id_are_unique(customer):
    draft(customer, number="EXT-1", external_id="erp-1")
    with pytest.raises(ConflictError) as refused:
        draft(customer, number="EXT-1")
    assert refused.value.field == "number"
    with pytest.raises(ConflictError) as refused:
        draft(customer, external_id="erp-1")
    assert refused.value.field == "external_id"
    assert Invoice.objects.count() == 1


# --- issue -------------------------------------------------------------------


def test_issue_numbers_the_invoice_and_posts_one_debit(customer):
    invoice = invoice_issue(invoice=draft(customer, ("2", "60.50")), actor=SYSTEM)

    assert invoice.number == "INV-000001"
    assert invoice.status == S.OPEN
    assert invoice.issued_at is not None
    assert invoice.open_amount == Decimal("121.00")
    assert entries(invoice) == [("invoice", Decimal("121.00"), JAN_10)]
    (balance,) = customer_balances(customer=customer, as_of=JAN_10)
    assert (balance.currency, balance.balance) == ("EUR", Decimal("121.00"))
    event = AuditEvent.objects.get(object_id=str(invoice.pk), action="issued")
    assert (event.from_status, event.to_status) == ("draft", "open")
    assert run_ledger_checks() == []


def test_issue_numbers_in_issue_order_without_gaps(customer):
    first, second, third = (draft(customer) for _ in range(3))
    invoice_issue(invoice=third, actor=SYSTEM)
    invoice_issue(invoice=first, actor=SYSTEM)
    with pytest.raises(ConflictError):
        invoice_issue(invoice=first, actor=SYSTEM)
    invoice_issue(invoice=second, actor=SYSTEM)
    numbers = [reload(i).number for i in (third, first, second)]
    assert numbers == ["INV-000001", "INV-000002", "INV-000003"]
    assert LedgerEntry.objects.count() == 3


def test_issue_keeps_a_number_given_by_another_system(customer):
    invoice = invoice_issue(invoice=draft(customer, number="OLD-77"), actor=SYSTEM)
    assert invoice.number == "OLD-77"
    assert invoice_issue(invoice=draft(customer), actor=SYSTEM).number == "INV-000001"


def test_a_zero_invoice_is_issued_as_paid_without_a_posting(customer):
    invoice = invoice_issue(invoice=draft(customer, ("1", "0.00")), actor=SYSTEM)
    assert invoice.status == S.PAID
    assert invoice.settled_date == JAN_10
    assert entries(invoice) == []
    assert run_ledger_checks() == []


# --- void --------------------------------------------------------------------


def test_a_draft_is_voided_without_touching_the_ledger(customer):
    invoice = invoice_void(invoice=draft(customer), actor=SYSTEM, reason="typo")
    assert invoice.status == S.VOID
    assert invoice.number is None
    assert LedgerEntry.objects.count() == 0
    event = AuditEvent.objects.get(object_id=str(invoice.pk), to_status="void")
    assert (event.from_status, event.data) == ("draft", {"reason": "typo"})


def test_an_issued_invoice_with_nothing_applied_is_voided_by_a_reversal(customer):
    invoice = issued_invoice(customer, "250.00", invoice_date=JAN_10)

    invoice = invoice_void(invoice=invoice, actor=SYSTEM, void_date=date(2026, 1, 20))

    assert invoice.status == S.VOID
    assert reload(invoice).open_amount == 0
    assert entries(invoice) == [
        ("invoice", Decimal("250.00"), JAN_10),
        ("reversal", Decimal("-250.00"), date(2026, 1, 20)),
    ]
    # History still shows the invoice open between issue and void.
    assert invoice_open_amount(invoice=invoice, as_of=date(2026, 1, 19)) == Decimal(
        "250.00"
    )
    (before,) = customer_balances(customer=customer, as_of=date(2026, 1, 19))
    (after,) = customer_balances(customer=customer, as_of=date(2026, 1, 20))
    assert (before.balance, after.balance) == (Decimal("250.00"), Decimal("0.00"))
    assert run_ledger_checks() == []
    with pytest.raises(ConflictError):
        invoice_void(invoice=invoice, actor=SYSTEM)


def test_a_void_cannot_be_dated_before_the_invoice(customer):
    invoice = issued_invoice(customer, "250.00", invoice_date=JAN_10)
    with pytest.raises(DomainError) as refused:
        invoice_void(invoice=invoice, actor=SYSTEM, void_date=date(2026, 1, 9))
    assert refused.value.field == "void_date"
    assert reload(invoice).status == S.OPEN


def test_an_invoice_with_cash_or_credit_applied_cannot_be_voided(customer):
    paid = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    received_payment(customer, "100.00", allocations=[(paid, "100.00")])
    credited = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    credit(credited, "1.00")

    for invoice in (paid, credited):
        with pytest.raises(ConflictError) as refused:
            invoice_void(invoice=invoice, actor=SYSTEM)
        assert refused.value.code == "has_postings"
    assert reload(paid).status == S.PAID
    assert reload(credited).status == S.PARTIALLY_PAID
    assert run_ledger_checks() == []


# --- credit notes ------------------------------------------------------------


def test_credit_note_reduces_the_open_amount(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)

    note = credit(invoice, "30.00", credit_date=date(2026, 1, 12))

    assert note.number == "CN-000001"
    assert (note.total, note.currency) == (Decimal("30.00"), "EUR")
    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status) == (Decimal("70.00"), S.PARTIALLY_PAID)
    assert entries(invoice)[-1] == ("credit_note", Decimal("-30.00"), date(2026, 1, 12))


def test_crediting_the_whole_open_amount_settles_the_invoice(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    credit(invoice, "40.00")
    credit(invoice, "60.00", credit_date=date(2026, 1, 15))
    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status) == (Decimal("0.00"), S.PAID)
    assert invoice.settled_date == date(2026, 1, 15)


def test_credit_beyond_the_open_amount_is_refused_naming_the_lines(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    received_payment(customer, "80.00", allocations=[(invoice, "80.00")])

    with pytest.raises(DomainError) as refused:
        credit(invoice, "20.01", credit_date=date(2026, 1, 20))

    assert refused.value.code == "exceeds_open_amount"
    assert refused.value.field == "lines"
    assert refused.value.message == (
        "Credit 20.01 exceeds the invoice's open amount 20.00 EUR; refund the "
        "payment instead."
    )
    assert not CreditNote.objects.exists()
    assert reload(invoice).open_amount == Decimal("20.00")
    assert credit(invoice, "20.00", credit_date=date(2026, 1, 20)).total == Decimal(
        "20.00"
    )


def test_credit_notes_need_an_issued_invoice_a_reason_and_a_valid_date(customer):
    with pytest.raises(ConflictError):
        credit(draft(customer), "1.00", credit_date=JAN_10)
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    with pytest.raises(DomainError) as refused:
        credit(invoice, "1.00", reason=" ")
    assert refused.value.field == "reason"
    with pytest.raises(DomainError) as refused:
        credit(invoice, "1.00", credit_date=date(2026, 1, 9))
    assert refused.value.field == "credit_date"
    with pytest.raises(DomainError) as refused:
        credit(invoice, "0.00")
    assert refused.value.field == "lines"
    assert not CreditNote.objects.exists()


def test_voiding_a_credit_note_reopens_the_invoice(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    note = credit(invoice, "100.00")
    assert reload(invoice).status == S.PAID

    credit_note_void(credit_note=note, actor=SYSTEM, void_date=date(2026, 1, 31))

    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status) == (Decimal("100.00"), S.OPEN)
    assert invoice.settled_date is None
    assert invoice_open_amount(invoice=invoice, as_of=date(2026, 1, 30)) == 0
    with pytest.raises(ConflictError):
        credit_note_void(credit_note=note, actor=SYSTEM)
    assert run_ledger_checks() == []


# --- fees --------------------------------------------------------------------


def fee(invoice, amount, posting_date=date(2026, 2, 20)):
    return fee_post(
        invoice=invoice,
        amount=Decimal(amount),
        posting_date=posting_date,
        memo="Reminder fee",
        document_type="tests.fee",
        document_id=1,
        actor=SYSTEM,
    )


def test_a_fee_raises_the_open_amount(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    entry = fee(invoice, "5.00")
    assert (entry.kind, entry.amount) == ("fee", Decimal("5.00"))
    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status) == (Decimal("105.00"), S.OPEN)
    assert run_ledger_checks() == []


def test_a_fee_on_a_settled_invoice_reopens_it_partially(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    received_payment(customer, "100.00", allocations=[(invoice, "100.00")])
    fee(invoice, "5.00")
    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status) == (Decimal("5.00"), S.PARTIALLY_PAID)
    assert invoice.settled_date is None


@pytest.mark.parametrize("amount", ["0", "-5.00", "5.001"])
def test_a_fee_must_be_positive_and_exact(customer, amount):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    with pytest.raises(DomainError) as refused:
        fee(invoice, amount)
    assert refused.value.field == "amount"
    assert reload(invoice).open_amount == Decimal("100.00")


def test_fees_are_only_charged_on_issued_invoices(customer):
    void = invoice_void(invoice=issued_invoice(customer, "10.00"), actor=SYSTEM)
    for invoice in (draft(customer), void):
        with pytest.raises(ConflictError) as refused:
            fee(invoice, "5.00")
        assert refused.value.field == "invoice"
        assert reload(invoice).open_amount == 0
    assert run_ledger_checks() == []


def test_a_fee_cannot_be_dated_before_its_invoice(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    with pytest.raises(DomainError) as refused:
        fee(invoice, "5.00", posting_date=date(2026, 1, 9))
    assert refused.value.field == "posting_date"
    assert LedgerEntry.objects.filter(kind="fee").count() == 0
