"""The search box: what a person finds by typing a number, a name, a reference or
an amount, as the dropdown and the results page show it, and never another
organization's rows."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from invoicing.services.invoices import (
    LineInput,
    credit_note_create,
    invoice_create,
    invoice_issue,
)
from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.services.payments import payment_create
from reports.search import parse_amount
from tests.factories import SYSTEM, CustomerFactory, member

pytestmark = pytest.mark.django_db


def client_of(org, role=Role.FINANCE):
    client = Client()
    client.force_login(member(org, role))
    return client


def book(org, *, name, number, reference, amount, payment_reference):
    """One customer with an issued invoice (with the buyer's PO), a credit note
    on it and a payment of ``amount``."""
    with tenant_context(org):
        customer = CustomerFactory(name=name, number=number)
        invoice = invoice_create(
            customer=customer,
            invoice_date=date(2026, 3, 2),
            customer_reference=reference,
            lines=[
                LineInput(
                    description="Pallets",
                    quantity=Decimal(1),
                    unit_price=Decimal(amount),
                )
            ],
            actor=SYSTEM,
        )
        invoice = invoice_issue(invoice=invoice, actor=SYSTEM)
        note = credit_note_create(
            invoice=invoice,
            credit_date=date(2026, 3, 5),
            reason="Damaged pallet",
            lines=[
                LineInput(
                    description="Damaged pallet",
                    quantity=Decimal(1),
                    unit_price=Decimal("10.00"),
                )
            ],
            actor=SYSTEM,
        )
        payment = payment_create(
            customer=customer,
            amount=Decimal(amount) - Decimal("10.00"),
            currency=customer.currency,
            received_date=date(2026, 3, 20),
            reference=payment_reference,
            actor=SYSTEM,
        )
    return customer, invoice, note, payment


@pytest.fixture
def ours(org):
    return book(
        org,
        name="Hansa Logistik GmbH",
        number="C-4711",
        reference="PO-88812",
        amount="1244.50",
        payment_reference="Remittance HANSA-0303",
    )


@pytest.fixture
def theirs(other_org):
    # The same words, numbers and amounts in another organization.
    return book(
        other_org,
        name="Hansa Logistik AG",
        number="C-4712",
        reference="PO-88812",
        amount="1244.50",
        payment_reference="Remittance HANSA-0303",
    )


def suggestions(client, query):
    response = client.get("/search/suggestions/", {"q": query})
    assert response.status_code == 200
    return response.content.decode()


def text(html):
    """What the reader sees: tags removed, white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def links(html):
    return set(re.findall(r'href="(/(?:customers|invoices|payments)/\d+/)"', html))


def test_customer_found_by_name_and_number(org, ours, theirs):
    customer = ours[0]
    client = client_of(org)
    for query in ["hansa logistik", "Logistik", "C-4711", "c-47"]:
        html = suggestions(client, query)
        assert f'href="/customers/{customer.pk}/"' in html, query
        assert "Hansa Logistik GmbH" in html
        assert "Hansa Logistik AG" not in html


def test_invoice_found_by_number_and_reference(org, ours, theirs):
    _, invoice, _, _ = ours
    client = client_of(org)
    for query in [invoice.number, invoice.number.lower(), "PO-88812", "8881"]:
        html = suggestions(client, query)
        assert f'href="/invoices/{invoice.pk}/"' in html, query
        assert f'href="/invoices/{theirs[1].pk}/"' not in html, query


def test_credit_note_found_by_number_links_to_its_invoice(org, ours, theirs):
    _, invoice, note, _ = ours
    html = suggestions(client_of(org), note.number)
    assert "Credit notes" in html
    assert note.number in html
    assert f'href="/invoices/{invoice.pk}/"' in html
    seen = f"{note.number} Hansa Logistik GmbH · on {invoice.number} 10.00 EUR"
    assert seen in text(html)


def test_payment_found_by_number_reference_and_amount(org, ours, theirs):
    payment = ours[3]
    client = client_of(org)
    for query in [payment.number, "hansa-0303", "1234,50", "1.234,50", "1234.5"]:
        html = suggestions(client, query)
        assert f'href="/payments/{payment.pk}/"' in html, query
        assert f'href="/payments/{theirs[3].pk}/"' not in html, query


def test_amount_matches_invoices_exactly(org, ours, theirs):
    invoice = ours[1]
    client = client_of(org)
    for query in ["1244,50", "1.244,50", "1244.5", "1,244.50"]:
        html = suggestions(client, query)
        assert f'href="/invoices/{invoice.pk}/"' in html, query
    # A cent off is another amount.
    assert f'href="/invoices/{invoice.pk}/"' not in suggestions(client, "1244,51")


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("1234,50", Decimal("1234.50")),
        ("1.234,50", Decimal("1234.50")),
        ("1234.5", Decimal("1234.5")),
        ("1,234.50", Decimal("1234.50")),
        ("1 234,50", Decimal("1234.50")),
        ("1234", Decimal("1234")),
        ("INV-1", None),
        ("12.34.5", None),
        ("0", None),
        ("", None),
    ],
)
def test_amount_as_typed(typed, amount):
    assert parse_amount(typed) == amount


@pytest.mark.parametrize("query", ["%", "_", "%%", "_%_", "'", "\\", "a" * 5000, " "])
def test_odd_input_answers_without_error_and_matches_nothing(org, ours, query):
    client = client_of(org)
    assert links(suggestions(client, query)) == set()
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    assert links(response.content.decode()) == set()


def test_results_page_lists_every_kind_with_links(org, ours, theirs):
    customer, invoice, note, payment = ours
    client = client_of(org)
    page = client.get("/search/", {"q": "hansa"}).content.decode()
    assert f'href="/customers/{customer.pk}/"' in page
    assert f'href="/payments/{payment.pk}/"' in page
    page = client.get("/search/", {"q": "1244,50"}).content.decode()
    assert f'href="/invoices/{invoice.pk}/"' in page
    assert "PO-88812" in page
    assert f'href="/customers/{theirs[0].pk}/"' not in page
    assert f'href="/invoices/{theirs[1].pk}/"' not in page
    page = client.get("/search/", {"q": note.number}).content.decode()
    assert "Credit notes" in page
    assert f'href="/credit-notes/{note.pk}/pdf/"' in page


def test_results_page_shows_more_than_the_dropdown(org):
    with tenant_context(org):
        customers = [
            CustomerFactory(name=f"Nordwind Handel {n}", number=f"N{n:03d}")
            for n in range(8)
        ]
    client = client_of(org)
    assert len(links(suggestions(client, "nordwind"))) == 5
    page = client.get("/search/", {"q": "nordwind"}).content.decode()
    assert links(page) == {f"/customers/{c.pk}/" for c in customers}


def test_exact_number_comes_first(org):
    with tenant_context(org):
        CustomerFactory(name="Alpha", number="K100")
        for n in range(6):
            CustomerFactory(name=f"Alpha {n}", number=f"K100{n}")
    html = suggestions(client_of(org), "K100")
    first = re.search(r'class="search-option"[^>]*>\s*<span class="mono">(\w+)', html)
    assert first.group(1) == "K100"


def test_viewer_can_search(org, ours):
    client = client_of(org, Role.VIEWER)
    assert f'href="/customers/{ours[0].pk}/"' in suggestions(client, "hansa")
    assert client.get("/search/", {"q": "hansa"}).status_code == 200


def test_search_box_on_every_signed_in_page(org):
    page = client_of(org).get("/").content.decode()
    assert 'id="global-search"' in page
    assert 'hx-trigger="keyup changed delay:250ms"' in page


def test_signed_out_is_sent_to_sign_in(db):
    response = Client().get("/search/", {"q": "hansa"})
    assert response.status_code == 302
