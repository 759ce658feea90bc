"""The stored prediction where collectors look: the customer page's open
invoices and outlook, and the aging drill-down — read with the page's query."""

from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from collecting.prediction.services import predictions_refresh
from o2c.models import Role
from tests.factories import CustomerFactory, issued_invoice, member, received_payment

TODAY = date(2026, 5, 10)


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-05-10 10:00 +0000", tick=False):
        yield


def _paid_late(customer, days_late):
    """One 100.00 invoice a month from January, each paid that many days late."""
    for month, late in enumerate(days_late, start=1):
        invoice = issued_invoice(customer, "100.00", invoice_date=date(2026, month, 1))
        received_payment(
            customer,
            "100.00",
            received_date=invoice.due_date + timedelta(days=late),
            allocations=[(invoice, "100.00")],
        )


@pytest.fixture
def slow_customer(tenant):
    """Paid 4, 10 and 6 days late (median 6); two open invoices scored on 10 May,
    one already scored, one issued after the scoring."""
    customer = CustomerFactory()
    _paid_late(customer, (4, 10, 6))
    scored = issued_invoice(customer, "100.00", invoice_date=date(2026, 5, 1))
    predictions_refresh(today=TODAY)
    unscored = issued_invoice(customer, "70.00", invoice_date=date(2026, 5, 9))
    return customer, scored, unscored


def _client(org, locale="en"):
    org.locale = locale
    org.save(update_fields=["locale"])
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    return client


def _expected(invoice, days=6):
    return (invoice.due_date + timedelta(days=days)).strftime("%Y-%m-%d")


def test_customer_page_shows_expected_dates_and_outlook(org, slow_customer):
    customer, scored, unscored = slow_customer

    html = _client(org).get(f"/customers/{customer.pk}/account/").content.decode()

    row = html.split(scored.number)[1].split("</tr>")[0]
    assert _expected(scored) in row
    assert "6 days late" in row
    unscored_row = html.split(unscored.number)[1].split("</tr>")[0]
    assert "Not scored yet" in unscored_row
    outlook = html.split('id="customer-payment-outlook"')[1].split("</dl>")[0]
    assert "6 days late on average" in outlook
    assert "1 of 1 open invoices" in outlook
    assert "Pays 6 days late (median)" in outlook


def test_customer_page_in_german(org, slow_customer):
    customer, scored, _ = slow_customer

    html = _client(org, "de").get(f"/customers/{customer.pk}/account/").content.decode()

    assert "Erwartete Zahlung" in html
    assert _expected(scored) in html
    assert "6 Tage zu spät" in html
    assert "Zahlt im Median 6 Tage zu spät" in html
    assert "Im Schnitt 6 Tage zu spät" in html


def test_aging_drill_down_shows_expected_payment_in_one_query(org, slow_customer):
    _, scored, _ = slow_customer
    client = _client(org)
    client.get("/reports/aging/invoices/")  # warm up session and caches

    with CaptureQueriesContext(connection) as queries:
        html = client.get("/reports/aging/invoices/").content.decode()

    assert "Expected payment" in html
    row = html.split(scored.number)[1].split("</tr>")[0]
    assert _expected(scored) in row
    reading_predictions = [
        query for query in queries if "invoiceprediction" in query["sql"]
    ]
    assert len(reading_predictions) == 1  # joined to the page's invoices


def test_aging_in_the_past_has_no_expected_column(org, slow_customer):
    html = (
        _client(org).get("/reports/aging/invoices/?as_of=2026-05-01").content.decode()
    )

    assert "Expected payment" not in html


def test_customer_outlook_weighs_lateness_by_open_amount(org, tenant):
    """A 1.00 remainder 85 days past due beside 100.00 expected 6 days late:
    7 days late on average by amount, not 46 by invoice."""
    customer = CustomerFactory()
    _paid_late(customer, (4, 10, 6))
    remainder = issued_invoice(customer, "100.00", invoice_date=date(2026, 1, 15))
    received_payment(
        customer,
        "99.00",
        received_date=date(2026, 2, 20),
        allocations=[(remainder, "99.00")],
    )
    issued_invoice(customer, "100.00", invoice_date=date(2026, 5, 1))
    predictions_refresh(today=TODAY)

    html = _client(org).get(f"/customers/{customer.pk}/account/").content.decode()

    outlook = html.split('id="customer-payment-outlook"')[1].split("</dl>")[0]
    assert "7 days late on average" in outlook
    assert "2 of 2 open invoices" in outlook
