"""The 13-week cash forecast API: each open invoice on its predicted date with
a band from its 80 % interval, per currency and in base currency; promises to
pay override the prediction; amounts at risk are apart from the weeks."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from collecting.models import Dispute, PromiseToPay
from invoicing.models import InvoicePrediction
from o2c.models import FxRate
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, issued_invoice

pytestmark = pytest.mark.django_db
D = Decimal
URL = "/api/v1/reports/forecast/"


@pytest.fixture(autouse=True)
def _today():
    # Tuesday 30 June 2026: week 0 is 30 June to 6 July, week 1 from 7 July...
    with time_machine.travel("2026-06-30 10:00 +0000", tick=False):
        yield


def _invoice(customer, amount, due, predicted=None, early=None, late=None):
    invoice = issued_invoice(
        customer, amount, invoice_date=date(2026, 1, 1), due_date=due
    )
    if predicted:
        InvoicePrediction.objects.create(
            organization=customer.organization,
            invoice=invoice,
            run_id=1,
            kind="model",
            as_of=date(2026, 6, 30),
            expected_date=predicted,
            earliest_date=early or predicted,
            latest_date=late or predicted,
            expected_days_late=(predicted - due).days,
            chance_within_terms=D("0.5"),
            chance_within_30_days=D("0.9"),
        )
    return invoice


def _promise(customer, invoices, amount, on, status=PromiseToPay.Status.ACTIVE):
    promise = PromiseToPay.objects.create(
        organization=customer.organization,
        customer=customer,
        currency=customer.currency,
        amount=D(amount),
        promised_date=on,
        made_on=date(2026, 6, 20),
        status=status,
    )
    promise.invoices.set(
        invoices, through_defaults={"organization": customer.organization}
    )
    return promise


def _week(body, field):
    return [week[field] for week in body["weeks"]]


@pytest.fixture
def books(org):
    with tenant_context(org):
        FxRate.objects.create(
            organization=org, currency="USD", date=date(2026, 6, 1), rate=D("0.9")
        )
        eur = CustomerFactory()
        usd = CustomerFactory(currency="USD")
        # Expected 8 July (week 1), interval 1 July (week 0) to 22 July (week 3).
        _invoice(
            eur, "100.00", date(2026, 7, 3),
            date(2026, 7, 8), date(2026, 7, 1), date(2026, 7, 22),
        )  # fmt: skip
        # Not scored yet, no payment history anywhere: on its due date, week 1.
        _invoice(eur, "40.00", date(2026, 7, 10))
        # Expected 25 June: past; interval 20 June to 2 July (week 0).
        _invoice(
            eur, "30.00", date(2026, 6, 20),
            date(2026, 6, 25), date(2026, 6, 20), date(2026, 7, 2),
        )  # fmt: skip
        # Expected 1 December: after the horizon.
        _invoice(eur, "70.00", date(2026, 7, 1), date(2026, 12, 1))
        # USD 200 expected 15 July (week 2), at the latest 29 July (week 4).
        _invoice(
            usd, "200.00", date(2026, 7, 1),
            date(2026, 7, 15), date(2026, 7, 15), date(2026, 7, 29),
        )  # fmt: skip
    return {"eur": eur, "usd": usd}


def test_weeks_band_and_base_currency(api, books):
    response = api.get(URL, {"weeks": 4})
    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == "2026-06-30" and body["weeks"] == 4
    eur, usd = body["currencies"]
    assert eur["currency"] == "EUR" and usd["currency"] == "USD"
    assert eur["weeks"][1]["start"] == "2026-07-07"
    assert eur["weeks"][1]["end"] == "2026-07-13"
    assert eur["past_expected"] == "30.00"
    assert _week(eur, "expected") == ["0.00", "140.00", "0.00", "0.00"]
    # Late scenario (p90 dates): 100.00 on 22 July. The 30.00 expected on 25
    # June is past its expected date: apart, in no scenario's weeks.
    assert _week(eur, "low") == ["0.00", "40.00", "0.00", "100.00"]
    # Early scenario (p10 dates): 100.00 on 1 July.
    assert _week(eur, "high") == ["100.00", "40.00", "0.00", "0.00"]
    # The band: cash by each week's end, late scenario to early scenario.
    assert _week(eur, "cumulative") == ["0.00", "140.00", "140.00", "140.00"]
    assert _week(eur, "cumulative_low") == ["0.00", "40.00", "40.00", "140.00"]
    assert _week(eur, "cumulative_high") == ["100.00", "140.00", "140.00", "140.00"]
    assert eur["later"] == "70.00"
    assert eur["at_risk"]["beyond_horizon"] == {"amount": "70.00", "count": 1}
    assert eur["expected_total"] == "170.00" and eur["at_risk_total"] == "70.00"
    assert _week(usd, "expected") == ["0.00", "0.00", "200.00", "0.00"]
    assert _week(usd, "low") == ["0.00", "0.00", "0.00", "0.00"]  # 29 July: week 4
    base = body["base"]
    assert base["currency"] == "EUR"
    assert _week(base, "expected") == ["0.00", "140.00", "180.00", "0.00"]
    assert _week(base, "high") == ["100.00", "40.00", "180.00", "0.00"]
    assert _week(base, "cumulative") == ["0.00", "140.00", "320.00", "320.00"]
    assert _week(base, "cumulative_low") == ["0.00", "40.00", "40.00", "140.00"]
    assert base["past_expected"] == "30.00" and base["later"] == "70.00"


def test_thirteen_weeks_by_default_and_one_currency(api, books):
    body = api.get(URL).json()
    assert body["weeks"] == 13 and len(body["base"]["weeks"]) == 13
    assert body["base"]["weeks"][12]["end"] == "2026-09-28"
    body = api.get(URL, {"currency": "usd"}).json()
    assert [f["currency"] for f in body["currencies"]] == ["USD"]
    assert body["base"]["expected_total"] == "180.00"


@pytest.mark.parametrize(
    "query", [{"weeks": 27}, {"weeks": 0}, {"weeks": ""}, {"currency": "EURO"}]
)
def test_bad_queries_are_refused(api, query):
    response = api.get(URL, query)
    assert response.status_code == 400
    assert list(query) == list(response.json()["error"]["fields"])


def test_missing_rate_is_an_error(api, org):
    with tenant_context(org):
        _invoice(CustomerFactory(currency="CHF"), "10.00", date(2026, 7, 1))
    response = api.get(URL)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_fx_rate" and "CHF" in error["message"]


def test_an_open_promise_overrides_the_prediction_for_its_amount(api, org):
    with tenant_context(org):
        customer = CustomerFactory()
        older = _invoice(customer, "100.00", date(2026, 6, 1), date(2026, 7, 9))
        newer = _invoice(customer, "300.00", date(2026, 6, 15), date(2026, 7, 16))
        # 250 promised for 3 July (week 0) on both: laid oldest due date first,
        # 100 of the older, 150 of the newer; the newer's other 150 stays on
        # its predicted 16 July (week 2).
        _promise(customer, [older, newer], "250.00", date(2026, 7, 3))
        # A promise kept in part: only its unpaid 20 of 50 is placed.
        partly = _invoice(customer, "60.00", date(2026, 6, 20), date(2026, 7, 8))
        promise = _promise(customer, [partly], "50.00", date(2026, 7, 21))
        PromiseToPay.objects.filter(pk=promise.pk).update(paid_amount=D("30.00"))
        # A cancelled promise changes nothing: on its prediction, week 1.
        cancelled = _invoice(customer, "5.00", date(2026, 6, 25), date(2026, 7, 8))
        _promise(
            customer, [cancelled], "5.00", date(2026, 7, 2),
            PromiseToPay.Status.CANCELLED,
        )  # fmt: skip
    body = api.get(URL, {"weeks": 4}).json()
    (eur,) = body["currencies"]
    assert _week(eur, "expected") == ["250.00", "45.00", "150.00", "20.00"]
    # The band moves only the predicted parts (all on one date here).
    assert _week(eur, "low") == ["250.00", "45.00", "150.00", "20.00"]
    assert eur["promised"] == "270.00"
    assert eur["at_risk_total"] == "0.00"


def test_amounts_at_risk_are_apart_from_the_weeks(api, org):
    with tenant_context(org):
        customer = CustomerFactory()
        _invoice(customer, "10.00", date(2026, 7, 1), date(2026, 7, 8))
        disputed = _invoice(customer, "60.00", date(2026, 7, 1), date(2026, 7, 8))
        dispute = Dispute.objects.create(
            organization=org,
            customer=customer,
            reason_code="pricing",
            opened_on=date(2026, 6, 25),
        )
        dispute.invoices.set([disputed], through_defaults={"organization": org})
        # A resolved dispute is no longer a risk: week 1.
        settled = _invoice(customer, "1.00", date(2026, 7, 1), date(2026, 7, 8))
        resolved = Dispute.objects.create(
            organization=org,
            customer=customer,
            reason_code="pricing",
            opened_on=date(2026, 6, 1),
            status=Dispute.Status.WITHDRAWN,
        )
        resolved.invoices.set([settled], through_defaults={"organization": org})
        broken = _invoice(customer, "25.00", date(2026, 6, 1), date(2026, 7, 8))
        broken_too = _invoice(customer, "35.00", date(2026, 6, 1), date(2026, 7, 8))
        _promise(
            customer, [broken, broken_too], "60.00", date(2026, 6, 15),
            PromiseToPay.Status.BROKEN,
        )  # fmt: skip
        # Broken once, promised again since: the new promise counts.
        again = _invoice(customer, "8.00", date(2026, 6, 1), date(2026, 7, 8))
        _promise(
            customer, [again], "8.00", date(2026, 6, 10), PromiseToPay.Status.BROKEN
        )
        _promise(customer, [again], "8.00", date(2026, 7, 14))
        # Due 1 March: 121 days past due, whatever the prediction says.
        _invoice(customer, "80.00", date(2026, 3, 1), date(2026, 7, 8))
        # Due 31 March: 91 days; 1 April would be 90, not at risk (week 1).
        _invoice(customer, "2.00", date(2026, 3, 31), date(2026, 7, 8))
        _invoice(customer, "4.00", date(2026, 4, 1), date(2026, 7, 8))
        _invoice(customer, "90.00", date(2026, 7, 1), date(2026, 12, 1))
    body = api.get(URL, {"weeks": 4}).json()
    (eur,) = body["currencies"]
    assert _week(eur, "expected") == ["0.00", "15.00", "8.00", "0.00"]
    assert eur["at_risk"] == {
        "disputed": {"amount": "60.00", "count": 1},
        "broken_promise": {"amount": "60.00", "count": 2},
        "over_90_days": {"amount": "82.00", "count": 2},
        "beyond_horizon": {"amount": "90.00", "count": 1},
    }
    assert eur["at_risk_total"] == "292.00"
    assert body["base"]["at_risk"]["over_90_days"] == {"amount": "82.00", "count": 2}


def test_week_drill_down_leaves_out_invoices_at_risk(org):
    from reports.selectors.forecast import forecast_invoices

    with tenant_context(org):
        customer = CustomerFactory()
        kept = _invoice(customer, "10.00", date(2026, 7, 1), date(2026, 7, 8))
        old = _invoice(customer, "80.00", date(2026, 3, 1), date(2026, 7, 8))
        broken = _invoice(customer, "25.00", date(2026, 6, 1), date(2026, 7, 8))
        _promise(
            customer, [broken], "25.00", date(2026, 6, 15), PromiseToPay.Status.BROKEN
        )
        again = _invoice(customer, "8.00", date(2026, 6, 1), date(2026, 7, 8))
        _promise(
            customer, [again], "8.00", date(2026, 6, 10), PromiseToPay.Status.BROKEN
        )
        _promise(customer, [again], "8.00", date(2026, 8, 14))
        disputed = _invoice(customer, "60.00", date(2026, 7, 1), date(2026, 7, 8))
        dispute = Dispute.objects.create(
            organization=org,
            customer=customer,
            reason_code="pricing",
            opened_on=date(2026, 6, 25),
        )
        dispute.invoices.set([disputed], through_defaults={"organization": org})
        listed = {invoice.pk for invoice in forecast_invoices(week=1)}
    assert listed == {kept.pk, again.pk}
    assert old.pk not in listed


def test_dashboard_panel_shows_the_amounts_at_risk_apart(session_client, org):
    with tenant_context(org):
        customer = CustomerFactory()
        _invoice(customer, "10.00", date(2026, 7, 1), date(2026, 7, 8))
        _invoice(customer, "80.00", date(2026, 3, 1), date(2026, 7, 8))
        _invoice(customer, "90.00", date(2026, 7, 1), date(2026, 12, 1))
    response = session_client.get("/dashboard/forecast/")
    assert response.status_code == 200
    (forecast,) = response.context["forecasts"]
    assert len(forecast.weeks) == 13
    assert forecast.weeks[1].amount == D("10.00")
    assert forecast.at_risk["over_90_days"].amount == D("80.00")
    html = " ".join(response.content.decode().split())
    assert 'More than 90 days past due</td><td class="num">1</td>' in html
    assert 'Expected after these weeks</td><td class="num">1</td>' in html


def test_the_band_holds_the_expected_cash_by_every_weeks_end(api, session_client, org):
    # One week's late scenario can exceed its expected cash (late payments from
    # earlier weeks land in it); summed from today the band always holds it.
    with tenant_context(org):
        customer = CustomerFactory()
        for day, (expected, early, late) in enumerate(
            [(8, 1, 22), (2, 1, 16), (15, 3, 29), (21, 14, 27), (9, 1, 12)]
        ):
            _invoice(
                customer, f"{10 * (day + 1)}.00", date(2026, 6, 25),
                date(2026, 7, expected), date(2026, 7, early), date(2026, 7, late),
            )  # fmt: skip
        # The first day of its interval is past: early, it counts in week one.
        _invoice(
            customer, "5.00", date(2026, 6, 25),
            date(2026, 7, 2), date(2026, 6, 20), date(2026, 7, 10),
        )  # fmt: skip
    (eur,) = api.get(URL, {"weeks": 5}).json()["currencies"]
    lows, mids, highs = (
        [D(value) for value in _week(eur, field)]
        for field in ("cumulative_low", "cumulative", "cumulative_high")
    )
    assert all(
        low <= mid <= high for low, mid, high in zip(lows, mids, highs, strict=True)
    )
    assert any(D(w["low"]) > D(w["expected"]) for w in eur["weeks"])
    assert mids == [D(v) for v in ("25.00", "85.00", "115.00", "155.00", "155.00")]
    assert lows == [D(v) for v in ("0.00", "55.00", "75.00", "125.00", "155.00")]
    assert highs == [D(v) for v in ("115.00", "115.00", "155.00", "155.00", "155.00")]
    # The panel shows the same band, week by week.
    html = " ".join(session_client.get("/dashboard/forecast/").content.decode().split())
    assert "85.00 <span" in html and "55.00 <span" in html
