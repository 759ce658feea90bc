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

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import F, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from collecting.models import Dispute, DisputeInvoice, PromiseInvoice, PromiseToPay
from invoicing.models import Invoice
from o2c.money import quantize
from o2c.tenancy import current_organization
from reports.models import PaymentProfile
from reports.selectors.common import DaysBetween, FxRates, exact, to_decimal

OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
MIN_PAID_INVOICES = 3
OVERDUE_AT_RISK_DAYS = 90


@dataclass
class ForecastWeek:
    start: date
    end: date
    amount: Decimal
    # The week's cash if every scored invoice expected from today on is paid
    # on the last date of its 80 % interval (p90, ``low``) or on its first
    # (p10, ``high``; a first date already past counts in week one).
    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    # Cash expected from today to the week's end, and the same in the late and
    # the early scenario: the band. Summed over the weeks the scenarios stay in
    # order (late <= expected <= early), which a single week's need not: cash
    # moved late out of one week lands in a later one.
    cumulative: Decimal = Decimal(0)
    cumulative_low: Decimal = Decimal(0)
    cumulative_high: Decimal = Decimal(0)


def _running_totals(weeks: list[ForecastWeek]) -> list[ForecastWeek]:
    amount = low = high = Decimal(0)
    for week in weeks:
        amount, low, high = amount + week.amount, low + week.low, high + week.high
        week.cumulative, week.cumulative_low, week.cumulative_high = amount, low, high
    return weeks


@dataclass
class AtRisk:
    amount: Decimal
    count: int = 0


RISKS = ("disputed", "broken_promise", "over_90_days", "beyond_horizon")


@dataclass
class CashForecast:
    currency: str
    past_expected: Decimal
    weeks: list[ForecastWeek]
    default_delay_days: int
    at_risk: dict[str, AtRisk] = field(default_factory=dict)
    promised: Decimal = Decimal(0)

    @property
    def later(self) -> Decimal:
        """Expected after the horizon (an amount at risk, not in the weeks)."""
        risk = self.at_risk.get("beyond_horizon")
        return risk.amount if risk else quantize(0, self.currency)

    @property
    def at_risk_total(self) -> Decimal:
        return sum((r.amount for r in self.at_risk.values()), Decimal(0))

    @property
    def expected_total(self) -> Decimal:
        return self.past_expected + sum((w.amount for w in self.weeks), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.expected_total + self.at_risk_total


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
    (0 = the seven days from today), or past their expected date (None), less
    those at risk. A promised part shows under its invoice's predicted week."""
    today = current_organization().today()
    invoices = (
        Invoice.objects.filter(status__in=OPEN_STATUSES)
        .select_related("customer")
        .annotate(expected_in=_expected_in(today), open_as_of=F("open_amount"))
    )
    # Amounts at risk are not in the weeks: neither are their invoices.
    promised = PromiseInvoice.objects.filter(
        promise__status=PromiseToPay.Status.ACTIVE
    ).values("invoice_id")
    invoices = invoices.exclude(
        due_date__lt=today - timedelta(days=OVERDUE_AT_RISK_DAYS)
    ).exclude(
        pk__in=DisputeInvoice.objects.filter(
            dispute__status=Dispute.Status.OPEN
        ).values("invoice_id")
    )
    invoices = invoices.exclude(
        Q(
            pk__in=PromiseInvoice.objects.filter(
                promise__status=PromiseToPay.Status.BROKEN
            ).values("invoice_id")
        )
        & ~Q(pk__in=promised)
    )
    if week is None:
        invoices = invoices.filter(expected_in__lt=0)
    else:
        invoices = invoices.filter(
            expected_in__gte=7 * week, expected_in__lt=7 * (week + 1)
        )
    return invoices.order_by("due_date", "id")


def _offsets(today: date):
    """Days from today to an invoice's expected, earliest (p10) and latest (p90)
    payment date; an unscored invoice has one date for all three."""
    expected_in = _expected_in(today)
    return {
        "expected_in": expected_in,
        "early_in": Coalesce(
            DaysBetween(F("prediction__earliest_date"), Value(today)),
            expected_in,
            output_field=IntegerField(),
        ),
        "late_in": Coalesce(
            DaysBetween(F("prediction__latest_date"), Value(today)),
            expected_in,
            output_field=IntegerField(),
        ),
    }


def _promised_parts(today: date) -> dict[int, list[tuple[Decimal, int]]]:
    """Per invoice, the parts of open promises to pay on it: (amount, days from
    today to the promised date). A promise's unpaid amount is laid on its open
    invoices oldest due date first, each up to its open amount."""
    rows = (
        PromiseInvoice.objects.filter(
            promise__status=PromiseToPay.Status.ACTIVE,
            invoice__status__in=OPEN_STATUSES,
        )
        .order_by("promise_id", "invoice__due_date", "invoice_id")
        .values_list(
            "promise_id",
            "promise__amount",
            "promise__paid_amount",
            "promise__promised_date",
            "invoice_id",
            "invoice__open_amount",
        )
    )
    return lay_promises(rows, today)


def lay_promises(rows, today: date) -> dict[int, list[tuple[Decimal, int]]]:
    """``rows`` of (promise, amount, paid, promised date, invoice, its open
    amount), by promise then the invoice's due date: each promise's unpaid
    amount laid on its invoices in that order, each up to its open amount."""
    parts: dict[int, list[tuple[Decimal, int]]] = {}
    left: dict[int, Decimal] = {}
    taken: dict[int, Decimal] = {}
    for promise, amount, paid, promised_date, invoice, open_amount in rows:
        remaining = left.setdefault(promise, max(amount - paid, Decimal(0)))
        room = open_amount - taken.get(invoice, Decimal(0))
        part = min(remaining, room)
        if part <= 0:
            continue
        left[promise] = remaining - part
        taken[invoice] = taken.get(invoice, Decimal(0)) + part
        parts.setdefault(invoice, []).append((part, (promised_date - today).days))
    return parts


def _risk_sets() -> tuple[set[int], set[int]]:
    """Open invoices in an open dispute; open invoices with a broken promise."""
    disputed = set(
        DisputeInvoice.objects.filter(
            dispute__status=Dispute.Status.OPEN, invoice__status__in=OPEN_STATUSES
        ).values_list("invoice_id", flat=True)
    )
    broken = set(
        PromiseInvoice.objects.filter(
            promise__status=PromiseToPay.Status.BROKEN,
            invoice__status__in=OPEN_STATUSES,
        ).values_list("invoice_id", flat=True)
    )
    return disputed, broken


def risk_of(invoice_id, due_date, expected_in, *, today, horizon, disputed, broken):
    if invoice_id in disputed:
        return "disputed"
    if invoice_id in broken:
        return "broken_promise"
    if (today - due_date).days > OVERDUE_AT_RISK_DAYS:
        return "over_90_days"
    if expected_in >= horizon:
        return "beyond_horizon"
    return None


def new_sums(weeks: int) -> dict:
    """One currency's running totals: past the expected date, the weeks (and
    their band), the amounts at risk and the promised amount."""
    return {
        "past": Decimal(0),
        "mid": [Decimal(0)] * weeks,
        "low": [Decimal(0)] * weeks,
        "high": [Decimal(0)] * weeks,
        "risk": {key: [Decimal(0), 0] for key in RISKS},
        "promised": Decimal(0),
    }


def _place(sums: dict, amount: Decimal, mid: int, early: int, late: int, horizon):
    if mid < 0:  # past its expected date: apart, in no scenario's weeks
        sums["past"] += amount
        return
    sums["mid"][mid // 7] += amount
    sums["high"][max(early, 0) // 7] += amount
    if late < horizon:
        sums["low"][late // 7] += amount


def accumulate(sums, open_amount, parts, *, risk, offsets, horizon) -> None:
    """Lay one open invoice's open amount into ``sums``: its promised parts
    (amount, days from the forecast's day) on their dates, the rest in its risk
    category if it has one, else on its (expected, early, late) ``offsets``."""
    rest = open_amount
    for part, days in parts:
        rest -= part
        sums["promised"] += part
        if days >= horizon:
            sums["risk"]["beyond_horizon"][0] += part
            sums["risk"]["beyond_horizon"][1] += 1
        else:
            _place(sums, part, days, days, days, horizon)
    if rest <= 0:
        return
    if risk:
        sums["risk"][risk][0] += rest
        sums["risk"][risk][1] += 1
    else:
        _place(sums, rest, *offsets, horizon)


def cash_forecast(
    *, weeks: int = 8, in_base: bool = False, currency: str = ""
) -> list[CashForecast]:
    """Expected cash per week, per currency (or one forecast in base currency).

    Each open invoice's open amount goes on its expected date, less what open
    promises to pay on it promise: that goes on the promised date. What is
    left of an invoice that is disputed, has a broken promise (and no open
    one), is more than 90 days past due or is expected after the horizon is
    not in the weeks but in ``at_risk`` (one category each, in that order).
    """
    today = current_organization().today()
    default_delay = organization_delay_days()
    horizon = 7 * weeks
    invoices = Invoice.objects.filter(status__in=OPEN_STATUSES)
    if currency:
        invoices = invoices.filter(currency=currency.upper())
    rows = (
        invoices.annotate(**_offsets(today))
        .order_by()
        .values_list(
            "id",
            "currency",
            "open_amount",
            "due_date",
            "expected_in",
            "early_in",
            "late_in",
        )
    )
    promised = _promised_parts(today)
    disputed, broken = _risk_sets()
    broken -= set(promised)  # an open promise since supersedes a broken one
    acc: dict[str, dict] = {}
    for pk, code, open_amount, due_date, mid, early, late in rows:
        sums = acc.get(code) or acc.setdefault(code, new_sums(weeks))
        risk = risk_of(
            pk,
            due_date,
            mid,
            today=today,
            horizon=horizon,
            disputed=disputed,
            broken=broken,
        )
        accumulate(
            sums,
            open_amount,
            promised.get(pk, ()),
            risk=risk,
            offsets=(mid, early, late),
            horizon=horizon,
        )

    forecasts = []
    for code in sorted(acc):
        sums = acc[code]
        forecasts.append(
            CashForecast(
                currency=code,
                past_expected=exact(sums["past"], code),
                weeks=_running_totals(
                    [
                        ForecastWeek(
                            start=today + timedelta(days=7 * week),
                            end=today + timedelta(days=7 * week + 6),
                            amount=exact(sums["mid"][week], code),
                            low=exact(sums["low"][week], code),
                            high=exact(sums["high"][week], code),
                        )
                        for week in range(weeks)
                    ]
                ),
                default_delay_days=default_delay,
                at_risk={
                    key: AtRisk(exact(amount, code), count)
                    for key, (amount, count) in sums["risk"].items()
                },
                promised=exact(sums["promised"], code),
            )
        )
    if in_base and forecasts:
        return [in_base_currency(forecasts, today)]
    return forecasts


def in_base_currency(forecasts: list[CashForecast], today: date) -> CashForecast:
    """The forecasts summed in the base currency at the latest rate on or before
    today (a missing rate is an error naming it)."""
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
        weeks=_running_totals(
            [
                ForecastWeek(
                    start=week.start,
                    end=week.end,
                    amount=convert(lambda f, i=index: f.weeks[i].amount),
                    low=convert(lambda f, i=index: f.weeks[i].low),
                    high=convert(lambda f, i=index: f.weeks[i].high),
                )
                for index, week in enumerate(first.weeks)
            ]
        ),
        default_delay_days=first.default_delay_days,
        at_risk={
            key: AtRisk(
                convert(lambda f, k=key: f.at_risk[k].amount),
                sum(f.at_risk[key].count for f in forecasts),
            )
            for key in RISKS
        },
        promised=convert(lambda f: f.promised),
    )
