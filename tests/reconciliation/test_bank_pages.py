"""The browser pages of cash application, as the finance person sees them."""

from datetime import date

import pytest
from django.test import Client

from invoicing.models import Invoice
from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.models import BankAccount, StatementLine
from reconciliation.services.matching import lines_match
from tests.factories import CustomerFactory, issued_invoice, member
from tests.reconciliation.bank import entry, import_statements, main_account, statement

JAN = date(2026, 1, 10)
HTMX = {"HTTP_HX_REQUEST": "true"}


def signed_in(org, role=Role.FINANCE) -> Client:
    client = Client()
    client.force_login(member(org, role))
    return client


@pytest.fixture
def book(org):
    """One line the engine applied, one waiting with a suggestion."""
    with tenant_context(org):
        account = main_account()
        customer = CustomerFactory(name="Hanse Logistik GmbH")
        paid = issued_invoice(customer, "300.00", invoice_date=JAN)
        waiting = issued_invoice(customer, "123.45", invoice_date=JAN)
        result = import_statements(
            account,
            [
                statement(
                    [
                        entry("300.00", bank_reference="A", remittance=paid.number),
                        entry("123.45", bank_reference="B", payer_name="Someone"),
                    ]
                )
            ],
        )
        lines_match(line_ids=result.new_credit_line_ids)
        auto, queued = (
            StatementLine.objects.get(bank_reference=ref) for ref in ("A", "B")
        )
        return {"auto": auto, "queued": queued, "paid": paid, "waiting": waiting}


def test_queue_shows_suggestions_with_reasons_and_applies_one(org, book):
    client = signed_in(org)
    page = client.get("/bank/queue/").content.decode()

    assert "Waiting for a person" in page
    assert f"{book['waiting'].number} 123.45" in page
    assert "the only open invoice of this amount" in page
    assert f"invoice number in the text names {book['paid'].number}" in page

    with tenant_context(org):
        suggestion = book["queued"].suggestions.get()
    row = client.post(
        f"/bank/lines/{book['queued'].pk}/apply/",
        {"suggestion": suggestion.pk},
        **HTMX,
    )
    assert row.status_code == 200
    assert "Matched by a person" in row.content.decode()
    with tenant_context(org):
        assert Invoice.objects.get(pk=book["waiting"].pk).open_amount == 0


def test_undo_of_an_automatic_match_from_the_page(org, book):
    client = signed_in(org)
    row = client.post(f"/bank/lines/{book['auto'].pk}/undo/", **HTMX)
    assert "New" in row.content.decode()
    with tenant_context(org):
        assert Invoice.objects.get(pk=book["paid"].pk).open_amount == 300


def test_refused_action_answers_422_with_the_reason(org, book):
    client = signed_in(org)
    row = client.post(
        f"/bank/lines/{book['queued'].pk}/not-receivable/", {"reason": " "}, **HTMX
    )
    assert row.status_code == 422
    assert "Give a reason." in row.content.decode()


def test_viewer_sees_the_queue_but_cannot_act(org, book):
    client = signed_in(org, Role.VIEWER)
    page = client.get("/bank/queue/").content.decode()
    assert "Apply</button>" not in page
    refused = client.post(f"/bank/lines/{book['auto'].pk}/undo/", **HTMX)
    assert refused.status_code == 403


def test_bank_account_page_adds_an_account(org):
    client = signed_in(org)
    response = client.post(
        "/bank/accounts/",
        {"name": "Giro", "iban": "DE89 3704 0044 0532 0130 00", "currency": "EUR",
         "is_default": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get("/bank/accounts/").content.decode()
    assert "DE89370400440532013000" in page
    with tenant_context(org):
        assert BankAccount.objects.get().is_default


def test_statement_page_lists_the_upload_form(org):
    with tenant_context(org):
        main_account()
    page = signed_in(org).get("/bank/statements/").content.decode()
    assert "Upload a statement" in page and "Main account" in page
