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
