"""Which prediction serves: the model only when it beats the customer median on
recent history; the baseline on too little or constant history, without error."""

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest

from collecting.models import PredictionModel
from collecting.prediction.features import FEATURES, NEVER, History
from collecting.prediction.model import Baseline, chance_paid_by
from collecting.prediction.services import predictions_refresh, train
from invoicing.models import InvoicePrediction
from tests.factories import CustomerFactory, issued_invoice, received_payment

START = date(2024, 1, 1).toordinal()


def synthetic(days_late, *, customers=20, seed=1) -> History:
    """Invoices every day or so, net 30, amounts 100 to 10,000; ``days_late(rng,
    customer, amount)`` decides each one's lateness."""
    rng = np.random.default_rng(seed)
    count = 900
    customer = rng.integers(0, customers, count)
    issued = START + np.sort(rng.integers(0, 500, count))
    total = np.round(rng.choice([100.0, 150.0, 120.0, 10_000.0], count), 2)
    late = np.array(
        [days_late(rng, c, t) for c, t in zip(customer, total, strict=True)],
        dtype=np.int64,
    )
    due = issued + 30
    return History(
        invoice_ids=np.arange(1, count + 1, dtype=np.int64),
        customer=customer.astype(np.int64),
        account=customer.astype(np.int64),
        currency=np.zeros(count, dtype=np.int64),
        currencies=["EUR"],
        issued=issued,
        due=due,
        settled=np.maximum(due + late, issued),
        total=total,
        first_dispute=np.full(count, NEVER, dtype=np.int64),
        position={pk: pk - 1 for pk in range(1, count + 1)},
    )


AFTER_ALL = date.fromordinal(START + 900)


def test_large_invoices_waiting_for_approval_publish_the_model():
    # Each customer pays small invoices on time and large ones 25 days late:
    # its median cannot tell them apart, the amount against its usual can.
    history = synthetic(lambda rng, c, total: 25 if total > 1000 else 0)

    training = train(history, before=AFTER_ALL)

    assert training.reason == PredictionModel.Reason.PUBLISHED
    assert training.predictor.kind == "model"
    figures = training.metrics
    assert figures["model"]["mae_days"] < figures["customer_median"]["mae_days"]
    assert figures["model"]["mae_days"] < 3


def test_a_model_that_cannot_beat_the_customer_median_is_not_published():
    # Each customer always pays the same number of days late: its median is exact.
    history = synthetic(lambda rng, c, total: int(c) * 2 - 10)

    training = train(history, before=AFTER_ALL)

    assert training.reason == PredictionModel.Reason.NOT_BETTER
    assert training.predictor.kind == "baseline"
    assert training.metrics["customer_median"]["mae_days"] == 0


def test_constant_history_serves_the_baseline_without_error():
    history = synthetic(lambda rng, c, total: 0)

    training = train(history, before=AFTER_ALL)

    assert (training.reason, training.predictor.kind) == ("constant", "baseline")
    scored = training.predictor.score(history, [0, 1], history.issued[[0, 1]])
    assert scored.expected.tolist() == [0, 0]
    assert scored.low.tolist() == [0, 0] and scored.high.tolist() == [0, 0]


def test_too_little_history_serves_the_baseline():
    history = synthetic(lambda rng, c, total: 12)

    training = train(history, before=date.fromordinal(START + 100))

    assert training.reason == PredictionModel.Reason.TOO_FEW
    assert training.settled < 200


def test_chances_read_from_the_quantiles():
    history = synthetic(lambda rng, c, total: 0)
    baseline = Baseline(fallback=10.0, below=-10.0, above=10.0)  # 0 / 10 / 20 late
    scored = baseline.score(history, [0], history.issued[[0]], matrix=_no_history())
    assert (scored.low[0], scored.expected[0], scored.high[0]) == (0, 10, 20)
    # Half of the distribution by 10 days late, 90 % by 20, 10 % on the due date.
    assert chance_paid_by(scored, 10)[0] == pytest.approx(0.5 + 0.4 / 10 * 0.5)
    assert chance_paid_by(scored, 20)[0] == pytest.approx(0.9 + 0.1 / 2.5 * 0.5)
    assert chance_paid_by(scored, -1)[0] < 0.1


def _no_history():
    return np.full((1, len(FEATURES)), np.nan)


def test_an_organization_without_history_scores_with_the_baseline(tenant):
    customer = CustomerFactory()
    invoice = issued_invoice(customer, "250.00", invoice_date=date(2026, 3, 1))

    record = predictions_refresh(today=date(2026, 3, 10))

    assert (record.kind, record.reason) == ("baseline", "too_few")
    prediction = InvoicePrediction.objects.get(invoice=invoice)
    # Nothing known: expected on the due date, the interval that date alone.
    assert prediction.expected_date == invoice.due_date
    assert prediction.earliest_date == prediction.latest_date == invoice.due_date
    assert prediction.chance_within_terms == Decimal("1.000")
    assert prediction.reasons == [
        {"code": "organization_median", "value": 0.0, "days": 0.0}
    ]


def test_open_invoices_are_expected_by_their_customers_median(tenant):
    customer = CustomerFactory()
    for month, late in ((1, 4), (2, 10), (3, 6)):
        paid = issued_invoice(customer, "100.00", invoice_date=date(2026, month, 1))
        received_payment(
            customer,
            "100.00",
            received_date=paid.due_date + timedelta(days=late),
            allocations=[(paid, "100.00")],
        )
    open_invoice = issued_invoice(customer, "100.00", invoice_date=date(2026, 5, 1))

    predictions_refresh(today=date(2026, 5, 10))

    prediction = InvoicePrediction.objects.get(invoice=open_invoice)
    assert prediction.expected_days_late == 6  # median of 4, 10, 6
    assert prediction.expected_date == open_invoice.due_date + timedelta(days=6)
    assert prediction.reasons[0]["code"] == "median_days_late"
    # A second run replaces the scores instead of adding to them.
    predictions_refresh(today=date(2026, 5, 11))
    assert InvoicePrediction.objects.filter(invoice=open_invoice).count() == 1
    assert PredictionModel.objects.count() == 2


def test_nightly_task_trains_and_scores_each_organization(org, other_org, settings):
    from collecting.tasks import refresh_all_predictions
    from o2c.tenancy import tenant_context

    settings.CELERY_TASK_ALWAYS_EAGER = True
    with tenant_context(org):
        invoice = issued_invoice(CustomerFactory(), "80.00")

    assert refresh_all_predictions() == 2

    with tenant_context(org):
        assert PredictionModel.objects.get().kind == "baseline"
        assert InvoicePrediction.objects.get().invoice == invoice
    with tenant_context(other_org):
        assert PredictionModel.objects.count() == 1
        assert InvoicePrediction.objects.count() == 0


def test_an_invoice_later_than_predicted_is_expected_today_and_says_why():
    history = synthetic(lambda rng, c, total: 0)
    baseline = Baseline(fallback=5.0)
    today = history.due[0] + 20

    scored = baseline.score(history, [0], today, matrix=_no_history())

    assert scored.expected[0] == 20  # today, not 5 days after the due date
    assert scored.reasons[0][-1] == {
        "code": "days_past_due",
        "value": 20.0,
        "days": 15.0,
    }


def test_collectors_score_counts_the_risk_of_paying_late(tenant):
    from collecting.models import WorklistEntry
    from collecting.services.worklist import worklist_rebuild

    risky, unscored = CustomerFactory(name="Risky"), CustomerFactory(name="Unscored")
    invoices = {
        customer: issued_invoice(customer, "500.00", invoice_date=date(2026, 1, 1))
        for customer in (risky, unscored)
    }
    InvoicePrediction.objects.create(
        organization=tenant,
        invoice=invoices[risky],
        run_id=1,
        kind="model",
        as_of=date(2026, 3, 1),
        expected_date=date(2026, 4, 20),
        earliest_date=date(2026, 3, 10),
        latest_date=date(2026, 6, 1),
        expected_days_late=79,
        chance_within_terms=Decimal("0"),
        chance_within_30_days=Decimal("0.25"),
    )

    worklist_rebuild(today=date(2026, 3, 1))

    entries = {e.customer.name: e for e in WorklistEntry.objects.all()}
    # 75 % of Risky's 500.00 overdue is unlikely within 30 days past due: 15 points.
    assert entries["Risky"].score_parts["late_payment_risk"] == 15.0
    assert "late_payment_risk" not in entries["Unscored"].score_parts
    assert entries["Risky"].score - entries["Unscored"].score == Decimal("15.0")


def test_backtest_measures_training_with_open_late_invoices_as_lower_bounds():
    from collecting.prediction.services import backtest, with_censored

    history = synthetic(lambda rng, c, total: int(rng.integers(0, 40)))
    split = START + 300
    seen = with_censored(history, split)

    open_then = (history.issued < split) & (history.settled >= split)
    late_then = open_then & (history.due < split - 1)
    # Open and late on the split day: settled the day before, as a lower bound.
    assert late_then.any() and (seen.settled[late_then] == split - 1).all()
    # Everything else as it was (open but not yet late; settled before; later).
    untouched = ~late_then
    assert (seen.settled[untouched] == history.settled[untouched]).all()
    assert (seen.days_late[late_then] <= history.days_late[late_then]).all()

    figures = backtest(history, split=date.fromordinal(split))
    assert figures["censored"] == int(late_then.sum())
    assert figures["model_censored"]["count"] == figures["model"]["count"]
