"""The cash desk's forms: record a payment with its allocations, apply unapplied
cash, reverse a payment or an allocation, write off a remainder.

Each refused input answers 422 with the service's message, keeps what was typed
and writes nothing: the open amounts and the unapplied cash are checked after
every action, as a finance person would.
"""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from invoicing.models import Invoice
from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.models import Allocation, Payment, WriteOff
from tests.factories import (
    CustomerFactory,
    issued_invoice,
    member,
    received_payment,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def client(org):
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    return client


@pytest.fixture
def acme(tenant):
    return CustomerFactory(name="Acme Tools", number="C-100", currency="EUR")


@pytest.fixture
def older(acme):
    """Due first: the suggestion fills it first."""
    return issued_invoice(
        acme, "100.00", invoice_date=date(2026, 1, 5), due_date=date(2026, 1, 20)
    )


@pytest.fixture
def newer(acme):
    return issued_invoice(
        acme, "100.00", invoice_date=date(2026, 1, 2), due_date=date(2026, 2, 20)
    )


@pytest.fixture
def foreign_customer(other_org):
    with tenant_context(other_org):
        return CustomerFactory(name="Someone Else's", number="X-1")


def open_amount(invoice) -> Decimal:
    invoice.refresh_from_db()
    return invoice.open_amount


def refused(response, message: str) -> str:
    page = response.content.decode()
    assert response.status_code == 422, page[:2000]
    assert "Nothing was saved" in page
    assert message in page, page
    return page


def payment_data(customer, **changes) -> dict:
    return {
        "customer": customer.pk,
        "received_date": "2026-03-01",
        "amount": "150.00",
        "currency": "EUR",
        "method": "bank_transfer",
        "reference": "REMIT 4711",
        "payer_name": "",
        **changes,
    }


# --- Record a payment ---------------------------------------------------------------


def test_the_suggestion_fills_the_oldest_due_invoice_first(client, acme, older, newer):
    page = client.post(
        "/payments/new/", {**payment_data(acme), "suggest": "1"}
    ).content.decode()
    assert page.index(str(older)) < page.index(str(newer))
    assert f'name="apply_{older.pk}" value="100.00"' in page
    assert f'name="apply_{newer.pk}" value="50.00"' in page
    assert not Payment.objects.exists()


def test_a_payment_applies_the_amounts_the_clerk_chose(client, acme, older, newer):
    # The remittance says the newer invoice: 30.00 on it, the rest on account.
    response = client.post(
        "/payments/new/",
        payment_data(acme, **{f"apply_{older.pk}": "", f"apply_{newer.pk}": "30.00"}),
    )
    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/payments/{payment.pk}/"
    assert payment.amount == Decimal("150.00")
    assert payment.unapplied_amount == Decimal("120.00")
    assert payment.reference == "REMIT 4711"
    assert open_amount(older) == Decimal("100.00")
    assert open_amount(newer) == Decimal("70.00")
    page = client.get(f"/payments/{payment.pk}/").content.decode()
    assert "120.00" in page and str(newer) in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"apply": "200.00", "amount": "250.00"}, "open; got 200.00"),
        ({"apply": "100.00", "amount": "60.00"}, "60.00"),
        ({"amount": "-5.00"}, "Amount must be positive."),
        ({"currency": "EURO"}, "Unknown currency &#x27;EURO&#x27;."),
        ({"received_date": "2026-02-30"}, "is not a date in the calendar"),
    ],
    ids=["over-invoice", "over-payment", "negative", "currency", "date"],
)
def test_a_refused_payment_writes_nothing(client, acme, older, changes, message):
    changes = dict(changes)
    apply = changes.pop("apply", "")
    data = payment_data(acme, **{f"apply_{older.pk}": apply}, **changes)
    page = refused(client.post("/payments/new/", data), message)
    # The input is kept for the clerk to correct.
    assert 'value="REMIT 4711"' in page
    assert not Payment.objects.exists()
    assert open_amount(older) == Decimal("100.00")


def test_a_foreign_customer_in_the_hidden_field_is_not_found(
    client, acme, foreign_customer
):
    response = client.post("/payments/new/", payment_data(foreign_customer))
    assert response.status_code == 404
    assert not Payment.objects.exists()


def test_a_payment_without_customer_asks_for_one(client, acme):
    refused(
        client.post("/payments/new/", {**payment_data(acme), "customer": ""}),
        "Choose the customer.",
    )
    assert not Payment.objects.exists()


# --- Reverse a payment --------------------------------------------------------------


def test_reversing_a_payment_needs_a_reason_and_reopens_the_invoice(
    client, acme, older
):
    payment = received_payment(acme, "100.00", allocations=[(older, "60.00")])
    refused(
        client.post(f"/payments/{payment.pk}/reverse/", {"reason": ""}),
        "Reason: This field is required.",
    )
    assert open_amount(older) == Decimal("40.00")

    response = client.post(f"/payments/{payment.pk}/reverse/", {"reason": "Bounced"})
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == Payment.Status.REVERSED
    assert payment.reversal_reason == "Bounced"
    assert payment.unapplied_amount == Decimal("0.00")
    assert open_amount(older) == Decimal("100.00")


def test_a_reversal_dated_before_the_payment_is_refused(client, acme, older):
    payment = received_payment(acme, "100.00", received_date=date(2026, 2, 1))
    refused(
        client.post(
            f"/payments/{payment.pk}/reverse/",
            {"reason": "Bounced", "reversal_date": "2026-01-10"},
        ),
        "A reversal cannot be dated before 2026-02-01",
    )
    payment.refresh_from_db()
    assert payment.status == Payment.Status.RECEIVED
    assert payment.unapplied_amount == Decimal("100.00")


# --- Apply unapplied cash -----------------------------------------------------------


def test_applying_cash_suggests_oldest_first_and_applies_the_edit(
    client, acme, older, newer
):
    payment = received_payment(acme, "130.00")
    page = client.get(f"/customers/{acme.pk}/apply-cash/").content.decode()
    assert f'name="apply_{older.pk}" value="100.00"' in page
    assert f'name="apply_{newer.pk}" value="30.00"' in page

    response = client.post(
        f"/customers/{acme.pk}/apply-cash/",
        {
            "payment": payment.pk,
            "allocation_date": "2026-03-01",
            f"apply_{older.pk}": "80.00",
            f"apply_{newer.pk}": "30.00",
        },
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.unapplied_amount == Decimal("20.00")
    assert open_amount(older) == Decimal("20.00")
    assert open_amount(newer) == Decimal("70.00")


def test_applying_more_than_the_unapplied_cash_writes_nothing(
    client, acme, older, newer
):
    payment = received_payment(acme, "130.00")
    page = refused(
        client.post(
            f"/customers/{acme.pk}/apply-cash/",
            {
                "payment": payment.pk,
                "allocation_date": "2026-03-01",
                f"apply_{older.pk}": "100.00",
                f"apply_{newer.pk}": "40.00",
            },
        ),
        "30.00",
    )
    assert 'value="40.00"' in page
    # The first amount was accepted, then rolled back with the refused second.
    payment.refresh_from_db()
    assert payment.unapplied_amount == Decimal("130.00")
    assert not Allocation.objects.exists()
    assert open_amount(older) == Decimal("100.00")


def test_apply_cash_refuses_another_customers_or_organizations_payment(
    client, acme, older, other_org, foreign_customer
):
    other = CustomerFactory(name="Beta", number="C-200", currency="EUR")
    others_payment = received_payment(other, "50.00")
    with tenant_context(other_org):
        foreign_payment = received_payment(foreign_customer, "50.00")
    for payment in (others_payment, foreign_payment):
        response = client.post(
            f"/customers/{acme.pk}/apply-cash/",
            {
                "payment": payment.pk,
                "allocation_date": "2026-03-01",
                f"apply_{older.pk}": "50.00",
            },
        )
        assert response.status_code == 404
    assert client.get(f"/customers/{foreign_customer.pk}/apply-cash/").status_code == (
        404
    )
    assert not Allocation.objects.exists()
    assert open_amount(older) == Decimal("100.00")


# --- Reverse an allocation ----------------------------------------------------------


def test_reversing_an_allocation_returns_the_cash_to_the_account(client, acme, older):
    payment = received_payment(acme, "100.00", allocations=[(older, "60.00")])
    allocation = Allocation.objects.get()
    page = client.get(f"/invoices/{older.pk}/settlements/").content.decode()
    assert f"/allocations/{allocation.pk}/reverse/" in page

    response = client.post(
        f"/allocations/{allocation.pk}/reverse/", {"back": "invoice"}
    )
    assert response["Location"] == f"/invoices/{older.pk}/"
    payment.refresh_from_db()
    assert payment.unapplied_amount == Decimal("100.00")
    assert open_amount(older) == Decimal("100.00")
    # Twice is refused, and nothing moves.
    refused(client.post(f"/allocations/{allocation.pk}/reverse/"), "reversed")
    payment.refresh_from_db()
    assert payment.unapplied_amount == Decimal("100.00")


# --- Write-offs ---------------------------------------------------------------------


def test_the_write_off_form_offers_the_remainder_and_says_the_limit(
    client, org, acme, older
):
    org.write_off_limit = Decimal("10.00")
    org.save()
    received_payment(acme, "95.00", allocations=[(older, "95.00")])
    page = client.get(f"/invoices/{older.pk}/write-off/").content.decode()
    assert 'name="amount" value="5.00"' in page
    assert 'write-off limit: <span class="money">10.00 <span class="ccy">EUR' in page


def test_write_off_refusals_and_the_remainder_closed(client, org, acme, older):
    org.write_off_limit = Decimal("10.00")
    org.save()
    received_payment(acme, "85.00", allocations=[(older, "85.00")])
    url = f"/invoices/{older.pk}/write-off/"
    data = {"write_off_date": "2026-03-01", "reason": "Bank charges"}
    refused(
        client.post(url, {**data, "amount": "15.00"}),
        "Write-offs above 10.00 EUR need an admin.",
    )
    refused(client.post(url, {**data, "amount": "-1"}), "Amount must be positive.")
    refused(
        client.post(url, {**data, "amount": "5", "write_off_date": "2026-02-30"}),
        "is not a date in the calendar",
    )
    assert not WriteOff.objects.exists()
    assert open_amount(older) == Decimal("15.00")

    client.post(url, {**data, "amount": "10.00"})
    assert open_amount(older) == Decimal("5.00")
    assert client.post(url, {**data, "amount": "5.00"}).status_code == 302
    assert open_amount(older) == Decimal("0.00")
    older.refresh_from_db()
    assert older.status == Invoice.Status.PAID
