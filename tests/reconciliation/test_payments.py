"""Payments, allocations and reversals, checked the way a finance team checks them."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from invoicing.models import Invoice, LedgerEntry
from invoicing.selectors import customer_balances, invoice_open_amount
from invoicing.services.invoices import LineInput, credit_note_create, fee_post
from o2c.checks import run_ledger_checks
from o2c.errors import ConflictError, DomainError
from o2c.models import AuditEvent, Sequence
from reconciliation.models import Allocation, Payment
from reconciliation.services.payments import (
    AllocationInput,
    allocation_create,
    allocation_reverse,
    payment_create,
    payment_reverse,
)
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

S = Invoice.Status
JAN_10, JAN_15, JAN_20, FEB_1 = (
    date(2026, 1, 10),
    date(2026, 1, 15),
    date(2026, 1, 20),
    date(2026, 2, 1),
)


@pytest.fixture
def customer(tenant):
    return CustomerFactory()


def reload(obj):
    return type(obj).objects.get(pk=obj.pk)


def balance(customer, as_of):
    """(balance, invoices open, unapplied cash) in the customer's only currency."""
    rows = customer_balances(customer=customer, as_of=as_of)
    if not rows:
        return (Decimal(0), Decimal(0), Decimal(0))
    (row,) = rows
    return (row.balance, row.invoices_open, row.unapplied_cash)


def balances_by_day(customer, start, end):
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return {day: customer_balances(customer=customer, as_of=day) for day in days}


def ledger_snapshot():
    return (
        LedgerEntry.objects.count(),
        Allocation.objects.count(),
        Payment.objects.count(),
        list(Invoice.objects.order_by("pk").values_list("open_amount", "status")),
        list(Payment.objects.order_by("pk").values_list("unapplied_amount", "status")),
    )


def test_sixty_percent_then_the_rest_plus_ten(customer):
    invoice = issued_invoice(customer, "1000.00", invoice_date=JAN_10)

    first = received_payment(
        customer, "600.00", received_date=JAN_15, allocations=[(invoice, "600.00")]
    )
    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status) == (
        Decimal("400.00"),
        S.PARTIALLY_PAID,
    )
    assert first.unapplied_amount == Decimal("0.00")

    second = received_payment(
        customer, "410.00", received_date=JAN_20, allocations=[(invoice, "400.00")]
    )

    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status) == (Decimal("0.00"), S.PAID)
    assert invoice.settled_date == JAN_20
    assert second.unapplied_amount == Decimal("10.00")
    assert (first.number, second.number) == ("PAY-000001", "PAY-000002")
    assert balance(customer, JAN_10) == (Decimal("1000.00"), Decimal("1000.00"), 0)
    assert balance(customer, JAN_15) == (Decimal("400.00"), Decimal("400.00"), 0)
    assert balance(customer, JAN_20) == (
        Decimal("-10.00"),
        Decimal("0.00"),
        Decimal("10.00"),
    )
    assert [
        (e.from_status, e.to_status)
        for e in AuditEvent.objects.filter(
            object_type="invoicing.invoice", object_id=str(invoice.pk)
        ).order_by("pk")
    ] == [
        ("", "draft"),
        ("draft", "open"),
        ("open", "partially_paid"),
        ("partially_paid", "paid"),
    ]
    assert run_ledger_checks() == []


def test_unapplied_cash_can_be_allocated_later(customer):
    payment = received_payment(customer, "150.00", received_date=JAN_10)
    assert payment.unapplied_amount == Decimal("150.00")
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_15)

    allocation = allocation_create(
        payment=payment, invoice=invoice, amount=Decimal("100.00"), actor=SYSTEM
    )

    assert allocation.allocation_date == JAN_15  # not before the invoice existed
    assert reload(payment).unapplied_amount == Decimal("50.00")
    assert reload(invoice).status == S.PAID
    # An allocation moves cash from the account to the invoice: balance unchanged.
    assert balance(customer, JAN_10) == (Decimal("-150.00"), 0, Decimal("150.00"))
    assert balance(customer, JAN_15) == (Decimal("-50.00"), 0, Decimal("50.00"))
    assert run_ledger_checks() == []


def test_allocation_beyond_the_open_amount_is_refused_and_writes_nothing(customer):
    small = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    large = issued_invoice(customer, "500.00", invoice_date=JAN_10)
    before = ledger_snapshot()

    with pytest.raises(DomainError) as refused:
        received_payment(
            customer,
            "700.00",
            received_date=JAN_15,
            allocations=[(large, "500.00"), (small, "100.01")],
        )

    assert refused.value.code == "exceeds_open_amount"
    assert refused.value.field == "allocations[1].amount"
    assert ledger_snapshot() == before
    assert not Payment.objects.exists()
    assert not Allocation.objects.exists()
    assert not Sequence.objects.filter(name="payment").exists()
    assert received_payment(customer, "1.00").number == "PAY-000001"


def test_allocation_beyond_the_unapplied_cash_is_refused_and_writes_nothing(customer):
    invoice = issued_invoice(customer, "500.00", invoice_date=JAN_10)
    payment = received_payment(
        customer, "300.00", received_date=JAN_15, allocations=[(invoice, "200.00")]
    )
    before = ledger_snapshot()

    with pytest.raises(DomainError) as refused:
        allocation_create(
            payment=payment, invoice=invoice, amount=Decimal("100.01"), actor=SYSTEM
        )

    assert refused.value.code == "exceeds_unapplied"
    assert refused.value.field == "amount"
    assert refused.value.message == (
        "Only 100.00 EUR of payment PAY-000001 is unapplied; got 100.01."
    )
    assert ledger_snapshot() == before
    assert Allocation.objects.count() == 1


def test_payment_whose_allocations_exceed_its_amount_is_refused(customer):
    first = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    second = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    with pytest.raises(DomainError) as refused:
        received_payment(
            customer, "150.00", allocations=[(first, "100.00"), (second, "50.01")]
        )
    assert refused.value.code == "exceeds_unapplied"
    assert refused.value.field == "allocations[1].amount"
    assert LedgerEntry.objects.exclude(kind="invoice").count() == 0
    assert not Payment.objects.exists()


def test_currency_mismatch_is_refused(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    before = ledger_snapshot()
    with pytest.raises(DomainError) as refused:
        received_payment(
            customer, "100.00", currency="USD", allocations=[(invoice, "100.00")]
        )
    assert refused.value.code == "currency_mismatch"
    assert refused.value.field == "allocations[0].invoice"
    assert ledger_snapshot() == before


def test_cash_of_one_customer_cannot_settle_another(customer):
    invoice = issued_invoice(CustomerFactory(), "100.00", invoice_date=JAN_10)
    payment = received_payment(customer, "100.00")
    with pytest.raises(DomainError) as refused:
        allocation_create(
            payment=payment, invoice=invoice, amount=Decimal("1.00"), actor=SYSTEM
        )
    assert refused.value.code == "customer_mismatch"
    assert reload(invoice).open_amount == Decimal("100.00")


@pytest.mark.parametrize(
    ("amount", "code"), [("0.00", "invalid_amount"), ("-5.00", "invalid_amount")]
)
def test_allocation_amount_must_be_positive(customer, amount, code):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    payment = received_payment(customer, "100.00")
    with pytest.raises(DomainError) as refused:
        allocation_create(
            payment=payment, invoice=invoice, amount=Decimal(amount), actor=SYSTEM
        )
    assert (refused.value.code, refused.value.field) == (code, "amount")


def test_payment_amount_must_be_positive_and_exact(customer):
    for amount in ("0", "-1.00", "1.005"):
        with pytest.raises(DomainError) as refused:
            received_payment(customer, amount)
        assert refused.value.field == "amount"
    assert not Payment.objects.exists()


def test_draft_invoices_take_no_cash(customer):
    from invoicing.services.invoices import invoice_create

    draft = invoice_create(
        customer=customer,
        invoice_date=JAN_10,
        lines=[LineInput("Goods", Decimal(1), Decimal(100))],
        actor=SYSTEM,
    )
    with pytest.raises(DomainError) as refused:
        received_payment(customer, "100.00", allocations=[(draft, "100.00")])
    assert refused.value.field == "allocations[0].invoice"


def test_an_allocation_cannot_be_dated_before_the_payment(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    payment = received_payment(customer, "100.00", received_date=JAN_20)
    with pytest.raises(DomainError) as refused:
        allocation_create(
            payment=payment,
            invoice=invoice,
            amount=Decimal("10.00"),
            allocation_date=JAN_15,
            actor=SYSTEM,
        )
    assert refused.value.field == "allocation_date"


def test_duplicate_external_id_is_refused(customer):
    payment_create(
        customer=customer,
        amount="10.00",
        currency="EUR",
        received_date=JAN_10,
        external_id="bank-123",
        actor=SYSTEM,
    )
    with pytest.raises(ConflictError) as refused:
        payment_create(
            customer=customer,
            amount="10.00",
            currency="EUR",
            received_date=JAN_10,
            external_id="bank-123",
            actor=SYSTEM,
        )
    assert refused.value.field == "external_id"
    assert Payment.objects.count() == 1
    assert LedgerEntry.objects.count() == 1


def test_allocation_reversal_returns_cash_to_the_account(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    payment = received_payment(
        customer, "100.00", received_date=JAN_15, allocations=[(invoice, "100.00")]
    )
    allocation = payment.allocations.get()

    allocation_reverse(allocation=allocation, reversal_date=JAN_20, actor=SYSTEM)

    assert reload(allocation).status == Allocation.Status.REVERSED
    assert reload(payment).unapplied_amount == Decimal("100.00")
    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status, invoice.settled_date) == (
        Decimal("100.00"),
        S.OPEN,
        None,
    )
    assert invoice_open_amount(invoice=invoice, as_of=JAN_15) == 0
    assert invoice_open_amount(invoice=invoice, as_of=JAN_20) == Decimal("100.00")
    assert balance(customer, JAN_20) == (
        Decimal("0.00"),
        Decimal("100.00"),
        Decimal("100.00"),
    )
    with pytest.raises(ConflictError):
        allocation_reverse(allocation=allocation, reversal_date=JAN_20, actor=SYSTEM)
    other = received_payment(customer, "10.00", received_date=JAN_20)
    late = allocation_create(
        payment=other, invoice=invoice, amount=Decimal("10.00"), actor=SYSTEM
    )
    with pytest.raises(DomainError) as refused:
        allocation_reverse(allocation=late, reversal_date=JAN_15, actor=SYSTEM)
    assert refused.value.field == "reversal_date"
    assert Allocation.objects.get(pk=late.pk).status == Allocation.Status.ACTIVE
    assert run_ledger_checks() == []


def test_payment_reversal_restores_invoices_and_leaves_history_alone(customer):
    first = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    second = issued_invoice(customer, "200.00", invoice_date=JAN_10)
    payment = received_payment(
        customer,
        "250.00",
        received_date=JAN_15,
        allocations=[(first, "100.00"), (second, "120.00")],
    )
    assert payment.unapplied_amount == Decimal("30.00")
    history = balances_by_day(customer, date(2026, 1, 1), date(2026, 2, 28))

    payment = payment_reverse(
        payment=payment, reversal_date=FEB_1, reason="Returned by bank", actor=SYSTEM
    )

    assert payment.status == Payment.Status.REVERSED
    assert reload(payment).unapplied_amount == 0
    assert reload(payment).reversal_reason == "Returned by bank"
    assert set(payment.allocations.values_list("status", flat=True)) == {"reversed"}
    assert [(reload(i).open_amount, reload(i).status) for i in (first, second)] == [
        (Decimal("100.00"), S.OPEN),
        (Decimal("200.00"), S.OPEN),
    ]
    after = balances_by_day(customer, date(2026, 1, 1), date(2026, 2, 28))
    for day, rows in history.items():
        if day < FEB_1:
            assert after[day] == rows, day
        else:
            assert balance(customer, day) == (Decimal("300.00"), Decimal("300.00"), 0)
    assert history[JAN_15][0].balance == Decimal("50.00")
    assert run_ledger_checks() == []


def test_payment_reversal_cannot_predate_its_allocations_or_repeat(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    payment = received_payment(customer, "100.00", received_date=JAN_10)
    allocation_create(
        payment=payment,
        invoice=invoice,
        amount=Decimal("40.00"),
        allocation_date=JAN_20,
        actor=SYSTEM,
    )
    before = ledger_snapshot()
    with pytest.raises(DomainError) as refused:
        payment_reverse(payment=payment, reversal_date=JAN_15, actor=SYSTEM)
    assert refused.value.field == "reversal_date"
    assert ledger_snapshot() == before

    payment_reverse(payment=payment, reversal_date=JAN_20, actor=SYSTEM)
    with pytest.raises(ConflictError):
        payment_reverse(payment=payment, reversal_date=FEB_1, actor=SYSTEM)
    with pytest.raises(ConflictError):
        allocation_create(
            payment=payment, invoice=invoice, amount=Decimal("1.00"), actor=SYSTEM
        )
    assert run_ledger_checks() == []


def test_back_dated_credit_note_shows_in_as_of_balances(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    received_payment(
        customer, "60.00", received_date=JAN_20, allocations=[(invoice, "60.00")]
    )

    credit_note_create(
        invoice=invoice,
        credit_date=JAN_15,
        reason="Price agreed lower",
        lines=[LineInput("Discount", Decimal(1), Decimal("40.00"))],
        actor=SYSTEM,
    )

    assert [
        balance(customer, day)[0] for day in (JAN_10, date(2026, 1, 14), JAN_15, JAN_20)
    ] == [Decimal("100.00"), Decimal("100.00"), Decimal("60.00"), Decimal("0.00")]
    invoice = reload(invoice)
    assert (invoice.open_amount, invoice.status, invoice.settled_date) == (
        Decimal("0.00"),
        S.PAID,
        JAN_20,
    )
    assert run_ledger_checks() == []


def test_back_dated_credit_that_would_make_history_negative_is_refused(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    received_payment(
        customer, "90.00", received_date=JAN_15, allocations=[(invoice, "90.00")]
    )
    fee_post(
        invoice=invoice,
        amount=Decimal("50.00"),
        posting_date=FEB_1,
        memo="Late fee",
        document_type="tests.fee",
        document_id=1,
        actor=SYSTEM,
    )
    assert reload(invoice).open_amount == Decimal("60.00")
    before = ledger_snapshot()

    # 30 is less than today's 60 open, but on 15 January only 10 were open.
    with pytest.raises(DomainError) as refused:
        credit_note_create(
            invoice=invoice,
            credit_date=date(2026, 1, 12),
            reason="Back-dated discount",
            lines=[LineInput("Discount", Decimal(1), Decimal("30.00"))],
            actor=SYSTEM,
        )

    assert refused.value.code == "exceeds_open_amount"
    assert refused.value.field == "lines"
    assert refused.value.message == (
        "This would take the invoice's open amount below zero "
        "(by 20.00 as of 2026-01-15)."
    )
    assert ledger_snapshot() == before
    assert invoice.credit_notes.count() == 0
    # Dated after the fee it fits.
    credit_note_create(
        invoice=invoice,
        credit_date=FEB_1,
        reason="Fee waived in part",
        lines=[LineInput("Discount", Decimal(1), Decimal("30.00"))],
        actor=SYSTEM,
    )
    assert reload(invoice).open_amount == Decimal("30.00")
    assert run_ledger_checks() == []


def test_back_dated_allocation_cannot_spend_cash_before_it_arrived(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    payment = received_payment(customer, "100.00", received_date=JAN_20)
    # The service refuses the date directly; the ledger would refuse it too.
    with pytest.raises(DomainError):
        allocation_create(
            payment=payment,
            invoice=invoice,
            amount=Decimal("100.00"),
            allocation_date=JAN_15,
            actor=SYSTEM,
        )
    assert reload(payment).unapplied_amount == Decimal("100.00")


def test_jpy_and_kwd_payments_stay_exact(customer):
    yen = issued_invoice(customer, "10001", invoice_date=JAN_10, currency="JPY")
    dinar = issued_invoice(customer, "12.345", invoice_date=JAN_10, currency="KWD")
    received_payment(customer, "5000", currency="JPY", allocations=[(yen, "5000")])
    received_payment(
        customer, "12.346", currency="KWD", allocations=[(dinar, "12.345")]
    )
    with pytest.raises(DomainError):
        received_payment(customer, "1.5", currency="JPY")
    rows = {
        row.currency: (row.balance, row.unapplied_cash)
        for row in customer_balances(customer=customer, as_of=JAN_20)
    }
    assert rows == {
        "JPY": (Decimal("5001"), Decimal("0")),
        "KWD": (Decimal("-0.001"), Decimal("0.001")),
    }
    assert run_ledger_checks() == []


def test_allocations_with_payment_create_use_allocation_inputs(customer):
    invoice = issued_invoice(customer, "80.00", invoice_date=JAN_10)
    payment = payment_create(
        customer=customer,
        amount="80.00",
        currency="eur",
        received_date=JAN_15,
        allocations=[AllocationInput(invoice, Decimal("80.00"))],
        actor=SYSTEM,
    )
    assert (payment.currency, payment.unapplied_amount) == ("EUR", Decimal("0.00"))
    assert reload(invoice).status == S.PAID


def test_payment_reversal_waits_for_its_allocation_reversals(customer):
    invoice = issued_invoice(customer, "100.00", invoice_date=JAN_10)
    payment = received_payment(
        customer, "100.00", received_date=JAN_10, allocations=[(invoice, "100.00")]
    )
    allocation_reverse(
        allocation=payment.allocations.get(), reversal_date=FEB_1, actor=SYSTEM
    )
    # The cash sat on the invoice until 1 February; it was not on account before.
    with pytest.raises(DomainError) as refused:
        payment_reverse(payment=payment, reversal_date=JAN_20, actor=SYSTEM)
    assert refused.value.field == "reversal_date"
    assert "2026-02-01" in refused.value.message
    payment_reverse(payment=payment, reversal_date=FEB_1, actor=SYSTEM)
    assert reload(payment).unapplied_amount == 0
    assert run_ledger_checks() == []


def test_unknown_payment_method_is_refused(customer):
    with pytest.raises(DomainError) as refused:
        payment_create(
            customer=customer,
            amount="10.00",
            currency="EUR",
            received_date=JAN_10,
            method="bitcoin",
            actor=SYSTEM,
        )
    assert refused.value.field == "method"
    assert not Payment.objects.exists()
