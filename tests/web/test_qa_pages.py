"""Customer, invoice and payment pages as a finance person reads them: what a QA
pass through the demo company tripped over (a draft showing 0.00 open, a credit
note table pushing the page sideways, searches that ignored the customer's name,
an over-limit balance nobody pointed out, help that named features that do not
exist)."""

import re
from datetime import date, datetime
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from invoicing.services.invoices import LineInput, credit_note_create, invoice_create
from o2c.models import Role
from orders.services.orders import OrderLineInput, order_create
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    issued_invoice,
    member,
    received_payment,
)

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def client(org):
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    return client


def text(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def books(tenant):
    """Hanse Glas (credit limit 1,000.00 EUR) owes 1,500.00 on one invoice, of which
    200.00 were credited; it has a draft of 75.00 and an order PO-4711; Nordlicht
    paid 50.00 with nothing to apply it to."""
    hanse = CustomerFactory(
        name="Hanse Glas AG", number="C-10", credit_limit=Decimal("1000.00")
    )
    nordlicht = CustomerFactory(name="Nordlicht GmbH", number="C-20")
    invoice = issued_invoice(
        hanse, "1500.00", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 3)
    )
    credit_note = credit_note_create(
        invoice=invoice,
        credit_date=date(2026, 2, 10),
        reason="Broken in transit",
        lines=[LineInput(description="Glass", quantity=1, unit_price=Decimal(200))],
        actor=SYSTEM,
    )
    draft = invoice_create(
        customer=hanse,
        invoice_date=date(2026, 2, 28),
        lines=[LineInput(description="Crates", quantity=1, unit_price=Decimal(75))],
        actor=SYSTEM,
    )
    order = order_create(
        customer=hanse,
        order_date=date(2026, 2, 20),
        customer_reference="PO-4711",
        lines=[
            OrderLineInput(
                quantity=Decimal(2), unit_price=Decimal("9.50"), description="Vase"
            )
        ],
        actor=SYSTEM,
    )
    payment = received_payment(nordlicht, "50.00", received_date=date(2026, 2, 25))
    return {
        "hanse": hanse,
        "nordlicht": nordlicht,
        "invoice": invoice,
        "credit_note": credit_note,
        "draft": draft,
        "order": order,
        "payment": payment,
    }


@pytest.mark.django_db
def test_a_draft_has_no_open_amount_yet(client, books):
    draft = books["draft"]

    page = client.get(f"/invoices/{draft.pk}/")
    listed = client.get("/invoices/", {"status": "draft"})

    assert "Not issued yet" in text(page)
    assert "Open 0.00" not in text(page)
    row = re.search(
        r"<tr[^>]*>.*?</tr>", listed.content.decode().split("<tbody>")[1], re.S
    )
    assert "75.00" in text_of(row.group(0))  # the total
    assert "0.00" not in text_of(row.group(0)).replace("75.00", "")


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.django_db
def test_credit_notes_of_an_invoice_fit_their_card(client, books):
    html = client.get(f"/invoices/{books['invoice'].pk}/").content.decode()

    table = html.split('id="invoice-credit-notes"')[1].split("</table>")[0]
    # Inside a scrolling wrapper, four columns, the number downloads the PDF.
    assert re.search(
        r'<div class="table-wrap">\s*<table class="table" id="invoice-credit-notes"',
        html,
    )
    assert len(re.findall(r"<th[ >]", table)) == 4
    pdf = f'href="/credit-notes/{books["credit_note"].pk}/pdf/"'
    assert pdf in table
    assert "Broken in transit" in text_of(table)
    assert "200.00" in text_of(table)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/invoices/", "invoice"),
        ("/orders/", "order"),
        ("/payments/", "payment"),
    ],
)
def test_lists_find_documents_by_the_customers_name(client, books, url, expected):
    found = client.get(url, {"q": "hanse glas"}).context["page"].rows
    none = client.get(url, {"q": "zzz"}).context["page"].rows

    if expected == "payment":
        assert [
            p.pk for p in client.get(url, {"q": "nordlicht"}).context["page"].rows
        ] == [books["payment"].pk]
        assert found == []
    elif expected == "invoice":
        assert {i.pk for i in found} == {books["invoice"].pk, books["draft"].pk}
    else:
        assert [o.pk for o in found] == [books["order"].pk]
    assert none == []


@pytest.mark.django_db
def test_a_balance_over_the_credit_limit_is_pointed_out(client, books):
    panel = text(client.get(f"/customers/{books['hanse'].pk}/account/"))
    fine = text(client.get(f"/customers/{books['nordlicht'].pk}/account/"))

    # 1,500.00 - 200.00 credited = 1,300.00 open, over the 1,000.00 limit.
    assert "1,300.00 EUR" in panel
    assert "over the credit limit of 1,000.00 EUR" in panel
    assert "credit limit" not in fine


@pytest.mark.django_db
def test_the_customer_page_links_statement_and_history(client, books):
    html = client.get(f"/customers/{books['hanse'].pk}/").content.decode()

    assert f'href="/customers/{books["hanse"].pk}/statement/"' in html
    assert f'href="/customers/{books["hanse"].pk}/history/"' in html


@pytest.mark.django_db
def test_help_texts_only_name_what_exists(client, books):
    payment = text(client.get(f"/payments/{books['payment'].pk}/"))
    settlements = text(client.get(f"/invoices/{books['invoice'].pk}/settlements/"))
    payments = text(client.get(f"/customers/{books['hanse'].pk}/payments/"))

    for page in (payment, settlements, payments):
        assert "matching queue" not in page
        assert "bank statement" not in page
    # Its cash on account is applied in the browser, not only through the API.
    assert "/api/v1/" not in payment
    assert f"/customers/{books['payment'].customer_id}/apply-cash/" in (
        client.get(f"/payments/{books['payment'].pk}/").content.decode()
    )


@pytest.mark.django_db
def test_the_overview_shows_each_currency_on_its_own_row(client, books, tenant):
    usd = CustomerFactory(name="Liberty Corp", currency="USD")
    issued_invoice(
        usd, "400.00", invoice_date=date(2026, 1, 1), due_date=date(2026, 1, 31)
    )

    html = client.get("/receivables/summary/").content.decode()

    rows = html.split('class="stats stats-row"')[1:]
    assert [re.findall(r"Receivables open · (\w+)", row) for row in rows] == [
        ["EUR"],
        ["USD"],
    ]
    assert "Overdue · USD" in text_of(rows[1])
    assert "400.00" in text_of(rows[1])
    assert "100 %" in text_of(rows[1])  # all of the USD is overdue
