"""The finance dashboard: what is owed today, how fast it is collected, what cash
is coming.

Today's figures (receivables, overdue, aging, top overdue customers) come from
one aging statement over open invoices on every view. DSO, CEI and their trend
are month-end figures read from the stored snapshot
(``reports.selectors.snapshot``); when it is stale the page says so and the view
has it rebuilt in the background. The cash forecast and the day's collections
are panels of their own (:func:`forecast_panel`, :func:`collections_today`),
loaded by the page after it shows, so the headline figures never wait for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db.models import Count, Q, Sum

from o2c.errors import DomainError
from o2c.tenancy import current_organization
from reconciliation.models import Payment
from reports.selectors.aging import AgingLine, AgingReport, aging_report
from reports.selectors.common import add_months, exact
from reports.selectors.forecast import CashForecast, cash_forecast
from reports.selectors.metrics import (
    SCOPES,
    MetricSeries,
    metric_series,
    month_window,
)
from reports.selectors.snapshot import (
    STORED_MONTHS,
    current_snapshot,
    snapshot_is_stale,
    stored_month_sums,
)

TOP_OVERDUE = 10
FORECAST_WEEKS = 13


@dataclass(frozen=True)
class CurrencyAmount:
    currency: str
    count: int
    amount: Decimal


@dataclass
class CollectionsToday:
    payments: list[CurrencyAmount] = field(default_factory=list)
    activities: list[tuple[str, int]] = field(default_factory=list)
    has_collections: bool = False


@dataclass
class Dashboard:
    today: date
    aging: AgingReport
    top_overdue: list[AgingLine]
    metrics: list[MetricSeries]
    metrics_state: str  # "fresh", "stale" or "missing"
    metrics_computed_at: object
    fx_error: str = ""

    @property
    def total(self) -> AgingLine | None:
        return self.aging.totals[0] if len(self.aging.totals) == 1 else None


def dashboard() -> Dashboard:
    organization = current_organization()
    today = organization.today()
    fx_error = ""
    try:
        aging = _aging(in_base=True)
    except DomainError as error:
        if error.code != "missing_fx_rate":
            raise
        fx_error = error.message
        aging = _aging(in_base=False)
    metrics, state, computed_at = _metrics(in_base=not fx_error)
    return Dashboard(
        today=today,
        aging=aging,
        top_overdue=[line for line in aging.lines if line.overdue > 0],
        metrics=metrics,
        metrics_state=state,
        metrics_computed_at=computed_at,
        fx_error=fx_error,
    )


def forecast_panel() -> tuple[list[CashForecast], str]:
    """The cash forecast in the base currency, or per currency (with the error)
    while a rate is missing."""
    try:
        return cash_forecast(weeks=FORECAST_WEEKS, in_base=True), ""
    except DomainError as error:
        if error.code != "missing_fx_rate":
            raise
        return cash_forecast(weeks=FORECAST_WEEKS, in_base=False), error.message


def _aging(*, in_base: bool) -> AgingReport:
    return aging_report(
        group_by="customer", sort="overdue", page_size=TOP_OVERDUE, in_base=in_base
    )


def _metrics(*, in_base: bool) -> tuple[list[MetricSeries], str, object]:
    snapshot = current_snapshot()
    if snapshot is None:
        return [], "missing", None
    state = "stale" if snapshot_is_stale(snapshot) else "fresh"
    sums = stored_month_sums(snapshot, scope=SCOPES.ORGANIZATION)
    # From the first month with figures (a young company has fewer than 24).
    active = [month for by_month in sums.values() for month in by_month]
    window = month_window(snapshot.through_month, STORED_MONTHS)
    shown = [m for m in window if active and m >= min(active)] or window[-1:]
    try:
        series = metric_series(sums=sums, months=shown, in_base=in_base)
    except DomainError as error:
        if error.code != "missing_fx_rate":
            raise
        series = metric_series(sums=sums, months=shown, in_base=False)
    return series, state, snapshot.computed_at


def collections_today(today: date) -> CollectionsToday:
    """Cash received today, and the collectors' logged activities when the
    collections stage keeps them."""
    payments = (
        Payment.objects.filter(received_date=today, status=Payment.Status.RECEIVED)
        .values("currency")
        .annotate(count=Count("id"), amount=Sum("amount"))
        .order_by("currency")
    )
    result = CollectionsToday(
        payments=[
            CurrencyAmount(
                row["currency"], row["count"], exact(row["amount"], row["currency"])
            )
            for row in payments
        ]
    )
    activity = _activity_model()
    if activity is not None:
        result.has_collections = True
        start = _start_of_today()
        rows = (
            activity.objects.filter(created_at__gte=start)
            .values("kind")
            .annotate(count=Count("id"))
            .order_by("kind")
        )
        labels = dict(activity._meta.get_field("kind").choices or [])
        result.activities = [
            (str(labels.get(row["kind"], row["kind"])), row["count"]) for row in rows
        ]
    return result


@dataclass(frozen=True)
class CashCollected:
    """Cash received this month to date against the same days and the whole of
    last month, per currency (a payment is collected in the currency it came in);
    the base currency first."""

    currency: str
    this_month: Decimal
    last_month_to_date: Decimal
    last_month: Decimal


def cash_collected(today: date) -> list[CashCollected]:
    this_start = today.replace(day=1)
    last_start = add_months(this_start, -1)
    # The same day of last month, capped at its last day (31 March -> 28 February).
    last_same_day = min(last_start + (today - this_start), this_start - _ONE_DAY)
    rows = (
        Payment.objects.filter(
            status=Payment.Status.RECEIVED,
            received_date__gte=last_start,
            received_date__lte=today,
        )
        .values("currency")
        .annotate(
            this_month=Sum("amount", filter=Q(received_date__gte=this_start)),
            last_month_to_date=Sum(
                "amount",
                filter=Q(
                    received_date__lt=this_start, received_date__lte=last_same_day
                ),
            ),
            last_month=Sum("amount", filter=Q(received_date__lt=this_start)),
        )
        .order_by("currency")
    )
    base = current_organization().base_currency
    rows = sorted(rows, key=lambda row: (row["currency"] != base, row["currency"]))
    return [
        CashCollected(
            currency=row["currency"],
            this_month=exact(row["this_month"] or 0, row["currency"]),
            last_month_to_date=exact(row["last_month_to_date"] or 0, row["currency"]),
            last_month=exact(row["last_month"] or 0, row["currency"]),
        )
        for row in rows
    ]


_ONE_DAY = timedelta(days=1)


def _activity_model():
    """``collecting.Activity`` when the collections stage has it (with a ``kind``
    and a ``created_at``); the dashboard reads it without importing the app's
    code, which may not exist yet in every deployment."""
    try:
        model = apps.get_model("collecting", "Activity")
        model._meta.get_field("kind")
        model._meta.get_field("created_at")
    except (LookupError, FieldDoesNotExist):
        return None
    return model


def _start_of_today() -> datetime:
    organization = current_organization()
    return datetime.combine(organization.today(), time.min, tzinfo=organization.tzinfo)
