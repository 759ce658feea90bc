"""How well the payment-date prediction did: the figures the last nightly
training measured on the most recent settled history, model beside baselines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils.translation import gettext_lazy as _

from collecting.models import PredictionModel
from reconciliation.models import Allocation
from reports.models import ForecastSnapshot

# The figures ``collecting.prediction`` stores under ``metrics``, in the order
# shown; the due-date baseline has no interval (a single day), so no coverage.
_METHODS = (
    ("model", _("Trained model")),
    ("customer_median", _("Customer median (baseline)")),
    ("due_date", _("Paid on the due date (baseline)")),
)


@dataclass(frozen=True)
class MethodFigures:
    key: str
    label: str
    count: int
    mae_days: Decimal | None
    within_3_percent: Decimal | None
    within_7_percent: Decimal | None
    coverage_percent: Decimal | None
    serves: bool


@dataclass(frozen=True)
class PredictionAccuracy:
    record: PredictionModel
    methods: list[MethodFigures]
    min_settled: int
    recent_percent: int


def _percent(value) -> Decimal | None:
    return None if value is None else _one_decimal(value * 100)


def _one_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, 1)))


def prediction_accuracy() -> PredictionAccuracy | None:
    """The latest training of the current organization, or ``None`` before the
    first nightly run."""
    # Imported here: the predictor's module loads LightGBM, which the report
    # pages need only for these two constants.
    from collecting.prediction.services import MIN_SETTLED, RECENT_SHARE

    record = (
        PredictionModel.objects.order_by("-trained_at", "-id").defer("payload").first()
    )
    if record is None:
        return None
    methods = []
    for key, label in _METHODS:
        figures = (record.metrics or {}).get(key)
        if not figures or not figures.get("count"):
            continue
        methods.append(
            MethodFigures(
                key=key,
                label=str(label),
                count=figures["count"],
                mae_days=_one_decimal(figures.get("mae_days")),
                within_3_percent=_percent(figures.get("within_3_days")),
                within_7_percent=_percent(figures.get("within_7_days")),
                coverage_percent=(
                    None
                    if key == "due_date"
                    else _percent(figures.get("interval_coverage"))
                ),
                serves=(
                    key == "model"
                    if record.kind == PredictionModel.Kind.MODEL
                    else key == "customer_median"
                ),
            )
        )
    return PredictionAccuracy(
        record=record,
        methods=methods,
        min_settled=MIN_SETTLED,
        recent_percent=round(RECENT_SHARE * 100),
    )


@dataclass(frozen=True)
class HorizonAccuracy:
    """Forecast against cash received, summed over the weeks already past that
    were forecast ``horizon`` weeks ahead."""

    horizon: int
    weeks: int
    reconstructed: int  # of ``weeks``, forecasts rebuilt afterwards from history
    forecast: Decimal
    actual: Decimal
    wape_percent: Decimal | None
    bias_percent: Decimal | None


@dataclass(frozen=True)
class CurrencyForecastAccuracy:
    currency: str
    horizons: list[HorizonAccuracy]


def _received_by_week(made_on: date, currency: str, starts: list[date]) -> dict:
    """Cash applied in each week to invoices issued by ``made_on`` (the ones
    the forecast made that day could know): one query."""
    sums = {
        f"w{index}": Sum(
            "amount",
            filter=Q(
                allocation_date__gte=start,
                allocation_date__lt=start + timedelta(days=7),
            ),
        )
        for index, start in enumerate(starts)
    }
    totals = Allocation.objects.filter(
        status=Allocation.Status.ACTIVE,
        invoice__currency=currency,
        invoice__invoice_date__lte=made_on,
        allocation_date__gte=made_on,
    ).aggregate(**sums)
    return {
        start: totals[f"w{index}"] or Decimal(0) for index, start in enumerate(starts)
    }


def forecast_accuracy(*, today: date) -> list[CurrencyForecastAccuracy]:
    """Per currency and horizon: WAPE (sum of |forecast - actual| over the
    actual) and bias (sum of forecast - actual over the actual) of the kept
    weekly forecasts, on the weeks that have ended by ``today``."""
    ended = ForecastSnapshot.objects.filter(
        week_start__lte=today - timedelta(days=7)
    ).order_by("currency", "made_on", "horizon")
    by_day: dict[tuple[str, date], list[ForecastSnapshot]] = {}
    for row in ended:
        by_day.setdefault((row.currency, row.made_on), []).append(row)
    totals: dict[str, dict[int, list]] = {}
    for (currency, made_on), rows in by_day.items():
        received = _received_by_week(made_on, currency, [r.week_start for r in rows])
        for row in rows:
            cell = totals.setdefault(currency, {}).setdefault(
                row.horizon, [0, Decimal(0), Decimal(0), Decimal(0), 0]
            )
            actual = received[row.week_start]
            cell[0] += 1
            cell[4] += row.reconstructed
            cell[1] += row.amount
            cell[2] += actual
            cell[3] += abs(row.amount - actual)
    return [
        CurrencyForecastAccuracy(
            currency=currency,
            horizons=[
                HorizonAccuracy(
                    horizon=horizon + 1,
                    weeks=weeks,
                    reconstructed=reconstructed,
                    forecast=forecast,
                    actual=actual,
                    wape_percent=_ratio(absolute, actual),
                    bias_percent=_ratio(forecast - actual, actual),
                )
                for horizon, (
                    weeks,
                    forecast,
                    actual,
                    absolute,
                    reconstructed,
                ) in sorted(horizons.items())
            ],
        )
        for currency, horizons in sorted(totals.items())
    ]


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part / whole * 100).quantize(Decimal("0.1"))
