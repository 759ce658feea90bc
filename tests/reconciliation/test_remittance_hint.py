"""Remittance advice from the customer portal as a hint for the matching engine."""

from datetime import date
from decimal import Decimal

import pytest

from reconciliation.models import MatchSuggestion, StatementLine
from reconciliation.services.matching import lines_match
from reconciliation.services.remittance import remittance_advice_record
from tests.factories import SYSTEM, CustomerFactory, issued_invoice
from tests.reconciliation.bank import entry, import_statements, main_account, statement

pytestmark = pytest.mark.django_db


def receive(account, *entries):
    result = import_statements(account, [statement(list(entries))])
    lines_match(line_ids=result.new_credit_line_ids)
    return [StatementLine.objects.get(pk=pk) for pk in result.new_credit_line_ids]


def test_advice_names_the_invoices_a_bare_transfer_paid(tenant):
    account = main_account()
    customer = CustomerFactory(name="Hanse Logistik GmbH")
    first = issued_invoice(customer, "300.00", invoice_date=date(2026, 1, 5))
    second = issued_invoice(customer, "420.00", invoice_date=date(2026, 1, 6))
    issued_invoice(customer, "999.00", invoice_date=date(2026, 1, 7))
    remittance_advice_record(
        customer=customer, invoices=[first, second], amount="720.00",
        paid_on=tenant.today(), reference="SAMMEL 0115", actor=SYSTEM,
    )  # fmt: skip
    # A transfer with no reference and a payer name the engine cannot place.
    (line,) = receive(account, entry("720.00", payer_name="HL Treasury Services"))
    suggestion = MatchSuggestion.objects.filter(line=line).order_by("rank").first()
    assert suggestion is not None
    assert suggestion.customer == customer
    assert sorted(
        (item["number"], Decimal(item["amount"])) for item in suggestion.invoices
    ) == [(first.number, Decimal("300.00")), (second.number, Decimal("420.00"))]
    assert any("remittance advice" in reason for reason in suggestion.reasons)
    assert suggestion.confidence == 85  # a hint: a person confirms it
    assert line.status != StatementLine.Status.MATCHED_AUTO


def test_without_advice_the_same_transfer_finds_nothing(tenant):
    account = main_account()
    customer = CustomerFactory(name="Hanse Logistik GmbH")
    issued_invoice(customer, "300.00", invoice_date=date(2026, 1, 5))
    issued_invoice(customer, "420.00", invoice_date=date(2026, 1, 6))
    (line,) = receive(account, entry("720.00", payer_name="HL Treasury Services"))
    assert not MatchSuggestion.objects.filter(line=line).exists()
