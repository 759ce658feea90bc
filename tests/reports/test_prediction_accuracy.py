"""The prediction accuracy page: what serves, why, and the figures of the model
beside the baselines as the last nightly training measured them."""

from datetime import date

import pytest
from django.test import Client
from django.utils import timezone

from collecting.models import PredictionModel
from o2c.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db

FIGURES = {
    "model": {
        "count": 412,
        "mae_days": 4.21,
        "within_3_days": 0.523,
        "within_7_days": 0.811,
        "interval_coverage": 0.786,
    },
    "customer_median": {
        "count": 412,
        "mae_days": 6.5,
        "within_3_days": 0.401,
        "within_7_days": 0.702,
        "interval_coverage": 0.655,
    },
    "due_date": {
        "count": 412,
        "mae_days": 11.04,
        "within_3_days": 0.22,
        "within_7_days": 0.41,
        "interval_coverage": 0.1,
    },
}


def _record(tenant, **fields):
    values = {
        "organization": tenant,
        "kind": PredictionModel.Kind.MODEL,
        "reason": PredictionModel.Reason.PUBLISHED,
        "trained_at": timezone.now(),
        "trained_through": date(2026, 5, 10),
        "settled_invoices": 1373,
        "metrics": FIGURES,
        "predictions_count": 95,
    }
    return PredictionModel.objects.create(**(values | fields))


def _page(org, locale="en") -> str:
    org.locale = locale
    org.save(update_fields=["locale"])
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    response = client.get("/reports/prediction-accuracy/")
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, key: str) -> list[str]:
    row = html.split(f'id="accuracy-{key}"')[1].split("</tr>")[0]
    return [
        cell.split(">", 1)[1].split("<")[0].strip() for cell in row.split("<td")[1:]
    ]


def test_the_served_model_beside_both_baselines(org, tenant):
    _record(tenant)

    html = _page(org)

    serving = html.split('id="prediction-serving"')[1].split("</dl>")[0]
    assert "Trained model" in serving
    assert "Beat the baseline on recent history" in serving
    assert "1373" in serving and "95" in serving
    assert _row(html, "model")[1:] == ["412", "4.2", "52.3 %", "81.1 %", "78.6 %"]
    assert _row(html, "customer_median")[1:] == [
        "412", "6.5", "40.1 %", "70.2 %", "65.5 %"
    ]  # fmt: skip
    # The due date is a single day: no interval to cover.
    assert _row(html, "due_date")[1:5] == ["412", "11", "22 %", "41 %"]
    assert "serving" in html.split('id="accuracy-model"')[1].split("</tr>")[0]


def test_the_latest_training_counts_and_the_baseline_says_why(org, tenant):
    _record(tenant, trained_at=timezone.now() - timezone.timedelta(days=1))
    _record(
        tenant,
        kind=PredictionModel.Kind.BASELINE,
        reason=PredictionModel.Reason.TOO_FEW,
        settled_invoices=57,
        metrics={},
    )

    html = _page(org)

    serving = html.split('id="prediction-serving"')[1].split("</dl>")[0]
    assert "Customer median (baseline)" in serving
    assert "57 settled invoices, the model needs 200" in serving
    assert 'id="prediction-accuracy"' not in html
    assert "Not measured" in html


def test_before_the_first_run_and_in_german(org, tenant):
    assert "No prediction yet" in _page(org)
    _record(tenant)

    html = _page(org, "de")

    assert "Vorhersagegenauigkeit" in html
    assert _row(html, "model")[2:4] == ["4,2", "52,3 %"]


def test_weekly_forecast_is_kept_and_scored_against_cash_received(org, tenant):
    from decimal import Decimal

    import time_machine

    from reports.models import ForecastSnapshot
    from reports.services import forecast_snapshot_take
    from tests.factories import CustomerFactory, issued_invoice, received_payment

    customer = CustomerFactory()
    invoice = issued_invoice(
        customer, "100.00", invoice_date=date(2026, 4, 20), due_date=date(2026, 5, 6)
    )
    with time_machine.travel("2026-05-04 10:00 +0000", tick=False):
        assert forecast_snapshot_take() == 13
        assert forecast_snapshot_take() == 13  # the day's rows replaced
    kept = ForecastSnapshot.objects.filter(currency=invoice.currency)
    assert kept.count() == 13
    assert kept.get(horizon=0).amount == Decimal("100.00")
    assert kept.get(horizon=0).week_start == date(2026, 5, 4)
    # 80 of the 100 came in the first week; nothing in the second.
    received_payment(
        customer,
        "80.00",
        received_date=date(2026, 5, 7),
        allocations=[(invoice, "80.00")],
    )
    # Cash on an invoice issued after the forecast was made is not its miss.
    later = issued_invoice(customer, "30.00", invoice_date=date(2026, 5, 5))
    received_payment(
        customer,
        "30.00",
        received_date=date(2026, 5, 8),
        allocations=[(later, "30.00")],
    )
    kept.filter(horizon=1).update(amount=Decimal("50.00"))

    with time_machine.travel("2026-05-19 10:00 +0000", tick=False):
        html = _page(org)

    table = html.split(f'id="forecast-accuracy-{invoice.currency}"')[1]
    rows = [
        [cell.split(">", 1)[1].split("<")[0].strip() for cell in row.split("<td")[1:]]
        for row in table.split("</table>")[0].split("<tr>")[2:]
    ]
    # Weeks 1 and 2 have ended by 19 May; week 3 (18-24 May) has not.
    assert [row[0] for row in rows] == ["1", "2"]
    assert rows[0][1] == "1"
    first_week = table.split("</tr>")[1]
    assert "100.00" in first_week and "80.00" in first_week
    assert rows[0][5:] == ["25 %", "+25 %"]  # |100 - 80| / 80, (100 - 80) / 80
    assert rows[1][5:] == ["—", "—"]


def test_the_accuracy_figures_in_the_api(org, tenant, api, other_api):
    from decimal import Decimal

    import time_machine

    from reports.models import ForecastSnapshot

    _record(tenant)
    for horizon, amount in ((0, "120.00"), (1, "0.00")):
        ForecastSnapshot.objects.create(
            organization=tenant,
            made_on=date(2026, 5, 4),
            currency="EUR",
            horizon=horizon,
            week_start=date(2026, 5, 4 + 7 * horizon),
            amount=Decimal(amount),
            reconstructed=True,
        )

    with time_machine.travel("2026-05-19 10:00 +0000", tick=False):
        body = api.get("/api/v1/reports/prediction-accuracy/").json()
        elsewhere = other_api.get("/api/v1/reports/prediction-accuracy/").json()

    prediction = body["prediction"]
    assert prediction["kind"] == "model" and prediction["settled_invoices"] == 1373
    assert prediction["open_invoices_scored"] == 95
    model = prediction["methods"][0]
    assert model == {
        "method": "model",
        "invoices": 412,
        "mean_error_days": "4.2",
        "within_3_days_percent": "52.3",
        "within_7_days_percent": "81.1",
        "interval_coverage_percent": "78.6",
        "serves": True,
    }
    assert prediction["methods"][2]["interval_coverage_percent"] is None
    # Nothing received: 120 forecast in the first week has no WAPE to give.
    [eur] = body["forecast"]
    assert eur["currency"] == "EUR"
    assert eur["horizons"][0] == {
        "weeks_ahead": 1,
        "weeks_scored": 1,
        "reconstructed": 1,
        "forecast": "120.00",
        "received": "0.00",
        "wape_percent": None,
        "bias_percent": None,
    }
    # Another organization sees none of it.
    assert elsewhere["prediction"] is None and elsewhere["forecast"] == []
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/reports/prediction-accuracy/" in schema["paths"]
