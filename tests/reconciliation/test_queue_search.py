"""Searching open invoices from a line of the exceptions queue, to fill its split:
by number (as the remittance would garble it), customer and amount."""

from datetime import date

import pytest
from django.test import Client

from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.models import StatementLine
from reconciliation.selectors import open_invoices_search
from tests.factories import CustomerFactory, issued_invoice, member
from tests.reconciliation.bank import entry, import_statements, main_account, statement

JAN = date(2026, 1, 10)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def book(org):
    with tenant_context(org):
        account = main_account()
        hanse = CustomerFactory(name="Hanse Logistik GmbH", number="C-HANSE")
        baltic = CustomerFactory(name="Baltic Timber AB")
        first = issued_invoice(hanse, "400.00", invoice_date=JAN)
        second = issued_invoice(hanse, "250.00", invoice_date=date(2026, 1, 20))
        timber = issued_invoice(baltic, "1234.50", invoice_date=JAN)
        dollars = issued_invoice(baltic, "250.00", invoice_date=JAN, currency="USD")
        import_statements(account, [statement([entry("650.00", bank_reference="A")])])
        line = StatementLine.objects.get()
        return {
            "line": line,
            "first": first,
            "second": second,
            "timber": timber,
            "dollars": dollars,
        }


def numbers(invoices):
    return [invoice.number for invoice in invoices]


def test_search_by_number_customer_and_amount(org, book):
    first, second, timber = book["first"], book["second"], book["timber"]
    with tenant_context(org):
        search = lambda text: numbers(  # noqa: E731
            open_invoices_search(text=text, currency="EUR")
        )
        assert search(first.number) == [first.number]
        # as a payer writes it: no prefix, no leading zeros
        assert search(str(int(second.number.split("-")[-1]))) == [second.number]
        assert search("hanse") == [first.number, second.number]  # oldest due first
        assert search("C-HANSE") == [first.number, second.number]
        assert search("1.234,50") == [timber.number]
        assert search("1,234.50") == [timber.number]
        # the USD invoice of the same amount is not offered for a EUR line
        assert search("250") == [second.number]
        assert search("nobody") == []
        assert search("   ") == []


def test_search_offers_at_most_ten_invoices(org, book):
    with tenant_context(org):
        customer = CustomerFactory(name="Many Invoices KG")
        for _ in range(12):
            issued_invoice(customer, "10.00", invoice_date=JAN)
        assert len(open_invoices_search(text="Many", currency="EUR")) == 10


def test_search_from_the_queue_row_offers_invoices_to_add(org, book):
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    queue = client.get("/bank/queue/").content.decode()
    line = book["line"]
    assert f'hx-get="/bank/lines/{line.pk}/invoices/"' in queue
    assert "js/bank_queue.js" in queue

    found = client.get(f"/bank/lines/{line.pk}/invoices/", {"q": "hanse"}, **HTMX)
    page = found.content.decode()
    assert found.status_code == 200
    assert f'data-number="{book["first"].number}" data-amount="400.00"' in page
    assert f'data-number="{book["second"].number}" data-amount="250.00"' in page
    assert book["timber"].number not in page

    nothing = client.get(f"/bank/lines/{line.pk}/invoices/", {"q": "zzz"}, **HTMX)
    assert "No open EUR invoice matches" in nothing.content.decode()


def test_a_viewer_cannot_search_for_a_split(org, book):
    client = Client()
    client.force_login(member(org, Role.VIEWER))
    answer = client.get(f"/bank/lines/{book['line'].pk}/invoices/", {"q": "hanse"})
    assert answer.status_code == 403
