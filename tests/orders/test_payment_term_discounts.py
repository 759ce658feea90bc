"""Payment terms with an early-payment discount, edited through the API and the
Settings page; invoices already issued keep what they were issued with."""

from datetime import date
from decimal import Decimal

import pytest

from o2c.models import Role
from orders.models import PaymentTerm
from tests.factories import CustomerFactory, PaymentTermFactory, issued_invoice, member

pytestmark = pytest.mark.django_db


def test_api_creates_and_changes_terms_with_a_discount(admin_api, org, tenant):
    created = admin_api.post(
        "/api/v1/payment-terms/",
        {
            "name": "2/10 net 30",
            "days": 30,
            "discount_percent": "2",
            "discount_days": 10,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["discount_percent"], body["discount_days"]) == ("2.00", 10)

    term = PaymentTerm.objects.get(pk=body["id"])
    invoice = issued_invoice(
        CustomerFactory(payment_term=term), "500.00", invoice_date=date(2026, 12, 6)
    )

    changed = admin_api.patch(
        f"/api/v1/payment-terms/{term.pk}/",
        {"discount_percent": "3", "discount_days": 14},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["discount_percent"], changed.json()["days"]) == ("3.00", 30)

    issued = admin_api.get(f"/api/v1/invoices/{invoice.pk}/").json()
    assert (issued["discount_amount"], issued["discount_date"]) == (
        "10.00",
        "2026-12-16",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"discount_percent": "60", "discount_days": 10}, "discount_percent"),
        ({"discount_percent": "2", "discount_days": 30}, "discount_days"),
        ({"discount_percent": "0", "discount_days": 10}, "discount_percent"),
        ({"discount_percent": "2.005", "discount_days": 10}, "discount_percent"),
        ({"discount_percent": "-1", "discount_days": 10}, "discount_percent"),
    ],
)
def test_api_refuses_a_discount_that_makes_no_sense(admin_api, tenant, body, field):
    term = PaymentTermFactory(name="Net 30", days=30)

    response = admin_api.patch(f"/api/v1/payment-terms/{term.pk}/", body, format="json")

    assert response.status_code in (400, 422), response.json()
    assert field in str(response.json())
    term.refresh_from_db()
    assert term.discount_percent == 0


def test_instalment_terms_take_no_discount(admin_api, tenant):
    response = admin_api.post(
        "/api/v1/payment-terms/",
        {
            "name": "Halves",
            "kind": "instalments",
            "instalments": [
                {"percent": "50", "days": 30},
                {"percent": "50", "days": 60},
            ],
            "discount_percent": "2",
            "discount_days": 10,
        },
        format="json",
    )
    assert response.status_code in (400, 422)
    assert "discount_percent" in str(response.json())
    assert not PaymentTerm.objects.filter(name="Halves").exists()


# --- Settings: payment terms in the browser ----------------------------------------


@pytest.fixture
def finance(client, org):
    client.force_login(member(org, Role.FINANCE))
    return client


def test_page_lists_terms_with_their_discount(finance, tenant):
    PaymentTermFactory(
        name="2/10 net 30", days=30, discount_percent=Decimal(2), discount_days=10
    )
    PaymentTermFactory(name="Net 14", days=14)

    page = finance.get("/settings/payment-terms/").content.decode()

    assert "2 % within 10 days" in page
    assert "Net 14" in page and "net 14 days" in page
    assert 'id="term-add"' in page


def test_add_terms_with_htmx(finance, tenant):
    response = finance.post(
        "/settings/payment-terms/new/",
        {
            "new-term-name": "2/10 net 30",
            "new-term-kind": "net",
            "new-term-days": "30",
            "new-term-discount_percent": "2",
            "new-term-discount_days": "10",
        },
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert "2 % within 10 days" in response.content.decode()
    term = PaymentTerm.objects.get(name="2/10 net 30")
    assert (term.discount_percent, term.discount_days) == (2, 10)


def test_edit_terms_and_a_refused_edit_keeps_the_input(finance, tenant):
    term = PaymentTermFactory(name="Net 30", days=30)
    form = finance.get(f"/settings/payment-terms/{term.pk}/edit/", HTTP_HX_REQUEST="1")
    assert f'name="term-{term.pk}-discount_percent"' in form.content.decode()

    refused = finance.post(
        f"/settings/payment-terms/{term.pk}/edit/",
        {
            f"term-{term.pk}-name": "Net 30",
            f"term-{term.pk}-kind": "net",
            f"term-{term.pk}-days": "30",
            f"term-{term.pk}-discount_percent": "2",
            f"term-{term.pk}-discount_days": "45",
        },
        HTTP_HX_REQUEST="true",
    )
    assert refused.status_code == 422
    text = refused.content.decode()
    assert "Nothing was saved." in text and "before the invoice is due" in text
    assert 'value="45"' in text

    saved = finance.post(
        f"/settings/payment-terms/{term.pk}/edit/",
        {
            f"term-{term.pk}-name": "2/10 net 30",
            f"term-{term.pk}-kind": "net",
            f"term-{term.pk}-days": "30",
            f"term-{term.pk}-discount_percent": "2",
            f"term-{term.pk}-discount_days": "10",
        },
        HTTP_HX_REQUEST="true",
    )
    assert saved.status_code == 200
    term.refresh_from_db()
    assert (term.name, term.discount_percent, term.discount_days) == (
        "2/10 net 30",
        2,
        10,
    )


def test_a_viewer_sees_terms_but_cannot_change_them(client, org, tenant):
    client.force_login(member(org, Role.VIEWER))
    term = PaymentTermFactory(name="Net 30", days=30)

    page = client.get("/settings/payment-terms/").content.decode()
    assert "Net 30" in page and 'id="term-add"' not in page
    assert (
        client.post(f"/settings/payment-terms/{term.pk}/edit/", {}).status_code == 403
    )
