"""Bad input answers 400 naming the field, and nothing is half-written."""

import pytest

from invoicing.models import Invoice, LedgerEntry
from o2c.models import AuditEvent
from o2c.tenancy import tenant_context
from orders.models import Fulfillment, SalesOrder
from reconciliation.models import Allocation, Payment
from tests.factories import CustomerFactory, issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(org):
    with tenant_context(org):
        customer = CustomerFactory()
        return {"customer": customer, "invoice": issued_invoice(customer, "100.00")}


def counts(org):
    with tenant_context(org):
        models = (SalesOrder, Fulfillment, Invoice, LedgerEntry, Payment, Allocation)
        return {m.__name__: m.objects.count() for m in models} | {
            "audit": AuditEvent.objects.count()
        }


def refused(api, url, body, field, status=400):
    response = api.post(url, body, format="json")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    return error


def test_negative_quantity(api, org, book):
    before = counts(org)
    refused(
        api,
        "/api/v1/orders/",
        {
            "customer": book["customer"].pk,
            "order_date": "2026-01-01",
            "lines": [
                {"description": "ok", "quantity": "1", "unit_price": "5.00"},
                {"description": "bad", "quantity": "-2", "unit_price": "5.00"},
            ],
        },
        "lines[1].quantity",
    )
    assert counts(org) == before


def test_unknown_currency(api, org, book):
    before = counts(org)
    error = refused(
        api,
        "/api/v1/payments/",
        {
            "customer": book["customer"].pk,
            "amount": "5.00",
            "currency": "XYZ",
            "received_date": "2026-01-05",
        },
        "currency",
    )
    assert "XYZ" in error["message"]
    assert counts(org) == before


def test_amount_finer_than_the_currency_allows(api, org, book):
    before = counts(org)
    refused(
        api,
        "/api/v1/payments/",
        {
            "customer": book["customer"].pk,
            "amount": "5.005",
            "currency": "EUR",
            "received_date": "2026-01-05",
        },
        "amount",
    )
    assert counts(org) == before


@pytest.mark.parametrize(
    ("payment_amount", "allocated", "code"),
    [
        ("500.00", "150.00", "exceeds_open_amount"),
        ("20.00", "30.00", "exceeds_unapplied"),
    ],
)
def test_allocation_beyond_open_amount_or_payment(
    api, org, book, payment_amount, allocated, code
):
    before = counts(org)
    error = refused(
        api,
        "/api/v1/payments/",
        {
            "customer": book["customer"].pk,
            "amount": payment_amount,
            "currency": "EUR",
            "received_date": "2026-01-05",
            "allocations": [{"invoice": book["invoice"].pk, "amount": allocated}],
        },
        "allocations[0].amount",
    )
    assert error["code"] == code
    assert counts(org) == before
    with tenant_context(org):
        book["invoice"].refresh_from_db()
        assert book["invoice"].status == Invoice.Status.OPEN


@pytest.mark.parametrize("bad_date", ["2026-13-45", "31/01/2026", "yesterday", ""])
def test_date_in_an_impossible_format(api, org, book, bad_date):
    before = counts(org)
    error = refused(
        api,
        "/api/v1/payments/",
        {
            "customer": book["customer"].pk,
            "amount": "5.00",
            "currency": "EUR",
            "received_date": bad_date,
        },
        "received_date",
    )
    assert error["code"] == "validation_error"
    assert counts(org) == before


def test_fulfilled_quantity_above_the_ordered_one(api, org, book):
    order = api.post(
        "/api/v1/orders/",
        {
            "customer": book["customer"].pk,
            "order_date": "2026-01-01",
            "lines": [{"description": "Crate", "quantity": "3", "unit_price": "9.00"}],
        },
        format="json",
    ).json()
    # the customer has an overdue invoice: finance confirms over the credit check
    confirmed = api.post(
        f"/api/v1/orders/{order['id']}/confirm/",
        {"override_credit_check": True},
        format="json",
    )
    assert confirmed.json()["credit_check_overridden"] is True
    before = counts(org)
    error = refused(
        api,
        "/api/v1/fulfillments/",
        {
            "order": order["id"],
            "shipped_date": "2026-01-02",
            "lines": [{"order_line": order["lines"][0]["id"], "quantity": "4"}],
        },
        "lines[0].quantity",
    )
    assert error["code"] == "exceeds_ordered"
    assert counts(org) == before


def test_malformed_json_is_a_clear_400(api):
    response = api.post(
        "/api/v1/customers/", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_bad_filter_values_name_the_parameter(api):
    response = api.get("/api/v1/invoices/?due_date_after=soon&status=nonsense")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"due_date_after", "status"} <= set(fields)
