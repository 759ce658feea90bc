"""FX rates through the API: list with filters, create with the roles that may,
every bad input refused with the field named and nothing written, another
organization's rates never seen. The CSV import's all-or-nothing rule is here too,
since the API and the page share its service."""

from datetime import date
from decimal import Decimal

import pytest

from o2c.fx import FxImportError, fx_rates_import
from o2c.models import AuditEvent, FxRate, Role
from o2c.services import Actor
from o2c.tenancy import all_tenants, tenant_context
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/fx-rates/"


def _rates(org) -> dict:
    with tenant_context(org):
        return {(r.currency, r.date.isoformat()): r.rate for r in FxRate.objects.all()}


def test_finance_stores_a_rate_against_the_base_currency(api, org):
    response = api.post(
        URL, {"currency": "usd", "date": "2026-03-02", "rate": "0.9213"}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["pair"] == "USD/EUR"
    assert body["currency"] == "USD" and body["to_currency"] == "EUR"
    assert Decimal(body["rate"]) == Decimal("0.9213")
    assert _rates(org) == {("USD", "2026-03-02"): Decimal("0.9213")}
    with tenant_context(org):
        event = AuditEvent.objects.get(action="fx_rate_created")
    assert event.data == {"currency": "USD", "date": "2026-03-02", "rate": "0.9213"}


def test_list_filters_by_currency_and_date_range(api, org):
    for currency, day, rate in [
        ("USD", "2026-01-31", "0.91"),
        ("USD", "2026-02-28", "0.92"),
        ("USD", "2026-03-31", "0.93"),
        ("GBP", "2026-02-28", "1.17"),
    ]:
        assert (
            api.post(URL, {"currency": currency, "date": day, "rate": rate}).status_code
            == 201
        )
    response = api.get(
        URL, {"currency": "USD", "date_from": "2026-02-01", "date_to": "2026-03-31"}
    )
    assert response.status_code == 200
    found = sorted(
        (r["pair"], r["date"], r["rate"]) for r in response.json()["results"]
    )
    assert found == [
        ("USD/EUR", "2026-02-28", "0.9200000000"),
        ("USD/EUR", "2026-03-31", "0.9300000000"),
    ]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"currency": "XYZ", "date": "2026-03-02", "rate": "1.1"}, "currency", "XYZ"),
        ({"currency": "EUR", "date": "2026-03-02", "rate": "1"}, "currency", "base"),
        (
            {"currency": "USD", "date": "2026-13-45", "rate": "1.1"},
            "date",
            "YYYY-MM-DD",
        ),
        ({"currency": "USD", "date": "2026-03-02", "rate": "-1"}, "rate", "above"),
        ({"currency": "USD", "date": "2026-03-02", "rate": "abc"}, "rate", "number"),
        (
            {"currency": "USD", "date": "2026-03-02", "rate": "0.12345678901"},
            "rate",
            "10 decimal",
        ),
        (
            {
                "currency": "USD",
                "to_currency": "GBP",
                "date": "2026-03-02",
                "rate": "0.9",
            },
            "to_currency",
            "EUR",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(api, org, body, field, words):
    response = api.post(URL, body)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert field in error["fields"]
    assert words in error["fields"][field][0]
    assert _rates(org) == {}


def test_a_second_rate_for_the_same_day_is_a_conflict(api, org):
    api.post(URL, {"currency": "USD", "date": "2026-03-02", "rate": "0.92"})
    response = api.post(URL, {"currency": "USD", "date": "2026-03-02", "rate": "0.95"})
    assert response.status_code == 409
    assert "0.92" in response.json()["error"]["message"]
    assert _rates(org) == {("USD", "2026-03-02"): Decimal("0.92")}


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.VIEWER])
def test_only_finance_and_admin_write_rates(org, role):
    client = api_client_for(org, role)
    response = client.post(URL, {"currency": "USD", "date": "2026-03-02", "rate": "1"})
    assert response.status_code == 403
    assert client.get(URL).status_code == 200
    assert _rates(org) == {}


def test_admin_writes_rates(admin_api, org):
    response = admin_api.post(
        URL, {"currency": "CHF", "date": "2026-03-02", "rate": "1.04"}
    )
    assert response.status_code == 201


def test_another_organizations_rates_are_not_seen(api, other_api, other_org):
    other_api.post(URL, {"currency": "USD", "date": "2026-03-02", "rate": "0.9"})
    with tenant_context(other_org):
        (rate,) = FxRate.objects.all()
    assert api.get(URL).json()["results"] == []
    assert api.get(f"{URL}{rate.pk}/").status_code == 404


def test_an_unknown_currency_filter_is_an_error(api):
    response = api.get(URL, {"currency": "QQQ"})
    assert response.status_code == 400
    assert "currency" in response.json()["error"]["fields"]


# --- CSV import -------------------------------------------------------------------


def _import(org, text: str, *, replace=False):
    with tenant_context(org):
        return fx_rates_import(
            content=text.encode(), actor=Actor.system("test"), replace=replace
        )


def test_import_stores_every_line(org):
    result = _import(
        org,
        "date,from currency,to currency,rate\n"
        "2026-03-02,USD,EUR,0.9213\n"
        "2026-03-02,JPY,EUR,0.0061\n",
    )
    assert result.created == 2
    assert _rates(org) == {
        ("USD", "2026-03-02"): Decimal("0.9213"),
        ("JPY", "2026-03-02"): Decimal("0.0061"),
    }


def test_import_is_all_or_nothing_with_line_numbers(org):
    with pytest.raises(FxImportError) as error:
        _import(
            org,
            "date,from_currency,to_currency,rate\n"
            "2026-03-02,USD,EUR,0.9213\n"
            "2026-03-02,ABC,EUR,1.2\n"
            "2026-02-30,GBP,EUR,1.17\n"
            "2026-03-02,CHF,USD,1.04\n"
            "2026-03-02,USD,EUR,0.93\n",
        )
    lines = error.value.lines
    assert lines[0].startswith("line 3:") and "ABC" in lines[0]
    assert lines[1].startswith("line 4:") and "2026-02-30" in lines[1]
    assert lines[2].startswith("line 5:") and "base currency EUR" in lines[2]
    assert lines[3].startswith("line 6:") and "line 2" in lines[3]
    assert _rates(org) == {}


def test_import_refuses_a_stored_day_unless_told_to_replace(org):
    _import(org, "date,from_currency,to_currency,rate\n2026-03-02,USD,EUR,0.92\n")
    changed = "date,from_currency,to_currency,rate\n2026-03-02,USD,EUR,0.95\n"
    with pytest.raises(FxImportError) as error:
        _import(org, changed)
    assert "line 2" in error.value.lines[0] and "0.92" in error.value.lines[0]
    assert _rates(org) == {("USD", "2026-03-02"): Decimal("0.92")}
    result = _import(org, changed, replace=True)
    assert result.replaced == 1
    assert _rates(org) == {("USD", "2026-03-02"): Decimal("0.95")}
    with all_tenants():
        assert date(2026, 3, 2) in {r.date for r in FxRate.unscoped.all()}
