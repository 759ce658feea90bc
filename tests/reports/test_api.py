"""The reports API: aging (as-of, buckets, grouping), drill-down, metrics; other
organizations' ids answer 404; everything is in the OpenAPI schema."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.conftest import api_client_for
from tests.factories import CustomerFactory, issued_invoice, member, received_payment

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture(autouse=True)
def _today():
    with time_machine.travel("2026-06-30 10:00 +0000", tick=False):
        yield


@pytest.fixture
def books(org):
    with tenant_context(org):
        alice = member(org, Role.COLLECTOR, first_name="Alice", last_name="Ames")
        customer = CustomerFactory(collector=alice, segment="OEM")
        late = issued_invoice(
            customer, "100.00", invoice_date=date(2026, 4, 1), due_date=date(2026, 5, 1)
        )
        issued_invoice(
            customer,
            "50.00",
            invoice_date=date(2026, 6, 20),
            due_date=date(2026, 7, 20),
        )
        received_payment(
            customer,
            "30.00",
            received_date=date(2026, 6, 25),
            allocations=[(late, "30.00")],
        )
    return {"customer": customer, "collector": alice}


def test_aging_today(api, books):
    response = api.get("/api/v1/reports/aging/")
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2026-06-30" and body["is_today"] is True
    assert [b["label"] for b in body["buckets"]] == [
        "Current",
        "1\u201330",
        "31\u201360",
        "61\u201390",
        "90+",
    ]
    (total,) = body["totals"]
    assert total["buckets"] == ["50.00", "0.00", "70.00", "0.00", "0.00"]
    assert total["total"] == "120.00" and total["overdue"] == "70.00"
    (row,) = body["rows"]
    assert row["key"] == str(books["customer"].pk)
    assert row["number"] == books["customer"].number


def test_aging_as_of_with_buckets_and_grouping(api, books):
    response = api.get(
        "/api/v1/reports/aging/",
        {"as_of": "2026-06-10", "buckets": "15,45", "group_by": "collector"},
    )
    body = response.json()
    assert body["is_today"] is False
    (row,) = body["rows"]
    assert row["label"] == "Alice Ames"
    # 10 June: 100.00 was 40 days late (16-45), the payment came later.
    assert row["buckets"] == ["0.00", "0.00", "100.00", "0.00"]


def test_aging_drill_down(api, books):
    response = api.get("/api/v1/reports/aging/invoices/", {"bucket": 2})
    body = response.json()
    assert body["count"] == 1
    (invoice,) = body["results"]
    assert invoice["open_amount"] == "70.00" and invoice["days_past_due"] == 60


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"buckets": "90,30"}, "buckets"),
        ({"as_of": "2030-01-01"}, "as_of"),
        ({"group_by": "planet"}, "group_by"),
        ({"in_base": "yes", "page_size": 100000}, "page_size"),
    ],
)
def test_aging_bad_input_is_a_clear_error(api, books, params, field):
    response = api.get("/api/v1/reports/aging/", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_missing_fx_rate_is_an_error_not_a_guess(api, org):
    with tenant_context(org):
        issued_invoice(
            CustomerFactory(currency="USD"),
            "10.00",
            invoice_date=date(2026, 6, 1),
            due_date=date(2026, 7, 1),
        )
    response = api.get("/api/v1/reports/aging/", {"in_base": "true"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_fx_rate"
    assert "USD" in error["message"] and "2026-06-30" in error["message"]


def test_another_organizations_ids_are_not_found(api, books, other_org):
    with tenant_context(other_org):
        foreign_customer = CustomerFactory()
        foreign_collector = member(other_org, Role.COLLECTOR)
    for path, params in [
        ("/api/v1/reports/aging/", {"customer": foreign_customer.pk}),
        ("/api/v1/reports/aging/", {"collector": foreign_collector.pk}),
        ("/api/v1/reports/aging/invoices/", {"customer": foreign_customer.pk}),
        (
            "/api/v1/reports/metrics/",
            {"scope": "collector", "key": foreign_collector.pk},
        ),
    ]:
        response = api.get(path, params)
        assert response.status_code == 404, path


def test_other_organization_sees_none_of_it(books, other_org):
    body = api_client_for(other_org).get("/api/v1/reports/aging/").json()
    assert body["totals"] == [] and body["rows"] == []


def test_metrics_series_with_definitions(api, books):
    response = api.get("/api/v1/reports/metrics/", {"months": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "ledger"
    assert "countback" in body["definitions"]["dso_countback"].lower()
    (series,) = body["series"]
    assert [m["month"] for m in series["months"]] == [
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]
    may = series["months"][-1]
    assert may["receivables"] == "100.00"
    assert may["credit_sales"] == "0.00"
    assert may["dso_simple"] is None  # no sales in May
    assert may["dso_countback"] == "61.00"  # all of May (31) and April (30)
    april = series["months"][1]
    assert (
        april["dso_countback"] == "30.00" and april["current_receivables"] == "100.00"
    )


def test_metrics_per_collector(api, books):
    collector = books["collector"]
    response = api.get(
        "/api/v1/reports/metrics/",
        {
            "scope": "collector",
            "key": collector.pk,
            "months": 2,
            "end_month": "2026-05",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == str(collector.pk)
    assert body["series"][0]["months"][-1]["receivables"] == "100.00"


def test_viewers_read_reports(org, books):
    assert (
        api_client_for(org, Role.VIEWER).get("/api/v1/reports/aging/").status_code
        == 200
    )


def test_endpoints_are_documented_in_the_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/reports/aging/",
        "/api/v1/reports/aging/invoices/",
        "/api/v1/reports/metrics/",
    ):
        assert path in paths
    aging = paths["/api/v1/reports/aging/"]["get"]
    names = {parameter["name"] for parameter in aging["parameters"]}
    assert {"as_of", "buckets", "group_by", "in_base", "collector", "segment"} <= names
    assert "Aging by due date" in aging["description"]


def test_unused_unapplied_reduces_net_in_api(api, org):
    with tenant_context(org):
        customer = CustomerFactory()
        received_payment(customer, "25.00", received_date=date(2026, 6, 29))
    (row,) = api.get("/api/v1/reports/aging/").json()["rows"]
    assert row["unapplied_cash"] == "25.00" and row["net_balance"] == "-25.00"


def test_old_invoice_ages_into_the_last_bucket(api, org):
    with tenant_context(org):
        issued_invoice(
            CustomerFactory(),
            "9.99",
            invoice_date=date(2025, 1, 1),
            due_date=date(2026, 6, 30) - timedelta(days=91),
        )
    (total,) = api.get("/api/v1/reports/aging/").json()["totals"]
    assert total["buckets"][-1] == "9.99"
