"""Past weekly forecasts reconstructed from the history: each Monday's forecast
as it would have been made that day, from what was known at its start."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from collecting.services.commitments import (
    dispute_open,
    dispute_resolve,
    promise_create,
    promises_evaluate,
)
from o2c.models import Role
from reports.models import ForecastSnapshot
from reports.services import forecast_snapshot_take, forecast_snapshots_backfill
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    issued_invoice,
    member,
    received_payment,
)

pytestmark = pytest.mark.django_db

MONDAY = date(2026, 4, 13)


def at(day: date):
    return time_machine.travel(
        datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=False
    )


def pay(customer, invoice, amount, day):
    received_payment(
        customer, amount, received_date=day, allocations=[(invoice, amount)]
    )


@pytest.fixture
def book(tenant):
    """One customer (net 30) who has paid three invoices 5 days late, and on
    Monday 13 April 2026: a part-paid invoice, one with a promise, a disputed
    one, one 103 days past due, one issued that day."""
    customer = CustomerFactory()
    for issued, paid_on in (
        (date(2026, 1, 5), date(2026, 2, 9)),
        (date(2026, 1, 20), date(2026, 2, 24)),
        (date(2026, 2, 2), date(2026, 3, 9)),
    ):
        settled = issued_invoice(customer, "100.00", invoice_date=issued)
        pay(customer, settled, settled.total, paid_on)
    part_paid = issued_invoice(customer, "1000.00", invoice_date=date(2026, 3, 20))
    pay(customer, part_paid, "300.00", date(2026, 4, 1))
    promised = issued_invoice(customer, "400.00", invoice_date=date(2026, 3, 25))
    with at(date(2026, 4, 6)):
        promise_create(
            customer=customer,
            invoices=[promised],
            amount=Decimal("250.00"),
            promised_date=date(2026, 4, 15),
            actor=SYSTEM,
        )
    disputed = issued_invoice(customer, "200.00", invoice_date=date(2026, 3, 1))
    with at(date(2026, 4, 2)):
        dispute = dispute_open(
            customer=customer, invoices=[disputed], reason_code="pricing", actor=SYSTEM
        )
    long_overdue = issued_invoice(customer, "500.00", invoice_date=date(2025, 12, 1))
    issued_that_day = issued_invoice(customer, "100.00", invoice_date=MONDAY)
    return {
        "customer": customer,
        "part_paid": part_paid,
        "promised": promised,
        "disputed": disputed,
        "dispute": dispute,
        "long_overdue": long_overdue,
        "issued_that_day": issued_that_day,
    }


def kept(made_on: date) -> dict[int, Decimal]:
    return {
        row.horizon: row.amount
        for row in ForecastSnapshot.objects.filter(made_on=made_on, currency="EUR")
        if row.amount
    }


def test_a_monday_is_forecast_from_what_was_known_that_day(book):
    with at(date(2026, 4, 16)):
        result = forecast_snapshots_backfill(weeks=1)

    assert result.mondays == [MONDAY]
    assert result.rows == 13
    assert ForecastSnapshot.objects.filter(reconstructed=True).count() == 13
    # The customer's median is 5 days late. Week 1 (13-19 Apr): the 250 promised
    # for 15 April; week 2: the 700 still open of 1,000, due 19 Apr, expected
    # 24 Apr; week 3: the other 150 of the promised invoice, due 24 Apr,
    # expected 29 Apr; week 6: the invoice issued that Monday, due 13 May,
    # expected 18 May. The disputed invoice and the one 103 days past due are
    # at risk, not in the weeks.
    assert kept(MONDAY) == {
        0: Decimal("250.00"),
        1: Decimal("700.00"),
        2: Decimal("150.00"),
        5: Decimal("100.00"),
    }


def test_what_happened_after_a_monday_does_not_change_its_forecast(book):
    customer = book["customer"]
    with at(date(2026, 4, 16)):
        forecast_snapshots_backfill(weeks=1)
    before = kept(MONDAY)

    # The future, from the Monday itself on: payments (one posted that day), a
    # promise kept, the dispute resolved, a new invoice, a promise made and
    # broken, an old invoice settled.
    pay(customer, book["part_paid"], "700.00", MONDAY)
    pay(customer, book["promised"], "250.00", date(2026, 4, 20))
    pay(customer, book["long_overdue"], "500.00", date(2026, 4, 30))
    with at(date(2026, 4, 15)):
        dispute_resolve(dispute=book["dispute"], resolution="withdrawn", actor=SYSTEM)
    later = issued_invoice(customer, "900.00", invoice_date=date(2026, 4, 14))
    with at(date(2026, 4, 14)):
        promise_create(
            customer=customer,
            invoices=[book["issued_that_day"]],
            amount=Decimal("100.00"),
            promised_date=date(2026, 4, 20),
            actor=SYSTEM,
        )
    with at(date(2026, 4, 25)):
        promises_evaluate(as_of=date(2026, 4, 25), actor=SYSTEM)
    # A forecast kept as made on a later Monday is left as it was.
    with at(date(2026, 4, 27)):
        forecast_snapshot_take()
    kept_as_made = kept(date(2026, 4, 27))

    with at(date(2026, 5, 23)):
        result = forecast_snapshots_backfill(weeks=6)

    assert kept(MONDAY) == before
    assert result.kept_as_made == 1
    assert kept(date(2026, 4, 27)) == kept_as_made
    assert not ForecastSnapshot.objects.get(
        made_on=date(2026, 4, 27), currency="EUR", horizon=0
    ).reconstructed
    # The future was really there: a week later the forecast knew of it.
    assert kept(date(2026, 4, 20)) != before
    assert later.total in kept(date(2026, 4, 20)).values()


def test_the_page_scores_reconstructed_weeks_and_says_so(book, org):
    customer = book["customer"]
    pay(customer, book["promised"], "250.00", date(2026, 4, 15))
    with at(date(2026, 4, 16)):
        call_command("backfill_forecast_snapshots", org=org.slug, weeks=1)
    with at(date(2026, 4, 21)):
        client = Client()
        client.force_login(member(org, Role.FINANCE))
        html = client.get("/reports/prediction-accuracy/").content.decode()

    assert "rebuilt afterwards from the history" in html
    table = html.split('id="forecast-accuracy-EUR"')[1].split("</table>")[0]
    first_week = table.split("<tr>")[2]
    cells = [
        cell.split(">", 1)[1].split("<")[0].strip()
        for cell in first_week.split("<td")[1:]
    ]
    # Week 1 ahead: one week scored, reconstructed; 250 forecast, 250 received.
    assert cells[:3] == ["1", "1", "1"]
    assert first_week.count("250.00") == 2
    assert cells[-2:] == ["0 %", "0 %"]
