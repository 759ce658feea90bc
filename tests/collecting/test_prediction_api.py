"""The prediction through the API: its own endpoint, on invoices, as a filter."""

from datetime import date, timedelta

import pytest

from collecting.prediction.services import predictions_refresh
from tests.factories import CustomerFactory, issued_invoice, received_payment

TODAY = date(2026, 5, 10)


@pytest.fixture
def scored(tenant):
    """A customer who paid 4, 10 and 6 days late, and a punctual one; one open
    invoice each, scored on 10 May."""
    slow, punctual = CustomerFactory(), CustomerFactory()
    for month, late in ((1, 4), (2, 10), (3, 6)):
        for customer, days in ((slow, late), (punctual, 0)):
            invoice = issued_invoice(
                customer, "100.00", invoice_date=date(2026, month, 1)
            )
            received_payment(
                customer,
                "100.00",
                received_date=invoice.due_date + timedelta(days=days),
                allocations=[(invoice, "100.00")],
            )
    late = issued_invoice(slow, "100.00", invoice_date=date(2026, 5, 1))
    on_time = issued_invoice(punctual, "100.00", invoice_date=date(2026, 5, 1))
    predictions_refresh(today=TODAY)
    return late, on_time


def test_prediction_endpoint_gives_dates_chances_and_reasons(api, scored):
    late, _ = scored

    response = api.get(f"/api/v1/invoices/{late.pk}/prediction/")

    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "baseline"
    assert body["as_of"] == TODAY.isoformat()
    assert body["expected_date"] == (late.due_date + timedelta(days=6)).isoformat()
    assert body["expected_days_late"] == 6
    assert body["expected_late"] is True
    assert body["earliest_date"] <= body["expected_date"] <= body["latest_date"]
    assert 0 <= float(body["chance_within_terms"]) < 0.5
    assert float(body["chance_within_30_days"]) > 0.5
    assert body["reasons"] == [
        {"code": "median_days_late", "text": "Pays 6 days late (median)", "days": 6}
    ]


def test_invoices_carry_their_prediction_and_filter_on_expected_lateness(api, scored):
    late, on_time = scored

    listed = api.get("/api/v1/invoices/", {"expected_late": "true"}).json()
    assert [row["number"] for row in listed["results"]] == [late.number]
    assert listed["results"][0]["prediction"]["expected_days_late"] == 6
    punctual = api.get("/api/v1/invoices/", {"expected_late": "false"}).json()
    assert [row["number"] for row in punctual["results"]] == [on_time.number]
    detail = api.get(f"/api/v1/invoices/{on_time.pk}/").json()
    assert detail["prediction"]["expected_date"] == on_time.due_date.isoformat()
    paid = api.get("/api/v1/invoices/", {"status": "paid"}).json()["results"]
    assert {row["prediction"] for row in paid} == {None}


def test_an_invoice_without_prediction_says_so(api, tenant):
    invoice = issued_invoice(CustomerFactory(), "50.00")

    response = api.get(f"/api/v1/invoices/{invoice.pk}/prediction/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_prediction"


def test_another_organizations_prediction_is_not_found(other_api, scored):
    late, _ = scored

    response = other_api.get(f"/api/v1/invoices/{late.pk}/prediction/")

    assert response.status_code == 404


def test_invoice_page_shows_the_prediction_in_german(org, scored):
    from django.test import Client

    from o2c.models import Role
    from tests.factories import member

    late, _ = scored
    org.locale = "de"
    org.save(update_fields=["locale"])
    client = Client()
    client.force_login(member(org, Role.FINANCE))

    page = client.get(f"/invoices/{late.pk}/").content.decode()

    assert 'id="invoice-prediction"' in page
    assert "Erwartete Zahlung" in page
    assert "Zahlt im Median 6 Tage zu spät" in page


def test_every_feature_has_words():
    from collecting.prediction.features import FEATURES
    from invoicing.prediction import reason_text

    codes = [*FEATURES, "organization_median"]
    texts = {
        code: reason_text({"code": code, "value": 4.0, "days": 2.0}) for code in codes
    }

    assert [code for code, text in texts.items() if not text or text == code] == []
    assert texts["amount_to_usual"] == "Amount 4.0 times its usual"
    assert texts["dunning_steps_sent"] == "4 reminders sent"
    assert texts["days_past_due"] == "Already 4 days past due"
    assert reason_text({"code": "median_days_late", "value": -3.0}) == (
        "Pays 3 days early (median)"
    )
