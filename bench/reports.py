"""Reports at scale, each beside hand-written SQL for the same figures, same run.

``bench_reports(organization, report)`` measures, on PostgreSQL:

a. aging today: totals per currency and bucket plus the first page of customers
   (largest first), beside one raw SQL for the same figures;
b. aging as of a date a year back, from the ledger, beside the raw SQL over the
   ledger (without the reports' pruning of invoices settled before that date);
c. the 24-month metrics series summed from the ledger (every scope: the
   organization, each collector, each segment) — the month totals of the
   compacted ledger plus the entries posted since, after compacting as the
   nightly refresh does (timed when it runs) — beside raw SQL for the
   organization's series only; the same series grouping every entry now; and
   the same series read from the stored snapshot;
d. a statement of account (the customer with the most ledger entries, the last
   three months) beside raw SQL;
e. the dashboard page, GET ``/`` signed in, with the snapshot fresh,
   and the two panels it loads after showing (cash forecast, collections today);
f. the aging export's peak memory (tracemalloc) for a quarter of the open
   invoices and for all of them: flat means the chunked writer works; its time
   is measured in a run of its own, without tracemalloc.

Figures are checked against their baseline (the same totals), so a fast wrong
answer fails the bench. ``report(name, seconds, baseline_seconds, note)`` is the
bench runner's callback; ``baseline_seconds`` is None where there is none.

Goals: aging today within 1.5x the raw SQL and under 1 s; as-of aging under 5 s;
the dashboard page under 500 ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count
from django.test import Client

from invoicing.models import LedgerEntry
from o2c.models import Membership, Organization
from o2c.money import quantize
from o2c.tenancy import tenant_context
from orders.models import Customer
from reports import exports
from reports.models import LedgerCompaction, LedgerMonthTotal
from reports.selectors.aging import aging_report, make_buckets
from reports.selectors.common import add_months, month_end
from reports.selectors.history import statement
from reports.selectors.metrics import (
    last_closed_month,
    ledger_month_sums,
    metric_series,
    month_window,
)
from reports.selectors.snapshot import month_sums
from reports.services import export_write, ledger_compact, metrics_refresh

Report = Callable[[str, float, float | None, str], None]
BOUNDARIES = [30, 60, 90]


def bench_reports(organization: Organization, report: Report, *, samples: int = 5):
    with tenant_context(organization):
        today = organization.today()
        _aging_today(organization, today, report, samples)
        _aging_as_of(organization, today - timedelta(days=365), report, samples)
        _metrics(organization, report, max(1, samples // 2))
        _statement(organization, today, report, samples)
        _dashboard(organization, report, samples)
        _export_memory(organization, report)


def _timed(func, samples: int) -> tuple[float, object]:
    """Median seconds over ``samples`` runs after one warm-up, and the result."""
    result = func()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _fetch(sql: str, params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _bucket_sql(column: str, as_of: date, amount: str) -> tuple[str, list]:
    parts, params = [], []
    for bucket in make_buckets(BOUNDARIES):
        earliest, latest = bucket.due_dates(as_of)
        condition = " AND ".join(
            part
            for part, value in (
                (f"{column} >= %s", earliest),
                (f"{column} <= %s", latest),
            )
            if value is not None
        )
        parts.append(f"SUM({amount}) FILTER (WHERE {condition})")
        params += [value for value in (earliest, latest) if value is not None]
    return ", ".join(parts), params


def _check_totals(name: str, got, expected: dict) -> None:
    found = {line.currency: [*line.buckets, line.unapplied] for line in got.totals}
    if found != expected:
        raise AssertionError(f"{name}: reports {found} != raw SQL {expected}")


def _raw_totals(rows_open, rows_cash, width: int) -> dict:
    totals: dict[str, list[Decimal]] = {}
    for currency, *buckets in rows_open:
        totals[currency] = [b or Decimal(0) for b in buckets] + [Decimal(0)]
    for currency, unapplied in rows_cash:
        line = totals.setdefault(currency, [Decimal(0)] * (width + 1))
        line[-1] = unapplied
    return {
        currency: [quantize(amount, currency) for amount in amounts]
        for currency, amounts in totals.items()
    }


# --- a. aging today -------------------------------------------------------------


def _aging_today(organization, today, report, samples) -> None:
    buckets, bucket_params = _bucket_sql("due_date", today, "open_amount")
    org = organization.pk
    open_sql = (
        f"SELECT currency, {buckets} FROM invoicing_invoice WHERE organization_id = %s"
        " AND status IN ('open', 'partially_paid') GROUP BY currency"
    )
    cash_sql = (
        "SELECT currency, SUM(unapplied_amount) FROM reconciliation_payment "
        "WHERE organization_id = %s AND unapplied_amount > 0 GROUP BY currency"
    )
    page_sql = (
        f"WITH o AS (SELECT customer_id, currency, {buckets}, SUM(open_amount) AS t "
        "FROM invoicing_invoice WHERE organization_id = %s AND status IN "
        "('open', 'partially_paid') GROUP BY 1, 2), c AS (SELECT customer_id, "
        "currency, SUM(unapplied_amount) AS u FROM reconciliation_payment WHERE "
        "organization_id = %s AND unapplied_amount > 0 GROUP BY 1, 2) "
        "SELECT * FROM o FULL JOIN c USING (customer_id, currency) "
        "ORDER BY currency, COALESCE(t, 0) DESC, customer_id LIMIT 50"
    )

    def raw():
        return (
            _fetch(open_sql, [*bucket_params, org]),
            _fetch(cash_sql, [org]),
            _fetch(page_sql, [*bucket_params, org, org]),
        )

    seconds, result = _timed(
        lambda: aging_report(boundaries=BOUNDARIES, page_size=50), samples
    )
    baseline, (rows_open, rows_cash, _) = _timed(raw, samples)
    _check_totals("aging today", result, _raw_totals(rows_open, rows_cash, 5))
    report(
        "aging today (totals + first 50 customers)",
        seconds,
        baseline,
        f"{result.line_count:,} customers with open items; goal <200 ms",
    )


# --- b. aging as of a past date ----------------------------------------------------


def _aging_as_of(organization, as_of, report, samples) -> None:
    buckets, bucket_params = _bucket_sql("i.due_date", as_of, "e.amount")
    org = organization.pk
    open_sql = (
        f"SELECT e.currency, {buckets} FROM invoicing_ledgerentry e JOIN "
        "invoicing_invoice i ON i.id = e.invoice_id WHERE e.organization_id = %s "
        "AND e.posting_date <= %s GROUP BY e.currency"
    )
    cash_sql = (
        "SELECT currency, -SUM(amount) FROM invoicing_ledgerentry WHERE "
        "organization_id = %s AND invoice_id IS NULL AND posting_date <= %s "
        "GROUP BY currency"
    )

    def raw():
        return (
            _fetch(open_sql, [*bucket_params, org, as_of]),
            _fetch(cash_sql, [org, as_of]),
        )

    seconds, result = _timed(
        lambda: aging_report(as_of=as_of, boundaries=BOUNDARIES, page_size=50),
        samples,
    )
    baseline, (rows_open, rows_cash) = _timed(raw, samples)
    expected = {
        currency: amounts
        for currency, amounts in _raw_totals(rows_open, rows_cash, 5).items()
        if any(amounts)
    }
    _check_totals("aging as of", result, expected)
    report(
        f"aging as of {as_of.isoformat()} (from the ledger)",
        seconds,
        baseline,
        "raw SQL gives totals only, over every invoice; goal <1.5 s",
    )


# --- c. metrics --------------------------------------------------------------------

METRICS_SQL = """
WITH ends AS (
    SELECT (m + interval '1 month - 1 day')::date AS e
    FROM generate_series(%(first)s::date, %(last)s::date, interval '1 month') AS m
), moves AS (
    SELECT date_trunc('month', e.posting_date)::date AS m, e.currency,
           SUM(e.amount) AS movement,
           SUM(e.amount) FILTER (WHERE e.kind IN ('invoice', 'fee')
               OR (e.kind = 'reversal' AND r.kind IN ('invoice', 'fee'))) AS sales
    FROM invoicing_ledgerentry e
    LEFT JOIN invoicing_ledgerentry r ON r.id = e.reverses_id
    WHERE e.organization_id = %(org)s AND e.invoice_id IS NOT NULL
      AND e.posting_date <= %(last_end)s
    GROUP BY 1, 2
), cumulative AS (
    SELECT m, currency, sales,
           SUM(movement) OVER (PARTITION BY currency ORDER BY m) AS receivables
    FROM moves
), current AS (
    SELECT ends.e, l.currency, SUM(l.amount) AS current
    FROM ends JOIN invoicing_ledgerentry l ON l.posting_date <= ends.e
    JOIN invoicing_invoice i ON i.id = l.invoice_id AND i.due_date >= ends.e
    WHERE l.organization_id = %(org)s AND i.due_date >= %(first_end)s
    GROUP BY 1, 2
)
SELECT c.m, c.currency, c.receivables, c.sales, cur.current
FROM cumulative c
LEFT JOIN current cur ON cur.e = (c.m + interval '1 month - 1 day')::date
     AND cur.currency = c.currency
WHERE c.m >= %(first)s
ORDER BY 2, 1
"""


def _metrics(organization, report, samples) -> None:
    last = last_closed_month()
    first = add_months(last, -23)
    lookback_first = add_months(first, -12)

    # As the nightly refresh does: the ledger folded into month totals when
    # enough has been posted since it last was (always, the first time).
    started = time.perf_counter()
    before = LedgerCompaction.objects.first()
    compaction = ledger_compact()
    if compaction is None:
        raise AssertionError("the ledger could not be compacted")
    ran = before is None or compaction.through_entry != before.through_entry
    report(
        f"ledger compaction, entries up to #{compaction.through_entry:,}",
        time.perf_counter() - started if ran else compaction.seconds,
        None,
        f"{LedgerMonthTotal.objects.count():,} month totals; nightly, in a worker"
        + ("" if ran else f"; when it ran, {compaction.computed_at:%Y-%m-%d %H:%M}"),
    )
    tail = LedgerEntry.objects.filter(pk__gt=compaction.through_entry).count()

    def live():
        sums, months, _ = month_sums(months=24, stored=False)
        return metric_series(sums=sums, months=months, in_base=False)

    def every_entry():
        sums = ledger_month_sums(
            first_month=lookback_first, last_month=last, compacted=False
        )
        return metric_series(sums=sums, months=month_window(last, 24), in_base=False)

    def raw():
        return _fetch(
            METRICS_SQL,
            {
                "org": organization.pk,
                "first": lookback_first,
                "last": last,
                "last_end": month_end(last),
                "first_end": month_end(lookback_first),
            },
        )

    seconds, series = _timed(live, samples)
    baseline, rows = _timed(raw, samples)
    expected = {(m, c): (ar, sales or 0, cur or 0) for m, c, ar, sales, cur in rows}
    for one in series:
        for month in one.months:
            key = (month.month, one.currency)
            if key not in expected:
                continue
            ar, sales, current = expected[key]
            got = (month.receivables, month.credit_sales, month.current_receivables)
            if got != (ar, sales, current):
                raise AssertionError(f"metrics {key}: {got} != raw SQL {expected[key]}")
    report(
        "metrics, 24 months from the ledger (all scopes)",
        seconds,
        baseline,
        f"compacted ledger + {tail:,} entries since; raw SQL: the organization's "
        "sums only; goal <3 s",
    )
    uncompacted, same = _timed(every_entry, 2)
    if [one.months for one in same] != [one.months for one in series]:
        raise AssertionError("metrics: the compacted ledger differs from the entries")
    report(
        "metrics, 24 months, every entry grouped now (no compaction)",
        uncompacted,
        baseline,
        "the same figures without the month totals",
    )
    metrics_refresh(force=True)

    def stored():
        sums, months, snapshot = month_sums(months=24)
        if snapshot is None:
            raise AssertionError("the snapshot was not used")
        return metric_series(sums=sums, months=months, in_base=True)

    stored_seconds, _ = _timed(stored, samples)
    report("metrics, 24 months from the snapshot", stored_seconds, baseline, "")


# --- d. statement ------------------------------------------------------------------

STATEMENT_SQL = """
SELECT
  (SELECT SUM(amount) FROM invoicing_ledgerentry WHERE organization_id = %(org)s
     AND customer_id = %(customer)s AND currency = %(currency)s
     AND posting_date < %(start)s) AS opening,
  (SELECT COUNT(*) FROM (
     SELECT e.id, SUM(e.amount) OVER (ORDER BY e.posting_date, e.id)
     FROM invoicing_ledgerentry e
     LEFT JOIN invoicing_ledgerentry r ON r.id = e.reverses_id
     WHERE e.organization_id = %(org)s AND e.customer_id = %(customer)s
       AND e.currency = %(currency)s AND e.posting_date BETWEEN %(start)s AND %(end)s
       AND COALESCE(r.kind, e.kind) <> 'allocation') lines) AS lines,
  (SELECT SUM(amount) FROM invoicing_ledgerentry WHERE organization_id = %(org)s
     AND customer_id = %(customer)s AND currency = %(currency)s
     AND posting_date <= %(end)s) AS closing
"""


def _statement(organization, today, report, samples) -> None:
    busiest = (
        LedgerEntry.objects.values("customer_id", "currency")
        .order_by()
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    customer = Customer.objects.get(pk=busiest["customer_id"])
    start, end = add_months(today, -2), today
    params = {
        "org": organization.pk,
        "customer": customer.pk,
        "currency": busiest["currency"],
        "start": start,
        "end": end,
    }
    seconds, result = _timed(
        lambda: statement(
            customer=customer, start=start, end=end, currency=busiest["currency"]
        ),
        samples,
    )
    baseline, rows = _timed(lambda: _fetch(STATEMENT_SQL, params), samples)
    opening, lines, closing = rows[0]
    if (result.opening_balance, len(result.lines), result.closing_balance) != (
        opening or 0,
        lines,
        closing or 0,
    ):
        raise AssertionError("statement differs from raw SQL")
    report(
        "statement of account (busiest customer, 3 months)",
        seconds,
        baseline,
        f"{lines} lines, with aging and open invoices at the end date",
    )


# --- e. dashboard ------------------------------------------------------------------


def _dashboard(organization, report, samples) -> None:
    metrics_refresh()
    membership = Membership.objects.filter(organization=organization).first()
    client = Client()
    client.force_login(membership.user)

    def get():
        response = client.get("/")
        if response.status_code != 200:
            raise AssertionError(f"/ answered {response.status_code}")
        return response

    seconds, _ = _timed(get, samples)
    report("dashboard page (GET /)", seconds, None, "goal <300 ms")
    for name, path in (
        ("cash forecast", "/dashboard/forecast/"),
        ("collections today", "/dashboard/collections/"),
    ):
        panel, _ = _timed(lambda path=path: client.get(path), samples)
        report(f"dashboard panel: {name} (loaded after the page)", panel, None, "")


# --- f. export memory --------------------------------------------------------------


def _export_memory(organization, report) -> None:
    def write(raw: dict) -> int:
        spec = exports.export_spec("aging_invoices", "csv", raw)
        with tempfile.TemporaryFile() as stream:
            return export_write(spec, stream)

    def peak(raw: dict) -> tuple[int, float]:
        tracemalloc.start()
        rows = write(raw)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return rows, top / 1e6

    small_rows, small_mb = peak({"bucket": "1"})
    all_rows, all_mb = peak({})
    # Timed apart: tracemalloc records every allocation and made the export
    # several times slower than a user's.
    seconds, _ = _timed(lambda: write({}), 1)
    report(
        "aging invoices export, CSV (all open invoices)",
        seconds,
        None,
        f"peak {all_mb:.1f} MB for {all_rows:,} rows; {small_mb:.1f} MB for "
        f"{small_rows:,} rows (tracemalloc, chunks of {exports.CHUNK_SIZE}); "
        "goal <4 s",
    )
