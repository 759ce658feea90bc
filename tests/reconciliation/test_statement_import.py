"""Statement import: once per file, once per transaction, all or nothing, and what
the matching does with the new lines."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import Invoice
from o2c.checks import run_ledger_checks
from o2c.errors import DomainError
from reconciliation.models import BankStatement, Payment, StatementLine
from reconciliation.services.matching import lines_match
from tests.factories import CustomerFactory, issued_invoice
from tests.reconciliation.bank import entry, import_statements, main_account, statement

L = StatementLine.Status


@pytest.fixture
def account(tenant):
    return main_account()


def lines():
    return list(StatementLine.objects.order_by("booking_date", "amount"))


def test_same_file_twice_creates_nothing_the_second_time(account):
    parsed = [statement([entry("100.00", bank_reference="A1"), entry("-40.00")])]
    first = import_statements(account, parsed)
    again = import_statements(account, parsed)

    assert (first.new_lines, first.already_imported) == (2, False)
    assert again.already_imported and again.message == "Already imported; nothing new."
    assert StatementLine.objects.count() == 2
    assert BankStatement.objects.count() == 1


def test_overlapping_statement_adds_only_the_new_lines(account):
    monday = entry("100.00", bank_reference="A1", booking_date=date(2026, 2, 2))
    tuesday = entry("250.00", bank_reference="A2", booking_date=date(2026, 2, 3))
    wednesday = entry("75.50", bank_reference="A3", booking_date=date(2026, 2, 4))
    import_statements(account, [statement([monday, tuesday], statement_id="S1")])

    result = import_statements(
        account, [statement([tuesday, wednesday], statement_id="S2", opening="1350")]
    )

    assert (result.new_lines, result.duplicates) == (1, 1)
    assert [line.amount for line in lines()] == [
        Decimal("100.00"),
        Decimal("250.00"),
        Decimal("75.50"),
    ]


def test_two_equal_payments_without_reference_on_one_day_are_two_lines(account):
    same = entry("50.00", payer_name="Kiosk Meier", remittance="Miete")
    import_statements(account, [statement([same, same])])
    assert StatementLine.objects.count() == 2


def test_debits_are_kept_and_never_matched(account):
    import_statements(account, [statement([entry("-1200.00", remittance="Rent")])])
    (line,) = lines()
    assert (line.status, line.direction) == (L.DEBIT, "debit")


def test_balances_that_do_not_add_up_refuse_the_whole_file(account):
    good = statement([entry("100.00", bank_reference="A1")], statement_id="S1")
    bad = statement(
        [entry("20.00", bank_reference="B1")], statement_id="S2", closing="1.00"
    )
    with pytest.raises(DomainError, match=r"closing balance is 1\.00"):
        import_statements(account, [good, bad])
    assert StatementLine.objects.count() == 0
    assert BankStatement.objects.count() == 0


def test_statement_of_another_account_or_currency_is_refused(account):
    with pytest.raises(DomainError, match="not Main account"):
        import_statements(
            account, [statement([entry("1.00")], account="DE02120300000000202051")]
        )
    with pytest.raises(DomainError, match="in USD"):
        import_statements(
            account, [statement([entry("1.00", currency="USD")], currency="USD")]
        )
    assert StatementLine.objects.count() == 0


def test_bank_reversal_of_a_credit_reverses_its_payment(account):
    customer = CustomerFactory()
    invoice = issued_invoice(customer, "300.00", invoice_date=date(2026, 1, 10))
    credit = entry(
        "300.00",
        bank_reference="C1",
        end_to_end_id="E2E-77",
        remittance=f"Invoice {invoice.number}",
    )
    import_statements(account, [statement([credit], statement_id="S1")])
    lines_match(line_ids=[StatementLine.objects.get().pk])
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID

    returned = entry(
        "-300.00",
        bank_reference="R1",
        end_to_end_id="E2E-77",
        is_reversal=True,
        booking_date=date(2026, 2, 9),
    )
    result = import_statements(
        account, [statement([returned], statement_id="S2", opening="1300")]
    )

    assert result.reversals == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.open_amount) == (Invoice.Status.OPEN, Decimal(300))
    assert Payment.objects.get().status == Payment.Status.REVERSED
    assert {line.status for line in lines()} == {L.REVERSED}
    assert run_ledger_checks() == []
