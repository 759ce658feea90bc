"""Receivables metrics per calendar month: DSO, Best Possible DSO, ADD, CEI, AR
turnover, % current and the amount overdue.

The inputs, all sums of the receivables ledger:

* **Receivables (AR)** at a month's end: open invoice amounts on its last day
  (entries on invoices posted on or before it). It is the aging total on that
  date; cash on account is not netted against it.
* **Current AR**: the part not yet past due on that day (due on it or later),
  the aging's "Current" bucket.
* **Credit sales** of a month: invoices and fees (debit notes) posted in it, less
  voids of them posted in it. Credit notes are not subtracted: they settle
  receivables, so they show in CEI as collected, not as negative sales.

The definitions (the same words stand beside each figure in the UI):

* **DSO, countback**: take AR at month end, subtract each month's credit sales,
  newest month first, counting that month's days while the balance lasts; the
  month where it runs out counts the fraction ``remaining / sales`` of its days.
  (212,000 against 100,000, 80,000, 70,000 in 30-day months: 30 + 30 + 32/70 x 30
  = 73.7 days.) No figure when AR is older than the sales history kept
  (``LOOKBACK_MONTHS`` before the first month shown).
* **DSO, simple** = AR / credit sales of the month x days in the month.
* **Best Possible DSO** = current AR / credit sales x days in the month.
* **Average Days Delinquent** = DSO (simple) - Best Possible DSO, i.e. overdue AR
  / credit sales x days.
* **CEI** = (opening AR + credit sales - closing AR) / (opening AR + credit sales
  - closing current AR) x 100, opening AR being the previous month's closing AR.
* **AR turnover** (annualised) = credit sales x 365 / days in the month / average
  AR, the average of opening and closing AR.
* **% current** = current AR / AR x 100; **overdue** = AR - current AR.

A figure whose denominator is zero (no sales, no receivables) is None, shown as a
dash. Amounts are per currency; converted to the base currency each month's
amounts use the rate of the month's last day (the latest stored on or before it).

Per collector and segment, customers are attributed by their collector and
segment now, not when the invoice was issued.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import chain

from django.db.models import DecimalField, Q, Sum, Value
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext_lazy as _

from invoicing.models import LedgerEntry
from o2c.errors import DomainError
from o2c.money import quantize
from o2c.tenancy import current_organization
from orders.models import Customer
from reports.models import (
    LedgerAttribution,
    LedgerCompaction,
    LedgerMonthTotal,
    MonthEndFigure,
)
from reports.selectors.common import (
    FxRates,
    IsMonthsLastDay,
    add_months,
    exact,
    month_end,
)

SCOPES = MonthEndFigure.Scope
# Shown beside each figure (web pages, PDF, API): what it is and how it is made.
DEFINITIONS = {
    "receivables": _(
        "Open invoice amounts at month end (the aging total); cash on "
        "account is shown apart, not netted."
    ),
    "current_receivables": _(
        "The part of the receivables not yet past due at month "
        "end (due on the last day or later)."
    ),
    "overdue": _("Receivables past their due date at month end."),
    "credit_sales": _(
        "Invoices and fees posted in the month, less voids of them. "
        "Credit notes are not subtracted: they count as collected in CEI."
    ),
    "dso_countback": _(
        "Countback DSO: month-end receivables less each month's "
        "credit sales, newest month first, counting whole months' days until the "
        "balance is used up, then the fraction of the last month."
    ),
    "dso_simple": _(
        "Simple DSO = receivables / credit sales of the month x days in the month."
    ),
    "best_possible_dso": _(
        "Best Possible DSO = current (not overdue) receivables / "
        "credit sales x days in the month."
    ),
    "average_days_delinquent": _(
        "Average Days Delinquent = simple DSO - Best "
        "Possible DSO (overdue receivables / credit sales x days)."
    ),
    "cei": _(
        "Collection Effectiveness Index = (opening receivables + credit sales - "
        "closing receivables) / (opening receivables + credit sales - closing current "
        "receivables) x 100."
    ),
    "turnover": _(
        "AR turnover, annualised = credit sales x 365 / days in the month / "
        "average of opening and closing receivables."
    ),
    # xgettext:no-python-format
    "percent_current": _("% current = current receivables / receivables x 100."),
}
LOOKBACK_MONTHS = 12
MAX_MONTHS = 60
SALES_KINDS = (LedgerEntry.Kind.INVOICE, LedgerEntry.Kind.FEE)
_DAYS = Decimal("0.01")


@dataclass
class MonthSums:
    """The ledger sums of one month, per scope and currency."""

    receivables: Decimal = Decimal(0)
    current_receivables: Decimal = Decimal(0)
    credit_sales: Decimal = Decimal(0)


ScopeKey = tuple[str, str, str]  # (scope, key, currency)


@dataclass
class MonthMetrics:
    month: date  # first day
    days: int
    currency: str
    opening_receivables: Decimal
    receivables: Decimal
    current_receivables: Decimal
    credit_sales: Decimal
    dso_countback: Decimal | None
    dso_simple: Decimal | None
    best_possible_dso: Decimal | None
    average_days_delinquent: Decimal | None
    cei: Decimal | None
    turnover: Decimal | None
    percent_current: Decimal | None

    @property
    def overdue(self) -> Decimal:
        return self.receivables - self.current_receivables

    @property
    def month_end(self) -> date:
        return month_end(self.month)


@dataclass
class MetricSeries:
    scope: str
    key: str
    currency: str
    months: list[MonthMetrics] = field(default_factory=list)
    converted: bool = False

    @property
    def latest(self) -> MonthMetrics | None:
        return self.months[-1] if self.months else None


def last_closed_month(today: date | None = None) -> date:
    """The first day of the last complete month before ``today``."""
    today = today or current_organization().today()
    return add_months(today, -1)


def month_window(end_month: date, months: int) -> list[date]:
    """First days of ``months`` months ending with ``end_month``'s month."""
    if not 1 <= months <= MAX_MONTHS:
        raise DomainError(
            "invalid_months", f"Months run from 1 to {MAX_MONTHS}.", field="months"
        )
    return _months_ending(end_month, months)


def _months_ending(end_month: date, months: int) -> list[date]:
    """``month_window`` without the limit on what a client may ask for: a series
    of 60 months reads its 12 months of look-back too."""
    end_month = end_month.replace(day=1)
    return [add_months(end_month, k - months + 1) for k in range(months)]


# --- the sums, from the ledger ------------------------------------------------


# A key of the month sums' grouping: (collector id, segment, currency, posting
# month, the invoice's due month, due on that month's last day).
GroupKey = tuple[int | None, str, str, date, date, bool]
# A grouped row: the key, the movement and the credit sales.
GroupRow = tuple[GroupKey, Decimal, Decimal]


def ledger_month_sums(
    *, first_month: date, last_month: date, compacted: bool = True
) -> dict[ScopeKey, dict[date, MonthSums]]:
    """Month-end sums for every month from ``first_month`` to ``last_month`` and
    every scope: the organization, each collector, each segment.

    Every entry on an invoice posted up to the last month end counts, grouped
    by (collector, segment, currency, posting month, the invoice's due month,
    whether the invoice is due on a month's last day): a few thousand rows,
    from which Python rolls up the balances before the first month, each
    month's movement and credit sales, and the current receivables of each
    month end (see :func:`_current_months`); the scopes are rolled up from the
    same rows.

    The rows are the compacted ledger (``LedgerMonthTotal``: the entries up to
    the compaction line, see ``reports.services.ledger_compact``), the entries
    posted since, grouped now, and a move of the compacted entries of each
    customer whose collector or segment has changed since. With
    ``compacted=False``, or before the first compaction, every entry is grouped
    now; both give the same sums (``reports.checks.check_compaction``).
    """
    months = _months_ending(last_month, _months_between(first_month, last_month))
    last_end = month_end(months[-1])
    compaction = LedgerCompaction.objects.first() if compacted else None
    through = compaction.through_entry if compaction else 0
    since = LedgerEntry.objects.filter(pk__gt=through, posting_date__lte=last_end)
    rows = _attributed(_entry_groups(since, months[0], by_customer=False))
    if through:
        rows = chain(
            _compacted_groups(last_end),
            _reattributed(through, last_end, months[0]),
            rows,
        )
    return _rolled_up(rows, months)


def _entry_groups(entries, first_month: date, *, by_customer: bool):
    """The sums of ``entries`` (those on invoices), grouped by the customer's
    collector and segment now, or by the customer: rows of (the collector and
    segment, or the customer id), (currency, posting month, due month, due on
    the month's last day), the movement and the credit sales.

    Voids of invoices and fees, negative sales, are read apart through
    ``ledger_reversal_date_idx`` with their originals (only from
    ``first_month``: earlier sales are not shown), so that the pass over every
    entry joins no second copy of the ledger."""
    by = ("customer_id",) if by_customer else _BY_COLLECTOR_AND_SEGMENT
    group = (*by, "currency", "month", "due_month", "due_on_end")
    entries = (
        entries.filter(invoice__isnull=False)
        .order_by()
        .annotate(
            month=TruncMonth("posting_date"),
            due_month=TruncMonth("invoice__due_date"),
            # Due on the last day of its month: current at that month end.
            due_on_end=IsMonthsLastDay("invoice__due_date"),
        )
        .values(*group)
    )
    sums = entries.annotate(
        movement=Sum("amount"),
        credit_sales=Sum("amount", filter=Q(kind__in=SALES_KINDS)),
    ).values_list(*group, "movement", "credit_sales")
    voids = (
        entries.filter(
            kind=LedgerEntry.Kind.REVERSAL,
            reverses__kind__in=SALES_KINDS,
            posting_date__gte=first_month,
        )
        .annotate(movement=Value(0, DecimalField()), credit_sales=Sum("amount"))
        .values_list(*group, "movement", "credit_sales")
    )
    width = len(by)
    for row in chain(sums, voids):
        currency, month, due_month, due_on_end, movement, sales = row[width:]
        key = (currency, _as_date(month), _as_date(due_month), bool(due_on_end))
        yield row[:width], key, exact(movement, currency), exact(sales or 0, currency)


_BY_COLLECTOR_AND_SEGMENT = ("customer__collector_id", "customer__segment")


def _attributed(groups) -> Iterator[GroupRow]:
    for (collector, segment), key, movement, sales in groups:
        yield (collector, segment or "", *key), movement, sales


# ``LedgerMonthTotal``'s columns in the order of a grouped row.
MONTH_TOTAL_COLUMNS = (
    "collector_id",
    "segment",
    "currency",
    "month",
    "due_month",
    "due_on_end",
    "movement",
    "credit_sales",
)


def _compacted_groups(last_end: date) -> Iterator[GroupRow]:
    rows = (
        LedgerMonthTotal.objects.filter(month__lte=last_end)
        .order_by()
        .values_list(*MONTH_TOTAL_COLUMNS)
    )
    # Exact decimals: quantized to the currency when the month sums are.
    for *key, movement, sales in rows.iterator(chunk_size=10_000):
        yield tuple(key), movement, sales


def compaction_groups(through: int) -> Iterator[GroupRow]:
    """The grouped rows of every entry up to ``through``, attributed to their
    customers' collector and segment now: what ``ledger_compact`` stores."""
    entries = LedgerEntry.objects.filter(pk__lte=through)
    return _attributed(_entry_groups(entries, date.min, by_customer=False))


def _reattributed(
    through: int, last_end: date, first_month: date
) -> Iterator[GroupRow]:
    """The compacted entries of each customer whose collector or segment has
    changed since the compaction: taken from the key they were counted under and
    added under the customer's key now."""
    now = {
        pk: (collector, segment)
        for pk, collector, segment in Customer.objects.values_list(
            "pk", "collector_id", "segment"
        )
    }
    counted_as = {
        customer: (collector, segment)
        for customer, collector, segment in LedgerAttribution.objects.values_list(
            "customer_id", "collector_id", "segment"
        )
        if now[customer] != (collector, segment)
    }
    if not counted_as:
        return
    entries = LedgerEntry.objects.filter(
        pk__lte=through, posting_date__lte=last_end, customer_id__in=list(counted_as)
    )
    for (customer,), key, movement, sales in _entry_groups(
        entries, first_month, by_customer=True
    ):
        yield (*counted_as[customer], *key), -movement, -sales
        yield (*now[customer], *key), movement, sales


def _rolled_up(
    rows: Iterable[GroupRow], months: list[date]
) -> dict[ScopeKey, dict[date, MonthSums]]:
    """The month sums of every scope with figures from the grouped rows: each
    row counts in its organization, collector and segment scopes. A scope whose
    figures are all zero is left out (its rows cancel out: a customer moved
    since the compaction leaves its old collector's that way)."""
    count = len(months)
    index_of = {month: index for index, month in enumerate(months)}
    scopes: dict[ScopeKey, _Running] = {}
    for key, movement, credit_sales in rows:
        collector, segment, currency, month, due_month, due_on_end = key
        index = index_of.get(month)
        counted = _current_months(
            posted=month,
            due_month=due_month,
            due_on_end=due_on_end,
            months=months,
            index_of=index_of,
        )
        for scope_key in _scope_keys(collector, segment, currency):
            running = scopes.get(scope_key)
            if running is None:
                running = scopes[scope_key] = _Running(count)
            if month < months[0]:  # before the first month: the opening balance
                running.opening += movement
            else:  # (the rows end with the last month)
                running.movements[index] += movement
                running.sales[index] += credit_sales
            if counted:  # current at each of these month ends
                running.current[counted.start] += movement
                running.current[counted.stop] -= movement
    result = {}
    for scope_key, running in scopes.items():
        currency = scope_key[2]
        balance = running.opening
        current = Decimal(0)
        sums = {}
        for index, month in enumerate(months):
            balance += running.movements[index]
            current += running.current[index]
            sums[month] = MonthSums(
                receivables=quantize(balance, currency),
                current_receivables=quantize(current, currency),
                credit_sales=quantize(running.sales[index], currency),
            )
        if any(
            f.receivables or f.current_receivables or f.credit_sales
            for f in sums.values()
        ):
            result[scope_key] = sums
    return result


class _Running:
    """A scope's sums while the rows are read: the balance before the first
    month, each month's movement and credit sales, and the current receivables
    as differences (a row current from month i to j adds at i, takes at j+1)."""

    __slots__ = ("current", "movements", "opening", "sales")

    def __init__(self, count: int):
        self.opening = Decimal(0)
        self.movements = [Decimal(0)] * count
        self.sales = [Decimal(0)] * count
        self.current = [Decimal(0)] * (count + 1)


def _current_months(
    *, posted: date, due_month: date, due_on_end: bool, months, index_of
) -> range:
    """Indexes of the month ends at which an entry posted in ``posted``'s month on
    an invoice due in ``due_month`` is current receivables: those on or after its
    posting and on or before its due date (the due month's own end only when the
    invoice is due on that last day)."""
    first = index_of.get(posted, 0 if posted < months[0] else len(months))
    if due_month > months[-1]:
        last = len(months) - 1
    elif due_month < months[0]:
        return range(0)
    else:
        last = index_of[due_month] - (0 if due_on_end else 1)
    return range(first, last + 1)


def _scope_keys(collector: int | None, segment: str, currency: str) -> list[ScopeKey]:
    return [
        (SCOPES.ORGANIZATION, "", currency),
        (SCOPES.COLLECTOR, str(collector) if collector else "", currency),
        (SCOPES.SEGMENT, segment, currency),
    ]


def _as_date(value) -> date:
    return value.date() if hasattr(value, "date") else value


def _months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


# --- the metrics, from the sums -------------------------------------------------


def countback_dso(
    receivables: Decimal, sales_newest_first: list[tuple[Decimal, int]]
) -> Decimal | None:
    """Days of the newest credit sales it takes to account for ``receivables``.

    ``sales_newest_first`` is (credit sales, days) of the month itself, then the
    month before, and so on. None when the receivables outlast the history.
    """
    if receivables <= 0:
        return Decimal(0)
    remaining, days = receivables, Decimal(0)
    for sales, month_days in sales_newest_first:
        if sales > 0 and remaining <= sales:
            return days + remaining / sales * month_days
        remaining -= max(sales, Decimal(0))
        days += month_days
    return None


def simple_dso(receivables: Decimal, sales: Decimal, days: int) -> Decimal | None:
    return receivables / sales * days if sales > 0 else None


def collection_effectiveness(
    *, opening: Decimal, sales: Decimal, closing: Decimal, closing_current: Decimal
) -> Decimal | None:
    collectible = opening + sales - closing_current
    if collectible <= 0:
        return None
    return (opening + sales - closing) / collectible * 100


def ar_turnover(
    *, opening: Decimal, closing: Decimal, sales: Decimal, days: int
) -> Decimal | None:
    average = (opening + closing) / 2
    if average <= 0:
        return None
    return sales * 365 / days / average


def series_from_sums(
    *,
    scope: str,
    key: str,
    currency: str,
    sums: dict[date, MonthSums],
    months: list[date],
    converted: bool = False,
) -> MetricSeries:
    """The metrics of ``months`` from month sums reaching ``LOOKBACK_MONTHS``
    further back (for the countback and the first month's opening balance); a
    month missing from ``sums`` had no activity."""
    history_start = add_months(months[0], -LOOKBACK_MONTHS)
    empty = MonthSums()
    series = MetricSeries(scope=scope, key=key, currency=currency, converted=converted)
    for month in months:
        figures = sums.get(month, empty)
        days = month_end(month).day
        before = _months_ending(
            add_months(month, -1), _months_between(history_start, month) - 1
        )
        opening = sums.get(before[-1], empty).receivables
        ar, current, sales = (
            figures.receivables,
            figures.current_receivables,
            figures.credit_sales,
        )
        newest_first = [
            (sums.get(m, empty).credit_sales, month_end(m).day) for m in before[::-1]
        ]
        simple = simple_dso(ar, sales, days)
        best = simple_dso(current, sales, days)
        no_activity = not ar and not sales and not opening
        series.months.append(
            MonthMetrics(
                month=month,
                days=days,
                currency=currency,
                opening_receivables=opening,
                receivables=ar,
                current_receivables=current,
                credit_sales=sales,
                dso_countback=None
                if no_activity
                else _days(countback_dso(ar, [(sales, days), *newest_first])),
                dso_simple=_days(simple),
                best_possible_dso=_days(best),
                average_days_delinquent=_days(simple - best)
                if simple is not None
                else None,
                cei=_days(
                    collection_effectiveness(
                        opening=opening,
                        sales=sales,
                        closing=ar,
                        closing_current=current,
                    )
                ),
                turnover=_days(
                    ar_turnover(opening=opening, closing=ar, sales=sales, days=days)
                ),
                percent_current=_days(current / ar * 100) if ar > 0 else None,
            )
        )
    return series


def _days(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_DAYS)


def converted_sums(
    per_currency: dict[str, dict[date, MonthSums]], *, base: str, fx: FxRates
) -> dict[date, MonthSums]:
    """Month sums of several currencies in ``base``, each month at the rate of its
    last day. Zero amounts need no rate (months before a currency was used)."""
    result: dict[date, MonthSums] = defaultdict(MonthSums)
    for currency, sums in per_currency.items():
        for month, figures in sums.items():
            target = result[month]
            for name in ("receivables", "current_receivables", "credit_sales"):
                amount = getattr(figures, name)
                if amount:
                    amount = fx.convert(amount, currency, month_end(month))
                setattr(target, name, getattr(target, name) + quantize(amount, base))
    return dict(result)


def metric_series(
    *,
    sums: dict[ScopeKey, dict[date, MonthSums]],
    months: list[date],
    scope: str = SCOPES.ORGANIZATION,
    key: str = "",
    in_base: bool = True,
) -> list[MetricSeries]:
    """The series of one scope: one per currency, or one in the base currency."""
    per_currency = {
        currency: month_sums
        for (s, k, currency), month_sums in sums.items()
        if s == scope and k == key
    }
    if in_base:
        base = current_organization().base_currency
        converted = converted_sums(per_currency, base=base, fx=FxRates(base))
        return [
            series_from_sums(
                scope=scope,
                key=key,
                currency=base,
                sums=converted,
                months=months,
                converted=len(per_currency) > 1 or base not in per_currency,
            )
        ]
    return [
        series_from_sums(
            scope=scope, key=key, currency=currency, sums=month_sums, months=months
        )
        for currency, month_sums in sorted(per_currency.items())
    ]


def scope_keys(sums: dict[ScopeKey, dict], scope: str) -> list[str]:
    return sorted({k for s, k, _ in sums if s == scope})
