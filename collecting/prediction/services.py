"""Train an organization's payment-date prediction, publish it or the baseline,
score every open invoice, and backtest on a time split.

Publication rule: at least ``MIN_SETTLED`` settled invoices, not all paid alike,
and the model's mean absolute error (days) on the most recent 30 % of settled
history — by settlement date, each scored as of its invoice date — below the
customer-median baseline's. Otherwise the baseline serves, and the stored
``PredictionModel`` says why.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from collecting.models import PredictionModel
from collecting.prediction.features import NEVER, History, load_history
from collecting.prediction.model import (
    Baseline,
    QuantileModel,
    Scored,
    chance_paid_by,
    metrics,
    settled_rows,
    snapshots,
)
from invoicing.models import Invoice, InvoicePrediction
from o2c.tenancy import current_organization

MIN_SETTLED = 200
# Training learns from at most this many settled invoices, sampled evenly (about
# two training rows, snapshots, each): ample for 24 features and 15-leaf trees of
# at least 40 rows a leaf, and it bounds the nightly training of a 2,000,000-
# invoice organization in time and memory on two cores (``bench/prediction.py``;
# without it, training grows with the history: 23 s at 50,000 invoices).
MAX_TRAINING_INVOICES = 100_000
SAMPLE_SEED = 11
RECENT_SHARE = 0.3  # held out to decide publication
CALIBRATION_SHARE = 0.15  # of what is trained on, a fixed pseudo-random part
OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
Reason = PredictionModel.Reason


@dataclass
class Training:
    predictor: Baseline | QuantileModel
    reason: str
    metrics: dict
    settled: int
    rows: int = 0  # training rows (snapshots) of the fit that serves


def fit_calibrated(history: History, rows: np.ndarray) -> QuantileModel:
    """Fit on ``rows`` less a calibration slice of ``CALIBRATION_SHARE`` of them,
    chosen by a hash of the invoice id (the same invoices every night).

    Not the latest settlements: among invoices settled before a day, the latest
    settled are biased towards the long-late ones (an interval calibrated on
    them held 90 % on the demo), and the latest issued towards the quick
    payers (the slow ones are still open)."""
    calibration = _calibration_slice(history.invoice_ids[rows])
    model = QuantileModel.fit(history, *snapshots(history, rows[~calibration]))
    model.calibrate(history, *snapshots(history, rows[calibration]))
    return model


def _calibration_slice(invoice_ids: np.ndarray) -> np.ndarray:
    spread = (invoice_ids.astype(np.uint64) * np.uint64(2654435761)) % np.uint64(1000)
    return spread < int(CALIBRATION_SHARE * 1000)


def due_date_scores(history: History, rows, as_of) -> Scored:
    """The naive forecast: paid on the due date (or today, if that has passed)."""
    floor = np.asarray(as_of, dtype=np.float64) - history.due[rows]
    point = np.maximum(floor, 0.0)
    return Scored(point, point, point, floor, [[] for _ in range(len(point))])


def compare(history: History, fitted_on: np.ndarray, rows: np.ndarray, model):
    """Figures of the model and both baselines on ``rows`` as of their invoice
    dates; the customer-median baseline learns its fallback from ``fitted_on``."""
    as_of = history.issued[rows]
    target = history.days_late[rows]
    baseline = Baseline.fit(history, *snapshots(history, fitted_on))
    figures = {
        "customer_median": metrics(
            target, baseline.score(history, rows, as_of, explain=False)
        ),
        "due_date": metrics(target, due_date_scores(history, rows, as_of)),
    }
    if model is not None:
        scored = model.score(history, rows, as_of, explain=False)
        figures["model"] = metrics(target, scored)
    return figures


def training_sample(rows: np.ndarray) -> np.ndarray:
    """At most ``MAX_TRAINING_INVOICES`` of ``rows``, drawn evenly at random
    (a fixed seed: the same history gives the same sample), in their order."""
    if len(rows) <= MAX_TRAINING_INVOICES:
        return rows
    generator = np.random.default_rng(SAMPLE_SEED)
    keep = np.sort(generator.choice(len(rows), MAX_TRAINING_INVOICES, replace=False))
    return rows[keep]


def train(history: History, *, before: date) -> Training:
    """What should serve predictions made on ``before`` (history settled before it)."""
    settled = settled_rows(history, before.toordinal())
    count = len(settled)
    rows = training_sample(settled)
    baseline_rows = snapshots(history, rows)
    baseline = Baseline.fit(history, *baseline_rows)
    used = len(baseline_rows[0])
    if count < MIN_SETTLED:
        return Training(baseline, Reason.TOO_FEW, {}, count, used)
    target = history.days_late[rows]
    if np.all(target == target[0]):
        return Training(baseline, Reason.CONSTANT, {}, count, used)
    recent = int(len(rows) * (1 - RECENT_SHARE))
    candidate = fit_calibrated(history, rows[:recent])
    figures = compare(history, rows[:recent], rows[recent:], candidate)
    if figures["model"]["mae_days"] >= figures["customer_median"]["mae_days"]:
        return Training(baseline, Reason.NOT_BETTER, figures, count, used)
    model = fit_calibrated(history, rows)
    return Training(model, Reason.PUBLISHED, figures, count, used)


def _as_chance(values) -> list[Decimal]:
    return [Decimal(str(round(float(v), 3))) for v in values]


def predictions_refresh(*, today: date | None = None) -> PredictionModel:
    """Nightly: train, record the outcome, and score every open invoice as of
    today (replacing the previous scores in one transaction)."""
    today = today or current_organization().today()
    history = load_history()
    return predictions_store(history, train(history, before=today), today=today)


def predictions_store(
    history: History, training: Training, *, today: date, timings=None
):
    """Record ``training`` and score every open invoice with it as of ``today``,
    replacing the previous scores in one transaction. ``timings`` (a dict), if
    given, receives the seconds of scoring and of storing (the bench's)."""
    started = time.perf_counter()
    organization = current_organization()
    open_ids = list(
        Invoice.objects.filter(status__in=OPEN_STATUSES).values_list("id", flat=True)
    )
    rows = np.array(
        [history.position[pk] for pk in open_ids if pk in history.position],
        dtype=np.int64,
    )
    scored = training.predictor.score(history, rows, today.toordinal())
    within_terms = chance_paid_by(scored, 0)
    within_30 = chance_paid_by(scored, 30)
    scored_at = time.perf_counter()
    with transaction.atomic():
        record = PredictionModel.objects.create(
            organization=organization,
            kind=training.predictor.kind,
            reason=training.reason,
            trained_at=timezone.now(),
            trained_through=today,
            settled_invoices=training.settled,
            metrics=training.metrics,
            payload=training.predictor.payload(),
            predictions_count=len(rows),
        )
        InvoicePrediction.objects.all().delete()
        if connection.vendor == "postgresql":
            _insert(history, rows, scored, within_terms, within_30, record, today)
        else:
            InvoicePrediction.objects.bulk_create(
                (
                    InvoicePrediction(**values)
                    for values in _predictions(
                        history, rows, scored, within_terms, within_30, record, today
                    )
                ),
                batch_size=2000,
            )
    if timings is not None:
        timings["score"] = scored_at - started
        timings["store"] = time.perf_counter() - scored_at
    return record


INSERT_PAGE = 20_000


def _insert(history, rows, scored, within_terms, within_30, record, today) -> None:
    """The predictions as columns: one INSERT … SELECT FROM unnest(arrays) per
    page of rows, the dates computed by the database from day numbers — many
    times faster than a row of Python values each (``bulk_create``) for the
    hundreds of thousands of open invoices of a large organization. INSERT,
    not COPY, so that row-level security applies."""
    due = history.due[rows]
    expected = np.round(scored.expected).astype(np.int64)
    columns = {
        "invoice": history.invoice_ids[rows].tolist(),
        "expected": (due + expected).tolist(),
        "earliest": (due + np.floor(scored.low).astype(np.int64)).tolist(),
        "latest": (due + np.ceil(scored.high).astype(np.int64)).tolist(),
        "days": expected.tolist(),
        "terms": np.round(within_terms, 3).tolist(),
        "late": np.round(within_30, 3).tolist(),
    }
    table = connection.ops.quote_name(InvoicePrediction._meta.db_table)
    # Table and column names from the model; every value is bound.
    sql = f"""
        INSERT INTO {table} (
            organization_id, invoice_id, run_id, kind, as_of, expected_date,
            earliest_date, latest_date, expected_days_late, chance_within_terms,
            chance_within_30_days, reasons
        )
        SELECT %s, u.invoice, %s, %s, %s,
               DATE '0001-01-01' + (u.expected - 1),
               DATE '0001-01-01' + (u.earliest - 1),
               DATE '0001-01-01' + (u.latest - 1),
               u.days, u.terms, u.late, r.value
        FROM unnest(
            %s::bigint[], %s::int[], %s::int[], %s::int[], %s::int[],
            %s::numeric[], %s::numeric[]
        ) WITH ORDINALITY AS u(invoice, expected, earliest, latest, days, terms,
                                late, n)
        JOIN jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r(value, n)
          ON r.n = u.n
    """
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_PAGE):
            page = slice(start, start + INSERT_PAGE)
            cursor.execute(
                sql,
                [
                    record.organization_id,
                    record.pk,
                    record.kind,
                    today,
                    *(values[page] for values in columns.values()),
                    json.dumps(scored.reasons[page]),
                ],
            )


def _predictions(history, rows, scored, within_terms, within_30, record, today):
    terms_chance = _as_chance(within_terms)
    late_chance = _as_chance(within_30)
    for index, row in enumerate(rows.tolist()):
        due = date.fromordinal(int(history.due[row]))
        expected = round(float(scored.expected[index]))
        yield dict(
            organization_id=record.organization_id,
            invoice_id=int(history.invoice_ids[row]),
            run_id=record.pk,
            kind=record.kind,
            as_of=today,
            expected_date=due + timedelta(days=expected),
            earliest_date=due + timedelta(days=int(np.floor(scored.low[index]))),
            latest_date=due + timedelta(days=int(np.ceil(scored.high[index]))),
            expected_days_late=expected,
            chance_within_terms=terms_chance[index],
            chance_within_30_days=late_chance[index],
            reasons=scored.reasons[index],
        )


def with_censored(history: History, before: int) -> History:
    """The history as training may see it on day ``before``, with the invoices
    then still open and already late counted as settled the day before: their
    lateness so far is a lower bound of their outcome. Without them, training
    learns only from the invoices that were paid, which on a young or growing
    book are the quick payers. For training only: in this copy those invoices
    look settled, which no feature as of a later day may see."""
    late_and_open = (
        (history.issued < before)
        & (history.settled >= before)
        & (history.due < before - 1)
    )
    settled = history.settled.copy()
    settled[late_and_open] = before - 1
    return replace(history, settled=settled)


def backtest(history: History, *, split: date) -> dict:
    """Train on what was settled before ``split``; score the invoices issued on
    or after it that were settled by the end of the data, each as of its
    invoice date. Nothing here reads the real today."""
    fitted_on = training_sample(settled_rows(history, split.toordinal()))
    tested = np.flatnonzero(
        (history.issued >= split.toordinal()) & (history.settled < NEVER)
    )
    model = censored = None
    if len(fitted_on) >= MIN_SETTLED:
        model = fit_calibrated(history, fitted_on)
        # The same with the open and late invoices of the split day as lower
        # bounds (``with_censored``), to measure what leaving them out costs.
        seen = with_censored(history, split.toordinal())
        censored = fit_calibrated(
            seen, training_sample(settled_rows(seen, split.toordinal()))
        )
    figures = compare(history, fitted_on, tested, model)
    if censored is not None:
        scored = censored.score(history, tested, history.issued[tested], explain=False)
        figures["model_censored"] = metrics(history.days_late[tested], scored)
        figures["censored"] = int((seen.settled != history.settled).sum())
    figures["trained_on"] = len(fitted_on)
    figures["tested"] = len(tested)
    figures["still_open"] = int(
        ((history.issued >= split.toordinal()) & (history.settled == NEVER)).sum()
    )
    return figures
