"""The matching engine, case by case, as the finance team would check it: which
invoice got how much, what was written off, what stayed on account, and why."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import Invoice
from invoicing.references import payment_reference
from o2c.checks import run_ledger_checks
from o2c.models import AuditEvent, WebhookDelivery, WebhookEndpoint
from reconciliation.models import (
    CustomerBankAccount,
    MatchSuggestion,
    Payment,
    StatementLine,
    WriteOff,
)
from reconciliation.services.bank_accounts import reconciliation_settings_update
from reconciliation.services.lines import line_undo
from reconciliation.services.matching import lines_match
from tests.factories import SYSTEM, CustomerFactory, issued_invoice
from tests.reconciliation.bank import entry, import_statements, main_account, statement

L = StatementLine.Status
JAN = date(2026, 1, 10)


@pytest.fixture
def account(tenant):
    return main_account()


@pytest.fixture
def customer(tenant):
    return CustomerFactory(name="Hanse Logistik GmbH")


def receive(account, *entries):
    """Import the entries as one statement and run the matching over them."""
    result = import_statements(account, [statement(list(entries))])
    lines_match(line_ids=result.new_credit_line_ids)
    return [StatementLine.objects.get(pk=pk) for pk in result.new_credit_line_ids]


def open_amount(invoice):
    invoice.refresh_from_db()
    return invoice.open_amount


def test_payment_reference_and_amount_apply_automatically_with_reasons(
    account, customer
):
    invoice = issued_invoice(customer, "480.00", invoice_date=JAN)
    endpoint = WebhookEndpoint.objects.create(
        organization=account.organization,
        url="https://erp.example.com/hooks",
        secret="s",
        events=["payment.received", "payment.applied"],
    )

    (line,) = receive(
        account,
        entry(
            "480.00",
            structured_reference=payment_reference(invoice).replace(" ", ""),
            payer_account="DE02120300000000202051",
            payer_name="Hanse Logistik",
        ),
    )

    assert line.status == L.MATCHED_AUTO
    assert line.confidence == 99
    assert "payment reference names " + invoice.number in line.match_reason
    assert "amount equals the open amount" in line.match_reason
    assert open_amount(invoice) == 0
    assert line.payments.get().customer == customer
    assert line.matched_by == "matching engine"
    # Learnt: the payer's account now points at the customer.
    assert CustomerBankAccount.objects.get().customer == customer
    events = set(
        WebhookDelivery.objects.filter(endpoint=endpoint).values_list(
            "event__type", flat=True
        )
    )
    assert events == {"payment.received", "payment.applied"}
    assert AuditEvent.objects.filter(
        object_type="reconciliation.statementline", action="matched"
    ).exists()


def test_several_invoice_numbers_in_free_text(account, customer):
    first = issued_invoice(customer, "100.00", invoice_date=JAN)
    second = issued_invoice(customer, "250.00", invoice_date=JAN)
    digits = [int(i.number.split("-")[1]) for i in (first, second)]

    (line,) = receive(
        account,
        entry("350.00", remittance=f"Rechnung Nr. {digits[0]} und {digits[1]} Danke"),
    )

    assert line.status == L.MATCHED_AUTO
    assert (open_amount(first), open_amount(second)) == (0, 0)


def test_short_payment_within_tolerance_is_written_off(account, customer):
    reconciliation_settings_update(
        short_payment_tolerance_amounts={"EUR": "5.00"}, actor=SYSTEM
    )
    invoice = issued_invoice(customer, "1000.00", invoice_date=JAN)

    (line,) = receive(account, entry("997.50", remittance=f"Invoice {invoice.number}"))

    assert line.status == L.MATCHED_AUTO
    assert open_amount(invoice) == 0
    write_off = WriteOff.objects.get()
    assert (write_off.amount, write_off.invoice) == (Decimal("2.50"), invoice)
    assert "short by 2.50 EUR" in line.match_reason


def test_short_payment_left_open_by_setting(account, customer):
    reconciliation_settings_update(
        short_payment_tolerance_percent=Decimal("1"),
        short_payment_action="leave_open",
        actor=SYSTEM,
    )
    invoice = issued_invoice(customer, "1000.00", invoice_date=JAN)

    (line,) = receive(account, entry("995.00", remittance=f"Invoice {invoice.number}"))

    assert line.status == L.MATCHED_AUTO
    assert open_amount(invoice) == Decimal("5.00")
    assert not WriteOff.objects.exists()


def test_short_payment_beyond_tolerance_waits_in_the_queue(account, customer):
    invoice = issued_invoice(customer, "1000.00", invoice_date=JAN)

    (line,) = receive(account, entry("600.00", remittance=f"Invoice {invoice.number}"))

    assert line.status == L.NEEDS_REVIEW
    assert open_amount(invoice) == Decimal("1000.00")
    best = line.suggestions.first()
    assert best.invoices[0]["amount"] == "600.00"
    assert "partial payment" in " ".join(best.reasons)


def test_overpayment_keeps_the_rest_on_the_customers_account(account, customer):
    invoice = issued_invoice(customer, "200.00", invoice_date=JAN)

    (line,) = receive(
        account,
        entry("230.00", structured_reference=payment_reference(invoice)),
    )

    assert line.status == L.MATCHED_AUTO
    assert open_amount(invoice) == 0
    assert line.payments.get().unapplied_amount == Decimal("30.00")


def test_other_currency_goes_to_the_queue_with_the_reason(account, customer):
    invoice = issued_invoice(customer, "200.00", invoice_date=JAN)

    (line,) = receive(
        account,
        entry("200.00", currency="USD", remittance=f"Invoice {invoice.number}"),
    )

    assert line.status == L.NEEDS_REVIEW
    assert f"invoice {invoice.number} is in EUR; the payment is in USD" in (
        line.match_reason
    )
    assert open_amount(invoice) == Decimal("200.00")


def test_amount_alone_is_only_a_suggestion(account, customer):
    invoice = issued_invoice(customer, "123.45", invoice_date=JAN)

    (line,) = receive(account, entry("123.45", payer_name="Somebody Else"))

    assert line.status == L.NEEDS_REVIEW
    (suggestion,) = MatchSuggestion.objects.filter(line=line)
    assert suggestion.invoices[0]["invoice"] == invoice.pk
    assert suggestion.confidence < 95


def test_two_candidates_too_close_stay_in_the_queue(account, customer):
    reconciliation_settings_update(auto_apply_threshold=40, actor=SYSTEM)
    issued_invoice(customer, "80.00", invoice_date=JAN)
    issued_invoice(CustomerFactory(), "80.00", invoice_date=JAN)

    (line,) = receive(account, entry("80.00"))

    assert line.status == L.NEEDS_REVIEW
    assert "less than the margin" in line.match_reason
    assert line.suggestions.count() == 2


def test_known_payer_pays_a_sum_of_open_invoices(account, customer):
    a = issued_invoice(customer, "40.00", invoice_date=date(2026, 1, 2))
    b = issued_invoice(customer, "65.00", invoice_date=date(2026, 1, 5))
    issued_invoice(customer, "99.00", invoice_date=date(2026, 1, 7))
    CustomerBankAccount.objects.create(
        organization=account.organization,
        customer=customer,
        account="DE02120300000000202051",
        confirmed=True,
    )

    (line,) = receive(
        account, entry("105.00", payer_account="DE02 1203 0000 0000 2020 51")
    )

    best = line.suggestions.first()
    assert {item["invoice"] for item in best.invoices} == {a.pk, b.pk}
    assert f"amount is the sum of {a.number}, {b.number}" in best.reasons


def test_paid_invoice_named_again_is_not_applied_elsewhere(account, customer):
    invoice = issued_invoice(customer, "70.00", invoice_date=JAN)
    issued_invoice(customer, "70.00", invoice_date=JAN)
    text = f"Invoice {invoice.number}"
    first, second = receive(
        account,
        entry("70.00", remittance=text, bank_reference="P1"),
        entry("70.00", remittance=text, bank_reference="P2"),
    )

    assert first.status == L.MATCHED_AUTO
    assert second.status == L.NEEDS_REVIEW
    assert f"invoice {invoice.number} is paid (a second payment?)" in (
        second.match_reason
    )


def test_undo_reverses_the_automatic_match_and_requeues_the_line(account, customer):
    reconciliation_settings_update(
        short_payment_tolerance_amounts={"EUR": "5.00"}, actor=SYSTEM
    )
    invoice = issued_invoice(customer, "500.00", invoice_date=JAN)
    (line,) = receive(account, entry("498.00", remittance=f"INV {invoice.number}"))
    assert line.status == L.MATCHED_AUTO

    line = line_undo(line=line, actor=SYSTEM)

    assert line.status == L.NEW
    assert open_amount(invoice) == Decimal("500.00")
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.OPEN
    assert Payment.objects.get().status == Payment.Status.REVERSED
    assert WriteOff.objects.get().status == WriteOff.Status.REVERSED
    assert run_ledger_checks() == []


def test_matching_twice_changes_nothing(account, customer):
    invoice = issued_invoice(customer, "50.00", invoice_date=JAN)
    (line,) = receive(account, entry("50.00", remittance=invoice.number))

    lines_match(line_ids=[line.pk])

    assert Payment.objects.count() == 1
    assert open_amount(invoice) == 0


def test_a_refused_application_queues_that_line_only(account, monkeypatch):
    """The lines of a run are applied together; when the ledger refuses one of
    them, the others are still applied and only that one waits, with why."""
    from o2c.errors import DomainError
    from reconciliation.services import lines as line_services

    customers = [CustomerFactory(name=f"Kunde {n} GmbH") for n in range(3)]
    # Amounts of their own, so the three lines are matched in one run.
    invoices = [
        issued_invoice(c, amount, invoice_date=JAN)
        for c, amount in zip(customers, ("200.00", "300.00", "400.00"), strict=True)
    ]
    refused = invoices[1]
    real_payments_create = line_services.payments_create

    def refusing(inputs, *, actor):
        if any(a.invoice.pk == refused.pk for i in inputs for a in i.allocations):
            raise DomainError("exceeds_open_amount", "The ledger says no.")
        return real_payments_create(inputs, actor=actor)

    monkeypatch.setattr(line_services, "payments_create", refusing)
    lines = receive(
        account,
        *(
            entry(str(invoice.total), structured_reference=payment_reference(invoice))
            for invoice in invoices
        ),
    )

    assert [line.status for line in lines] == [
        L.MATCHED_AUTO,
        L.NEEDS_REVIEW,
        L.MATCHED_AUTO,
    ]
    assert (
        "applying the best match failed: The ledger says no." in lines[1].match_reason
    )
    assert [open_amount(invoice) for invoice in invoices] == [0, 300, 0]
    assert not Payment.objects.filter(statement_line=lines[1]).exists()
    assert lines[1].suggestions.first().invoices[0]["number"] == refused.number
    assert not run_ledger_checks()
