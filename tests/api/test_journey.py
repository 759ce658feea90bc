"""The foundation journey, through the API alone, as an integration would run it."""

from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db


def post(client, url, body, status=201):
    response = client.post(url, body, format="json")
    assert response.status_code == status, response.json()
    return response.json()


def balance(client, customer_id, as_of):
    response = client.get(f"/api/v1/customers/{customer_id}/balance/?as_of={as_of}")
    assert response.status_code == 200, response.json()
    (eur,) = response.json()["balances"]
    return eur


def test_order_to_cash_through_the_api(api):
    term = post(
        api, "/api/v1/payment-terms/", {"name": "Net 30", "kind": "net", "days": 30}
    )
    customer = post(
        api,
        "/api/v1/customers/",
        {"name": "Lindqvist AB", "currency": "EUR", "payment_term": term["id"]},
    )
    order = post(
        api,
        "/api/v1/orders/",
        {
            "customer": customer["id"],
            "order_date": "2026-03-02",
            "lines": [
                {
                    "description": "Pallet racking",
                    "quantity": "4",
                    "unit_price": "250.00",
                    "tax_rate": "20",
                },
                {
                    "description": "Installation",
                    "quantity": "1",
                    "unit_price": "400.00",
                },
            ],
        },
    )
    assert order["status"] == "draft"
    order = post(api, f"/api/v1/orders/{order['id']}/confirm/", {}, status=200)
    assert order["status"] == "confirmed"

    racking = order["lines"][0]
    post(
        api,
        "/api/v1/fulfillments/",
        {
            "order": order["id"],
            "shipped_date": "2026-03-05",
            "lines": [{"order_line": racking["id"], "quantity": "4"}],
        },
    )
    invoice = post(
        api,
        "/api/v1/invoices/",
        {"sales_order": order["id"], "invoice_date": "2026-03-06", "issue": True},
    )
    # 4 x 250.00 + 20 % tax; the unshipped installation line is not billed
    assert invoice["total"] == "1200.00"
    assert invoice["due_date"] == "2026-04-05"
    assert invoice["status"] == "open"
    assert invoice["number"].startswith("INV-")
    assert (
        api.get(f"/api/v1/orders/{order['id']}/").json()["status"]
        == "partially_fulfilled"
    )

    # 60 % paid on 2026-03-20
    post(
        api,
        "/api/v1/payments/",
        {
            "customer": customer["id"],
            "amount": "720.00",
            "currency": "EUR",
            "received_date": "2026-03-20",
            "allocations": [{"invoice": invoice["id"], "amount": "720.00"}],
        },
    )
    invoice = api.get(f"/api/v1/invoices/{invoice['id']}/").json()
    assert (invoice["status"], invoice["open_amount"]) == ("partially_paid", "480.00")

    # the rest plus 10.00 on 2026-04-02: paid, 10.00 unapplied on account
    second = post(
        api,
        "/api/v1/payments/",
        {
            "customer": customer["id"],
            "amount": "490.00",
            "currency": "EUR",
            "received_date": "2026-04-02",
            "allocations": [{"invoice": invoice["id"], "amount": "480.00"}],
        },
    )
    assert second["unapplied_amount"] == "10.00"
    invoice = api.get(f"/api/v1/invoices/{invoice['id']}/").json()
    assert (invoice["status"], invoice["open_amount"]) == ("paid", "0.00")
    assert invoice["settled_date"] == "2026-04-02"

    # a second invoice, credited in part on 2026-04-10
    other = post(
        api,
        "/api/v1/invoices/",
        {
            "customer": customer["id"],
            "invoice_date": "2026-04-08",
            "lines": [
                {"description": "Spare parts", "quantity": "3", "unit_price": "100.00"}
            ],
            "issue": True,
        },
    )
    credit = post(
        api,
        "/api/v1/credit-notes/",
        {
            "invoice": other["id"],
            "credit_date": "2026-04-10",
            "reason": "One part damaged in transit",
            "lines": [
                {"description": "Damaged part", "quantity": "1", "unit_price": "100.00"}
            ],
        },
    )
    assert credit["total"] == "100.00"
    assert api.get(f"/api/v1/invoices/{other['id']}/").json()["open_amount"] == "200.00"

    # the second payment bounces on 2026-04-15
    reversed_payment = post(
        api,
        f"/api/v1/payments/{second['id']}/reverse/",
        {"reversal_date": "2026-04-15", "reason": "Returned by the bank"},
        status=200,
    )
    assert reversed_payment["status"] == "reversed"
    assert reversed_payment["unapplied_amount"] == "0.00"
    invoice = api.get(f"/api/v1/invoices/{invoice['id']}/").json()
    assert (invoice["status"], invoice["open_amount"]) == ("partially_paid", "480.00")

    # every earlier date still shows what the account stood at on that date
    expected = {
        "2026-03-05": ("0.00", "0.00", "0.00"),
        "2026-03-06": ("1200.00", "1200.00", "0.00"),
        "2026-03-20": ("480.00", "480.00", "0.00"),
        "2026-04-02": ("-10.00", "0.00", "10.00"),
        "2026-04-08": ("290.00", "300.00", "10.00"),
        "2026-04-10": ("190.00", "200.00", "10.00"),
        "2026-04-15": ("680.00", "680.00", "0.00"),
    }
    for as_of, (total, invoices_open, unapplied) in expected.items():
        if as_of == "2026-03-05":
            response = api.get(
                f"/api/v1/customers/{customer['id']}/balance/?as_of={as_of}"
            )
            assert response.json()["balances"] == []
            continue
        eur = balance(api, customer["id"], as_of)
        assert (eur["balance"], eur["invoices_open"], eur["unapplied_cash"]) == (
            total,
            invoices_open,
            unapplied,
        ), as_of
    # and the invoice's own history
    history = api.get(
        f"/api/v1/invoices/{invoice['id']}/balance/?as_of=2026-04-02"
    ).json()
    assert history["open_amount"] == "0.00"
    assert balance(api, customer["id"], "2026-04-15")["overdue"] == "480.00"
    assert Decimal(balance(api, customer["id"], "2026-04-15")["balance"]) == Decimal(
        "680.00"
    )

    ledger = api.get(
        f"/api/v1/ledger-entries/?customer={customer['id']}&page_size=100"
    ).json()
    assert "results" in ledger, ledger
    assert sum(Decimal(e["amount"]) for e in ledger["results"]) == Decimal("680.00")
