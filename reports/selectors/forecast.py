"""Cash expected in the coming weeks from open invoices.

Each open invoice's open amount is expected on its predicted payment date
(``InvoicePrediction.expected_date``, scored nightly by
``collecting.prediction``). An invoice without a prediction yet (issued since
the last scoring) falls back to its due date shifted by how late (or early) its
customer has paid: the customer's average days beyond terms over invoices
settled in the last twelve months (``PaymentProfile``, at least
``MIN_PAID_INVOICES`` of them), else the organization's average, else zero.
Amounts whose expected date has already passed are shown apart as "past the
expected date": cash that history says should have come and has not.

Week 1 starts today. Unapplied cash is not forecast (it is already received).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from invoicing.models import Invoice
from o2c.money import quantize
from o2c.tenancy import current_organization
from reports.models import PaymentProfile
from reports.selectors.common import DaysBetween, FxRates, exact, to_decimal

OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
MIN_PAID_INVOICES = 3


@dataclass
class ForecastWeek:
    start: date
    end: date
    amount: Decimal


@dataclass
class CashForecast:
    currency: str
    past_expected: Decimal
    weeks: list[ForecastWeek]
    later: Decimal
    default_delay_days: int

    @property
    def total(self) -> Decimal:
        return self.past_expected + sum(w.amount for w in self.weeks) + self.later


def organization_delay_days() -> int:
    """Average days beyond terms over all customers' profiles, per invoice."""
    row = PaymentProfile.objects.filter(paid_invoices__gt=0).aggregate(
        invoices=Sum("paid_invoices"),
        weighted=Sum(F("average_days_late") * F("paid_invoices")),
    )
    if not row["invoices"]:
        return 0
    return round(to_decimal(row["weighted"]) / row["invoices"])


def _expected_in(today: date):
    """Days from today to the date an open invoice's cash is expected."""
    delay = Coalesce(
        "customer__payment_profile__expected_delay_days",
        Value(organization_delay_days()),
        output_field=IntegerField(),
    )
    return Coalesce(
        DaysBetween(F("prediction__expected_date"), Value(today)),
        DaysBetween(F("due_date"), Value(today)) + delay,
        output_field=IntegerField(),
    )


def forecast_invoices(*, week: int | None) -> QuerySet[Invoice]:
    """The open invoices behind a forecast figure: expected in week ``week``
    (0 = the seven days from today), or past their expected date (None)."""
    today = current_organization().today()
    invoices = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .select_related("customer")
        .annotate(expected_in=_expected_in(today), open_as_of=F("open_amount"))
    )
    if week is None:
        invoices = invoices.filter(expected_in__lt=0)
    else:
        invoices = invoices.filter(
            expected_in__gte=7 * week, expected_in__lt=7 * (week + 1)
        )
    return invoices.order_by("due_date", "id")


def cash_forecast(*, weeks: int = 8, in_base: bool = False) -> list[CashForecast]:
    """Expected cash per week, per currency (or one forecast in base currency)."""
    today = current_organization().today()
    default_delay = organization_delay_days()
    expected_in = _expected_in(today)
    sums = {
        "past": Sum("open_amount", filter=Q(expected_in__lt=0)),
        "later": Sum("open_amount", filter=Q(expected_in__gte=7 * weeks)),
    }
    for week in range(weeks):
        sums[f"w{week}"] = Sum(
            "open_amount",
            filter=Q(expected_in__gte=7 * week, expected_in__lt=7 * (week + 1)),
        )
    rows = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .annotate(expected_in=expected_in)
        .values("currency")
        .annotate(**sums)
        .order_by("currency")
    )
    forecasts = [
        CashForecast(
            currency=row["currency"],
            past_expected=exact(row["past"], row["currency"]),
            weeks=[
                ForecastWeek(
                    start=today + timedelta(days=7 * week),
                    end=today + timedelta(days=7 * week + 6),
                    amount=exact(row[f"w{week}"], row["currency"]),
                )
                for week in range(weeks)
            ],
            later=exact(row["later"], row["currency"]),
            default_delay_days=default_delay,
        )
        for row in rows
    ]
    if in_base and forecasts:
        return [_in_base(forecasts, today, default_delay)]
    return forecasts


def _in_base(forecasts: list[CashForecast], today: date, delay: int) -> CashForecast:
    fx = FxRates()
    base = fx.base

    def convert(pick) -> Decimal:
        return sum(
            (fx.convert(pick(f), f.currency, today) for f in forecasts),
            quantize(0, base),
        )

    first = forecasts[0]
    return CashForecast(
        currency=base,
        past_expected=convert(lambda f: f.past_expected),
        weeks=[
            ForecastWeek(
                start=week.start,
                end=week.end,
                amount=convert(lambda f, i=index: f.weeks[i].amount),
            )
            for index, week in enumerate(first.weeks)
        ],
        later=convert(lambda f: f.later),
        default_delay_days=delay,
    )
