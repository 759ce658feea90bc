"""How well the payment-date prediction did: the figures the last nightly
training measured on the most recent settled history, model beside baselines."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from collecting.models import PredictionModel

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
