"""Date inputs in the organization's format: 31.12.2026 for a German-format
organization, 12/31/2026 for an American one, ISO always; a wrong format is an
error naming the field and the format; chart axes use the format too."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from o2c.models import FxRate, Role
from o2c.tenancy import tenant_context
from reconciliation.models import Payment
from tests.factories import CustomerFactory, issued_invoice, member

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def formatted(org, date_format: str):
    org.date_format = date_format
    org.save(update_fields=["date_format"])
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    return client


@pytest.fixture
def acme(org):
    with tenant_context(org):
        return CustomerFactory(name="Acme Tools", number="C-100", currency="EUR")


def payment_data(customer, received_date) -> dict:
    return {
        "customer": customer.pk,
        "received_date": received_date,
        "amount": "150.00",
        "currency": "EUR",
        "method": "bank_transfer",
        "reference": "REMIT 4711",
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("date_format", "typed"),
    [("d.m.Y", "01.03.2026"), ("m/d/Y", "03/01/2026"), ("d.m.Y", "2026-03-01")],
)
def test_a_payment_date_typed_in_the_organizations_format_is_saved(
    org, acme, date_format, typed
):
    client = formatted(org, date_format)
    response = client.post("/payments/new/", payment_data(acme, typed))
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(org):
        assert Payment.objects.get().received_date == date(2026, 3, 1)


@pytest.mark.django_db
def test_a_german_org_enters_31_12_2026_for_an_fx_rate_and_it_is_saved_as_that_day(
    org,
):
    client = formatted(org, "d.m.Y")
    client.post(
        "/fx-rates/add/", {"currency": "USD", "date": "31.12.2026", "rate": "1.1"}
    )
    with tenant_context(org):
        assert FxRate.objects.get().date == date(2026, 12, 31)
    page = client.get("/fx-rates/").content.decode()
    assert "31.12.2026" in page
    assert 'placeholder="DD.MM.YYYY"' in page


@pytest.mark.django_db
def test_a_wrong_format_names_the_field_and_the_format_and_keeps_the_input(org, acme):
    client = formatted(org, "d.m.Y")
    response = client.post("/payments/new/", payment_data(acme, "03/01/2026"))
    page = response.content.decode()
    assert response.status_code == 422
    assert (
        "Received on: &#x27;03/01/2026&#x27; is not a date in the calendar; write it "
        "as DD.MM.YYYY (or YYYY-MM-DD)." in page
    )
    assert 'value="03/01/2026"' in page
    with tenant_context(org):
        assert not Payment.objects.exists()


@pytest.mark.django_db
def test_an_american_org_sees_its_format_in_the_form_and_in_filters(org, acme):
    client = formatted(org, "m/d/Y")
    with tenant_context(org):
        issued_invoice(
            acme, "80.00", invoice_date=date(2026, 1, 2), due_date=date(2026, 1, 31)
        )
    form = client.get("/payments/new/").content.decode()
    assert 'placeholder="MM/DD/YYYY"' in form
    assert 'type="date"' not in form
    listed = client.get("/invoices/?due_from=01/01/2026&due_to=01/31/2026")
    assert listed.status_code == 200
    page = listed.content.decode()
    assert 'value="01/01/2026"' in page and "01/31/2026" in page
    aging = client.get("/reports/aging/?as_of=31.12.2026")
    assert aging.status_code == 400
    assert "write it as MM/DD/YYYY (or YYYY-MM-DD)" in aging.content.decode()


@pytest.mark.django_db
def test_chart_axes_write_months_in_the_organizations_format(org, acme):
    from o2c.dates import format_org_date, format_org_month

    with tenant_context(org):
        for date_format, month, day in [
            ("d.m.Y", "03.2026", "02.03.2026"),
            ("d/m/Y", "03/2026", "02/03/2026"),
            ("m/d/Y", "03/2026", "03/02/2026"),
            ("Y-m-d", "2026-03", "2026-03-02"),
        ]:
            org.date_format = date_format
            assert format_org_month(date(2026, 3, 2)) == month
            assert format_org_date(date(2026, 3, 2)) == day
    with tenant_context(org):
        issued_invoice(
            acme, "80.00", invoice_date=date(2026, 1, 2), due_date=date(2026, 1, 31)
        )
    client = formatted(org, "d.m.Y")
    metrics = client.get("/reports/metrics/").content.decode()
    assert '"01.2026"' in metrics and '"2026-01"' not in metrics
