"""What the bank did to a customer's account shows on the customer's timeline:
the automatic match with its reason, a person's match, cash put on account, an
undo and a reversal by the bank."""

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from collecting.selectors import customer_timeline
from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.models import StatementLine
from reconciliation.services.lines import line_apply, line_undo
from reconciliation.services.matching import lines_match
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, member
from tests.reconciliation.bank import entry, import_statements, main_account, statement

JAN = date(2026, 1, 10)


@pytest.fixture
def account_history(org):
    """Invoice A paid by a line the engine applied (then undone by a person);
    a second line put on the customer's account by a person."""
    with tenant_context(org):
        account = main_account()
        customer = CustomerFactory(name="Hanse Logistik GmbH")
        other = CustomerFactory(name="Somebody Else AG")
        paid = issued_invoice(customer, "300.00", invoice_date=JAN)
        result = import_statements(
            account,
            [
                statement(
                    [
                        entry(
                            "300.00",
                            bank_reference="A",
                            payer_name="Hanse Logistik",
                            remittance=f"Payment {paid.number} thank you",
                        ),
                        entry("75.50", bank_reference="B", payer_name="Unknown"),
                    ]
                )
            ],
        )
        lines_match(line_ids=result.new_credit_line_ids)
        auto, waiting = (
            StatementLine.objects.get(bank_reference=ref) for ref in ("A", "B")
        )
        assert auto.status == StatementLine.Status.MATCHED_AUTO
        line_apply(
            line=waiting,
            on_account=customer,
            reason="put on account by hand",
            actor=SYSTEM,
        )
        line_undo(line=auto, actor=SYSTEM)
        return {"customer": customer, "other": other, "paid": paid}


def test_timeline_tells_match_reason_on_account_and_undo(org, account_history):
    customer, paid = account_history["customer"], account_history["paid"]
    with tenant_context(org):
        events = [
            e for e in customer_timeline(customer=customer) if e.kind == "payment"
        ]
        cash = {e.status: e for e in events if e.object_type == "orders.customer"}

    assert set(cash) == {"matched_auto", "on_account", "undone"}
    auto = cash["matched_auto"]
    assert auto.title == "Bank payment matched automatically"
    assert f"invoice number in the text names {paid.number}" in auto.detail
    assert f"applied to {paid.number} 300.00" in auto.detail
    assert "from Hanse Logistik" in auto.detail
    assert (auto.amount, auto.currency) == (300, "EUR")

    on_account = cash["on_account"]
    assert on_account.title == "Bank payment put on account"
    assert "no invoice; 75.50 on account" in on_account.detail
    assert on_account.amount == pytest.approx(75.5)

    undone = cash["undone"]
    assert "matched automatically earlier (" in undone.detail
    assert "now taken back" in undone.detail
    assert f"names {paid.number}" in undone.detail
    # newest first: the undo came after the match
    assert events.index(undone) < events.index(auto)


def test_only_the_customer_paid_sees_the_line(org, account_history):
    with tenant_context(org):
        events = customer_timeline(customer=account_history["other"])
    assert not [e for e in events if e.object_type == "orders.customer"]


def test_timeline_page_shows_the_automatic_match_and_its_reason(org, account_history):
    customer, paid = account_history["customer"], account_history["paid"]
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    page = client.get(reverse("collecting:timeline", args=[customer.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Bank payment matched automatically" in text
    assert f"names {paid.number}" in text
    assert "Bank payment put on account" in text
    assert "Bank payment match undone" in text


def test_a_payment_the_bank_took_back_shows_as_reversed(tenant):
    account = main_account()
    customer = CustomerFactory(name="Hanse Logistik GmbH")
    invoice = issued_invoice(customer, "300.00", invoice_date=JAN)
    credit = entry(
        "300.00",
        bank_reference="C1",
        end_to_end_id="E2E-77",
        remittance=f"Invoice {invoice.number}",
    )
    import_statements(account, [statement([credit], statement_id="S1")])
    lines_match(line_ids=[StatementLine.objects.get().pk])
    returned = entry(
        "-300.00",
        bank_reference="R1",
        end_to_end_id="E2E-77",
        is_reversal=True,
        booking_date=date(2026, 2, 9),
    )
    import_statements(
        account, [statement([returned], statement_id="S2", opening="1300")]
    )

    cash = [
        e
        for e in customer_timeline(customer=customer)
        if e.object_type == "orders.customer"
    ]
    assert [e.status for e in cash] == ["reversed", "matched_auto"]
    assert cash[0].title == "Bank payment reversed by the bank"
    assert "the bank took the payment back on 2026-02-09" in cash[0].detail
    assert f"applied to {invoice.number} 300.00" in cash[0].detail
