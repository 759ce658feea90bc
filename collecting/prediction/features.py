"""What was known about an invoice on a given date, for many invoices at once.

``load_history()`` reads one organization's issued invoices, their settlement
dates, disputes, promises, broken promises and dunning notices with a handful of
queries into numpy arrays. ``features_as_of(history, rows, as_of)`` then computes
the feature matrix for any number of (invoice, date) pairs — each pair with its
own date — with sorted keys, prefix sums and binary search: no query per invoice.

**As of a date D** means at the start of day D: an event counts only if it is
dated strictly before D (a payment posted on D, a dispute opened on D, a notice
dated D are not known yet). Nothing in a feature may depend on anything dated D
or later; ``tests/collecting/test_prediction_features.py`` changes the future
and checks that no feature moves.

**Settlement date** of an invoice: the first day its running ledger balance
(invoice debits, fees, payments allocated, credit notes, write-offs, imported
settlements — every ledger entry that names the invoice) reaches zero. An
invoice reopened later by a reversal keeps that first date (simplification:
reopened invoices are rare and the first settlement is what the customer did).

Known simplifications, listed so they can be lifted: the customer's open and
overdue balance at D count an invoice as wholly open until its settlement date
(partial payments are not subtracted); a dispute or promise whose end was not
timestamped (cancelled promise) counts as lasting.
"""

from __future__ import annotations

import math
from bisect import insort
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from django.db import connection

from collecting.models import (
    Dispute,
    DisputeInvoice,
    Notice,
    NoticeItem,
    PromiseInvoice,
    PromiseToPay,
)
from invoicing.models import Invoice, LedgerEntry
from o2c.tenancy import current_organization

# Day numbers are proleptic ordinals (date.toordinal()); a key combines a group
# index and a day so that one sorted array serves every customer.
DAY_SPAN = 1 << 21
NEVER = DAY_SPAN - 1  # "not settled / not ended": later than any real day
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
SENT_NOTICE_STATUSES = (
    Notice.Status.SENT,
    Notice.Status.BOUNCED,
    Notice.Status.COMPLAINED,
    Notice.Status.UNKNOWN_CHECK,
)

FEATURES = (
    "log_amount",
    "amount_to_usual",
    "terms_days",
    "currency",
    "issue_month",
    "issue_weekday",
    "due_month",
    "due_weekday",
    "days_past_due",
    "settled_count",
    "mean_days_late",
    "median_days_late",
    "trend_days_late",
    "share_late",
    "share_disputed",
    "last_days_late",
    "log_open_balance",
    "log_overdue_balance",
    "overdue_share",
    "disputed_now",
    "disputes_so_far",
    "promise_active",
    "broken_promises",
    "dunning_steps_sent",
)
CATEGORICAL = ("currency",)
RECENT_FOR_TREND = 3


@dataclass
class History:
    """One organization's issued invoices and the events that date them."""

    invoice_ids: np.ndarray
    customer: np.ndarray  # dense customer index
    account: np.ndarray  # dense (customer, currency) index: balances never mix
    currency: np.ndarray  # dense currency code
    currencies: list[str]
    issued: np.ndarray  # invoice date (ordinal)
    due: np.ndarray
    settled: np.ndarray  # settlement date, NEVER if open
    total: np.ndarray  # float: a model input, never a money figure
    first_dispute: np.ndarray  # first dispute's opened date, NEVER if none
    position: dict[int, int] = field(default_factory=dict)  # invoice id -> row
    customer_index: dict[int, int] = field(default_factory=dict)  # id -> index
    dispute_open_keys: np.ndarray = field(default_factory=lambda: _empty())
    dispute_end_keys: np.ndarray = field(default_factory=lambda: _empty())
    promise_start_keys: np.ndarray = field(default_factory=lambda: _empty())
    promise_end_keys: np.ndarray = field(default_factory=lambda: _empty())
    broken_keys: np.ndarray = field(default_factory=lambda: _empty())
    notice_keys: np.ndarray = field(default_factory=lambda: _empty())

    def __len__(self) -> int:
        return len(self.invoice_ids)

    @property
    def days_late(self) -> np.ndarray:
        """Days from due date to settlement (meaningful where settled)."""
        return self.settled - self.due


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _ordinal(value) -> int:
    """Day number of a date or of a timestamp (in the organization's zone)."""
    if value is None:
        return NEVER
    if isinstance(value, datetime):
        value = value.astimezone(current_organization().tzinfo).date()
    return value.toordinal()


def load_history() -> History:
    """Read the current organization's history (a few queries, no per-row ones)."""
    organization = current_organization()
    columns = _invoice_columns()
    invoice_ids, customer_ids, currency, issued, due, total = columns["arrays"]
    count = len(invoice_ids)
    position = {pk: index for index, pk in enumerate(invoice_ids.tolist())}
    distinct_customers, customer = np.unique(customer_ids, return_inverse=True)
    currencies = columns["currencies"]
    _, account = np.unique(
        customer * max(len(currencies), 1) + currency, return_inverse=True
    )
    history = History(
        invoice_ids=invoice_ids,
        customer=customer.astype(np.int64),
        account=account.astype(np.int64),
        currency=currency,
        currencies=currencies,
        issued=issued,
        due=due,
        settled=np.full(count, NEVER, dtype=np.int64),
        total=total,
        first_dispute=np.full(count, NEVER, dtype=np.int64),
        position=position,
        customer_index={int(c): i for i, c in enumerate(distinct_customers)},
    )
    for invoice_id, day in _settlement_dates(organization.pk):
        row = position.get(invoice_id)
        if row is not None:
            history.settled[row] = day.toordinal()
    _load_disputes(history)
    _load_promises(history)
    _load_notices(history)
    return history


LOAD_CHUNK = 50_000


def _invoice_columns() -> dict:
    """The issued invoices as NumPy columns, read in chunks so that a large
    history never lives as Python rows all at once."""
    code: dict[str, int] = {}
    chunks, chunk = [], []

    def flush():
        chunks.append(
            np.array(
                [
                    (pk, customer, code.setdefault(currency, len(code)), a, b, c)
                    for pk, customer, currency, a, b, c in chunk
                ],
                dtype=np.float64,
            ).reshape(-1, 6)
        )
        chunk.clear()

    rows = (
        Invoice.objects.filter(status__in=Invoice.ISSUED)
        .order_by("id")
        .values_list(
            "id", "customer_id", "currency", "invoice_date", "due_date", "total"
        )
        .iterator(chunk_size=LOAD_CHUNK)
    )
    for pk, customer, currency, invoice_date, due_date, total in rows:
        chunk.append(
            (
                pk,
                customer,
                currency,
                invoice_date.toordinal(),
                due_date.toordinal(),
                float(total),
            )
        )
        if len(chunk) == LOAD_CHUNK:
            flush()
    flush()
    table = np.concatenate(chunks)
    # Currency codes in order of appearance; renumbered alphabetically.
    currencies = sorted(code)
    renumber = np.array([currencies.index(c) for c in code] or [0], dtype=np.int64)
    integers = table[:, :5].astype(np.int64)
    return {
        "arrays": (
            integers[:, 0],
            integers[:, 1],
            renumber[integers[:, 2]] if len(table) else integers[:, 2],
            integers[:, 3],
            integers[:, 4],
            table[:, 5].copy(),
        ),
        "currencies": currencies,
    }


def _settlement_dates(organization_id: int):
    """(invoice id, first day its running ledger balance reached zero)."""
    ledger = LedgerEntry._meta.db_table
    sql = f"""
        SELECT invoice_id, MIN(posting_date) FROM (
            SELECT invoice_id, posting_date,
                   SUM(SUM(amount)) OVER (
                       PARTITION BY invoice_id ORDER BY posting_date
                   ) AS running
            FROM {ledger}
            WHERE organization_id = %s AND invoice_id IS NOT NULL
            GROUP BY invoice_id, posting_date
        ) balances
        WHERE running <= 0
        GROUP BY invoice_id
    """  # table name from the model; the value is bound
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id])
        while batch := cursor.fetchmany(LOAD_CHUNK):
            for invoice_id, day in batch:
                if isinstance(day, str):  # SQLite returns aggregated dates as text
                    day = date.fromisoformat(day)
                yield invoice_id, day


def _keys(groups, days) -> np.ndarray:
    keys = np.asarray(groups, dtype=np.int64) * DAY_SPAN + np.asarray(
        days, dtype=np.int64
    )
    keys.sort()
    return keys


def _rows_and_days(history: History, pairs) -> tuple[list[int], list[int]]:
    rows, days = [], []
    for invoice_id, day in pairs:
        row = history.position.get(invoice_id)
        if row is not None:
            rows.append(row)
            days.append(day)
    return rows, days


def _load_disputes(history: History) -> None:
    links = DisputeInvoice.objects.values_list(
        "invoice_id", "dispute__opened_on", "dispute__resolved_at", "dispute__status"
    )
    opened, ended = [], []
    for invoice_id, opened_on, resolved_at, status in links:
        row = history.position.get(invoice_id)
        if row is None:
            continue
        start = opened_on.toordinal()
        opened.append((row, start))
        end = NEVER
        if status != Dispute.Status.OPEN and resolved_at is not None:
            end = _ordinal(resolved_at)
        ended.append((row, end))
        history.first_dispute[row] = min(history.first_dispute[row], start)
    history.dispute_open_keys = _keys([r for r, _ in opened], [d for _, d in opened])
    history.dispute_end_keys = _keys([r for r, _ in ended], [d for _, d in ended])


def _load_promises(history: History) -> None:
    links = PromiseInvoice.objects.values_list(
        "invoice_id", "promise__made_on", "promise__evaluated_at"
    )
    starts, ends = [], []
    for invoice_id, made_on, evaluated_at in links:
        row = history.position.get(invoice_id)
        if row is None:
            continue
        starts.append((row, made_on.toordinal()))
        ends.append((row, _ordinal(evaluated_at)))
    history.promise_start_keys = _keys([r for r, _ in starts], [d for _, d in starts])
    history.promise_end_keys = _keys([r for r, _ in ends], [d for _, d in ends])
    broken = PromiseToPay.objects.filter(
        status=PromiseToPay.Status.BROKEN, evaluated_at__isnull=False
    ).values_list("customer_id", "evaluated_at")
    groups, days = [], []
    for customer_id, evaluated_at in broken:
        if customer_id in history.customer_index:
            groups.append(history.customer_index[customer_id])
            days.append(_ordinal(evaluated_at))
    history.broken_keys = _keys(groups, days)


def _load_notices(history: History) -> None:
    sent = NoticeItem.objects.filter(
        step__isnull=False, notice__status__in=SENT_NOTICE_STATUSES
    ).values_list("invoice_id", "notice__notice_date")
    rows, days = _rows_and_days(history, ((i, d.toordinal()) for i, d in sent))
    history.notice_keys = _keys(rows, days)


def _count_before(keys: np.ndarray, groups: np.ndarray, days: np.ndarray):
    """How many of a group's keyed days fall strictly before each day."""
    upto = np.searchsorted(keys, groups * DAY_SPAN + days, side="left")
    start = np.searchsorted(keys, groups * DAY_SPAN, side="left")
    return upto - start


class _Sorted:
    """Values of one group-and-day keyed series, in key order, with prefix sums."""

    def __init__(self, groups, days, values):
        order = np.lexsort((days, groups))
        self.keys = groups[order] * DAY_SPAN + days[order]
        self.values = np.asarray(values, dtype=np.float64)[order]
        self.prefix = np.concatenate(([0.0], np.cumsum(self.values)))

    def span(self, groups, days):
        """(start, end) positions of each group's values dated before the day."""
        start = np.searchsorted(self.keys, groups * DAY_SPAN, side="left")
        end = np.searchsorted(self.keys, groups * DAY_SPAN + days, side="left")
        return start, end

    def total(self, start, end):
        return self.prefix[end] - self.prefix[start]


def _running_median(values: np.ndarray, start: np.ndarray, end: np.ndarray):
    """Median of ``values[start:end]`` per query, where each group's values are
    contiguous: queries are visited group by group in growing ``end`` so every
    value is inserted once into a sorted list."""
    out = np.full(len(start), np.nan)
    plain = values.tolist()
    current_group, window, cursor = -1, [], 0
    for query in np.lexsort((end, start)).tolist():
        first, last = int(start[query]), int(end[query])
        if first != current_group:
            current_group, window, cursor = first, [], first
        while cursor < last:
            insort(window, plain[cursor])
            cursor += 1
        size = len(window)
        if size:
            middle = size // 2
            out[query] = (
                window[middle]
                if size % 2
                else (window[middle - 1] + window[middle]) / 2
            )
    return out


def _month(ordinals: np.ndarray) -> np.ndarray:
    days = (ordinals - EPOCH_ORDINAL).astype("datetime64[D]")
    return days.astype("datetime64[M]").astype(np.int64) % 12 + 1


def _weekday(ordinals: np.ndarray) -> np.ndarray:
    return (ordinals - 1) % 7  # date(1, 1, 1), ordinal 1, was a Monday (0)


def features_as_of(history: History, rows, as_of) -> np.ndarray:
    """Feature matrix (one row per query, columns in ``FEATURES``; NaN where
    unknown) of invoices ``history[rows]``, each as of its own ``as_of`` day.

    ``rows`` are positions in ``history``; ``as_of`` ordinals of the same length
    (or one ordinal for all).
    """
    rows = np.asarray(rows, dtype=np.int64)
    as_of = np.broadcast_to(np.asarray(as_of, dtype=np.int64), rows.shape).copy()
    out = np.full((len(rows), len(FEATURES)), np.nan)
    column = {name: index for index, name in enumerate(FEATURES)}

    def put(name, values):
        out[:, column[name]] = values

    total = history.total[rows]
    issued, due = history.issued[rows], history.due[rows]
    customer, account = history.customer[rows], history.account[rows]
    put("log_amount", np.log1p(np.maximum(total, 0)))
    put("terms_days", due - issued)
    put("currency", history.currency[rows])
    put("issue_month", _month(issued))
    put("issue_weekday", _weekday(issued))
    put("due_month", _month(due))
    put("due_weekday", _weekday(due))
    put("days_past_due", as_of - due)

    _customer_history(history, customer, as_of, put)
    _usual_amount(history, customer, np.minimum(issued, as_of), total, put)
    _balances(history, account, as_of, put)

    disputes_so_far = _count_before(history.dispute_open_keys, rows, as_of)
    disputes_ended = _count_before(history.dispute_end_keys, rows, as_of)
    put("disputes_so_far", disputes_so_far)
    put("disputed_now", (disputes_so_far - disputes_ended > 0).astype(float))
    promises_made = _count_before(history.promise_start_keys, rows, as_of)
    promises_ended = _count_before(history.promise_end_keys, rows, as_of)
    put("promise_active", (promises_made - promises_ended > 0).astype(float))
    put("broken_promises", _count_before(history.broken_keys, customer, as_of))
    put("dunning_steps_sent", _count_before(history.notice_keys, rows, as_of))
    return out


def _customer_history(history: History, customer, as_of, put) -> None:
    """Statistics of the customer's invoices settled strictly before the day."""
    settled = history.settled < NEVER
    late_days = history.days_late[settled].astype(np.float64)
    by_settlement = _Sorted(
        history.customer[settled], history.settled[settled], late_days
    )
    start, end = by_settlement.span(customer, as_of)
    count = end - start
    known = count > 0
    safe = np.maximum(count, 1)
    mean = by_settlement.total(start, end) / safe
    recent = np.maximum(end - RECENT_FOR_TREND, start)
    recent_mean = by_settlement.total(recent, end) / np.maximum(end - recent, 1)
    late = _Sorted(
        history.customer[settled],
        history.settled[settled],
        (late_days > 0).astype(np.float64),
    )
    put("settled_count", count)
    put("mean_days_late", np.where(known, mean, np.nan))
    put("trend_days_late", np.where(known, recent_mean - mean, np.nan))
    put("share_late", np.where(known, late.total(start, end) / safe, np.nan))
    last = by_settlement.values[np.maximum(end - 1, 0)] if len(late_days) else 0.0
    put("last_days_late", np.where(known, last, np.nan))
    put("median_days_late", _running_median(by_settlement.values, start, end))
    # Disputed and settled, both before the day: keyed by the later of the two.
    disputed = settled & (history.first_dispute < NEVER)
    disputed_keys = _keys(
        history.customer[disputed],
        np.maximum(history.settled[disputed], history.first_dispute[disputed]),
    )
    disputed_count = _count_before(disputed_keys, customer, as_of)
    put("share_disputed", np.where(known, disputed_count / safe, np.nan))


def _usual_amount(history: History, customer, day, total, put) -> None:
    """The amount against the median of the customer's invoices issued before
    it (and before the as-of day)."""
    by_issue = _Sorted(history.customer, history.issued, history.total)
    start, end = by_issue.span(customer, day)
    usual = _running_median(by_issue.values, start, end)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(usual > 0, total / usual, np.nan)
    put("amount_to_usual", ratio)


def _balances(history: History, account, as_of, put) -> None:
    """The customer's open and overdue amount (in the invoice's currency) at the
    start of the day; an invoice counts as open from its invoice date until its
    settlement date, and overdue from the day after its due date."""
    settled = history.settled < NEVER

    def summed(mask, days, weights):
        series = _Sorted(history.account[mask], days, weights)
        start, end = series.span(account, as_of)
        return series.total(start, end)

    everything = np.ones(len(history), dtype=bool)
    issued = summed(everything, history.issued, history.total)
    paid = summed(settled, history.settled[settled], history.total[settled])
    # Overdue at the start of D: due before D and not settled before D.
    fell_due = summed(everything, history.due, history.total)
    paid_after_due = summed(
        settled,
        np.maximum(history.settled[settled], history.due[settled]),
        history.total[settled],
    )
    open_balance = np.maximum(issued - paid, 0)
    overdue = np.maximum(fell_due - paid_after_due, 0)
    put("log_open_balance", np.log1p(open_balance))
    put("log_overdue_balance", np.log1p(overdue))
    with np.errstate(divide="ignore", invalid="ignore"):
        put("overdue_share", np.where(open_balance > 0, overdue / open_balance, 0.0))


def feature_value(row: np.ndarray, name: str) -> float:
    value = row[FEATURES.index(name)]
    return float("nan") if value is None or math.isnan(value) else float(value)
