"""Aging of receivables by due date, for today or for any past date.

What is aged
    Each invoice's open amount falls in one bucket by its days past due on the
    as-of date: ``as_of - due_date``. "Current" is not yet past due (due on the
    as-of date or later); the other buckets come from the bucket set's boundaries
    ([30, 60, 90] gives 1-30, 31-60, 61-90 and 90+). Invoices on instalment terms
    are aged by the invoice's due date (its first instalment's), not instalment by
    instalment. Cash on account (payments received and not yet applied) is shown
    beside the buckets as "unapplied cash" and reduces the net balance; it is not
    in any bucket because it is not owed by a due date.

Today and the past
    Today's aging reads the open amounts kept on open invoices (indexed by
    organization, status and due date) and the payments' unapplied cash. A past
    date D sums the ledger: every entry on an invoice posted on or before D, for
    the invoices that were receivable on D (issued on or before D and not settled
    by D), and every on-account entry posted on or before D. Today's figures are
    therefore the ledger's as of today as long as nothing is posted with a future
    date (tests check they agree). When D is nearer today than the first posting
    on account, the cash on account on D is counted back instead: the receivables
    summary's unapplied cash (the sum of every on-account entry, kept by the
    ledger service) less the on-account entries posted after D, which are fewer.

Currencies
    Every total is per currency. With ``in_base`` the amounts are converted to the
    organization's base currency at the latest stored rate on or before the as-of
    date, per currency and bucket; a converted total is the sum of its converted
    buckets, so bucket columns always add up to the total shown.

The grouping, the buckets and the ordering all run in the database (one grouped
query over a UNION of open items and unapplied cash, ranked with window
functions); Python only puts labels on the page of rows it gets back.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.db.models import DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from invoicing.models import Invoice, LedgerEntry, ReceivablesSummary
from invoicing.services.summary import summary_refresh
from o2c.errors import DomainError
from o2c.money import quantize
from o2c.replica import report_database
from o2c.tenancy import current_organization
from orders.models import MONEY, Customer
from reconciliation.models import Payment
from reports.models import DEFAULT_BOUNDARIES, AgingBucketSet
from reports.selectors.common import FxQuote, FxRates, exact, fetch_all, table

GROUPINGS = {
    "customer": _("Customer"),
    "collector": _("Collector"),
    "segment": _("Segment"),
    "currency": _("Currency"),
}
SORTS = ("total", "overdue", "name")
OPEN_STATUSES = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)
MAX_BOUNDARIES = 10
# Smallest amount a currency can have is 0.001: a float sum (SQLite) this close
# to zero is zero.
_ZERO = "0.0005"


@dataclass(frozen=True)
class Bucket:
    """Days past due from ``min_days`` to ``max_days`` (inclusive, None = open)."""

    index: int
    label: str
    min_days: int | None  # None: not yet due ("Current")
    max_days: int | None

    @property
    def is_current(self) -> bool:
        return self.min_days is None

    def due_dates(self, as_of: date) -> tuple[date | None, date | None]:
        """The due dates (inclusive bounds, None = unbounded) in this bucket."""
        if self.is_current:
            return as_of, None
        earliest = as_of - timedelta(days=self.max_days) if self.max_days else None
        return earliest, as_of - timedelta(days=self.min_days)

    def due_date_q(self, as_of: date, prefix: str = "") -> Q:
        earliest, latest = self.due_dates(as_of)
        q = Q()
        if earliest is not None:
            q &= Q(**{f"{prefix}due_date__gte": earliest})
        if latest is not None:
            q &= Q(**{f"{prefix}due_date__lte": latest})
        return q


def make_buckets(boundaries: list[int]) -> list[Bucket]:
    """Current, then one bucket per boundary, then "over the last boundary"."""
    buckets = [Bucket(0, _("Current"), None, None)]
    low = 1
    for index, high in enumerate(boundaries, start=1):
        buckets.append(Bucket(index, f"{low}\N{EN DASH}{high}", low, high))
        low = high + 1
    last = boundaries[-1]
    buckets.append(Bucket(len(boundaries) + 1, f"{last}+", last + 1, None))
    return buckets


def parse_boundaries(value, *, field: str = "buckets") -> list[int]:
    """``"30,60,90"`` (or a list) as increasing whole days; an error otherwise."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
    else:
        parts = list(value or [])
    try:
        boundaries = [int(part) for part in parts]
    except (TypeError, ValueError):
        raise DomainError(
            "invalid_buckets",
            gettext("Buckets are whole numbers of days past due, e.g. 30,60,90."),
            field=field,
        ) from None
    if not boundaries or len(boundaries) > MAX_BOUNDARIES:
        raise DomainError(
            "invalid_buckets",
            gettext("Give between 1 and %(most)s bucket limits, e.g. 30,60,90.")
            % {"most": MAX_BOUNDARIES},
            field=field,
        )
    if boundaries[0] < 1 or any(b >= a for b, a in itertools.pairwise(boundaries)):
        raise DomainError(
            "invalid_buckets",
            gettext(
                "Bucket limits are increasing days past due from 1, e.g. 30,60,90."
            ),
            field=field,
        )
    if boundaries[-1] > 3650:
        raise DomainError(
            "invalid_buckets", gettext("Bucket limits stop at 3650 days."), field=field
        )
    return boundaries


def default_boundaries() -> list[int]:
    """The organization's default bucket set, else Current/1-30/31-60/61-90/90+."""
    configured = (
        AgingBucketSet.objects.filter(is_default=True)
        .values_list("boundaries", flat=True)
        .first()
    )
    return list(configured or DEFAULT_BOUNDARIES)


@dataclass(frozen=True)
class AgingFilters:
    customer_id: int | None = None
    collector_id: int | None = None
    unassigned_only: bool = False  # customers without a collector
    segment: str | None = None
    currency: str = ""


@dataclass
class AgingLine:
    """One row (or total) of the aging: amounts per bucket in ``currency``."""

    key: object
    label: str
    currency: str
    buckets: list[Decimal]
    unapplied: Decimal
    number: str = ""

    @property
    def total(self) -> Decimal:
        """Open invoice amounts: the sum of the buckets."""
        return sum(self.buckets, quantize(0, self.currency))

    @property
    def overdue(self) -> Decimal:
        return self.total - self.buckets[0]

    @property
    def net(self) -> Decimal:
        """What the customer owes net of the cash on account."""
        return self.total - self.unapplied


@dataclass
class AgingReport:
    as_of: date
    is_today: bool
    buckets: list[Bucket]
    group_by: str
    base_currency: str | None  # set when converted to the base currency
    totals: list[AgingLine]
    lines: list[AgingLine]
    line_count: int
    page: int
    page_size: int
    rates: list[FxQuote] = field(default_factory=list)

    @property
    def page_count(self) -> int:
        return max(1, -(-self.line_count // self.page_size))


def resolve_as_of(as_of: date | None) -> tuple[date, bool]:
    """The as-of date (default today) and whether it is today."""
    today = current_organization().today()
    if as_of is None:
        return today, True
    if as_of > today:
        raise DomainError(
            "invalid_date",
            gettext("The as-of date cannot be after today (%(today)s).")
            % {"today": today.isoformat()},
            field="as_of",
        )
    return as_of, as_of == today


def aging_report(
    *,
    as_of: date | None = None,
    boundaries: list[int] | None = None,
    group_by: str = "customer",
    filters: AgingFilters = AgingFilters(),
    in_base: bool = False,
    sort: str = "total",
    page: int = 1,
    page_size: int = 50,
    use_ledger: bool = False,
) -> AgingReport:
    """The aging as of ``as_of`` (default today), totals plus one page of rows.

    ``use_ledger`` ages today from the ledger too (what a past date does); tests
    use it to check that today's fast path agrees with the ledger.
    """
    if group_by not in GROUPINGS:
        raise DomainError(
            "invalid_choice",
            f"Group by one of {', '.join(GROUPINGS)}.",
            field="group_by",
        )
    if sort not in SORTS:
        raise DomainError(
            "invalid_choice", f"Sort by one of {', '.join(SORTS)}.", field="sort"
        )
    as_of, is_today = resolve_as_of(as_of)
    buckets = make_buckets(boundaries or default_boundaries())
    query = _AgingQuery(
        as_of=as_of,
        from_open_amounts=is_today and not use_ledger,
        buckets=buckets,
        filters=filters,
    )
    base = current_organization().base_currency if in_base else None
    fx = FxRates(base) if base else None
    page = max(1, page)
    sort = sort if (sort != "name" or group_by == "customer") else "total"
    run = query.run_from_summary if query.uses_summary(group_by, sort) else query.run
    total_rows, rows, line_count = run(
        group_by=group_by,
        rank_rates=fx.known_quotes(as_of) if fx else {},
        sort=sort,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    currency_totals = _label(total_rows, "currency")
    rates: dict[str, FxQuote] = {}
    totals = currency_totals
    if fx:
        # Every currency in the figures needs its rate: a missing one is an error
        # naming it, raised here.
        rates = {line.currency: fx.quote(line.currency, as_of) for line in totals}
        totals = (
            [_converted(currency_totals, rates, base, key=None, label=_("Total"))]
            if currency_totals
            else []
        )
    lines = _label(rows, group_by)
    if base:
        lines = _combine_converted(lines, rates, base)
    return AgingReport(
        as_of=as_of,
        is_today=is_today,
        buckets=buckets,
        group_by=group_by,
        base_currency=base,
        totals=totals,
        lines=lines,
        line_count=line_count,
        page=page,
        page_size=page_size,
        rates=[quote for quote in rates.values() if quote.rate_date is not None],
    )


def aging_lines_iter(
    *,
    as_of: date,
    boundaries: list[int],
    group_by: str,
    filters: AgingFilters = AgingFilters(),
    chunk_size: int = 2000,
):
    """Every row of the aging in chunks of lines (for exports), per currency."""
    as_of, is_today = resolve_as_of(as_of)
    query = _AgingQuery(
        as_of=as_of,
        from_open_amounts=is_today,
        buckets=make_buckets(boundaries),
        filters=filters,
    )
    for rows in query.iter_rows(group_by=group_by, chunk_size=chunk_size):
        yield _label(rows, group_by)


def _converted(lines, rates, base, *, key, label) -> AgingLine:
    """``lines`` in several currencies as one line in ``base``."""
    width = len(lines[0].buckets) if lines else 0
    buckets = [quantize(0, base)] * width
    unapplied = quantize(0, base)
    for line in lines:
        quote = rates[line.currency]
        buckets = [
            total + quote.convert(amount, base)
            for total, amount in zip(buckets, line.buckets, strict=True)
        ]
        unapplied += quote.convert(line.unapplied, base)
    return AgingLine(
        key=key, label=label, currency=base, buckets=buckets, unapplied=unapplied
    )


def _combine_converted(lines: list[AgingLine], rates, base) -> list[AgingLine]:
    """Rows of one group in several currencies become one row in ``base``
    (the query returns a group's currencies next to each other)."""
    combined: list[AgingLine] = []
    group: list[AgingLine] = []
    for line in [*lines, None]:
        if group and (line is None or line.key != group[0].key):
            first = group[0]
            merged = _converted(group, rates, base, key=first.key, label=first.label)
            merged.number = first.number
            combined.append(merged)
            group = []
        if line is not None:
            group.append(line)
    return combined


def _label(rows: list[tuple], group_by: str) -> list[AgingLine]:
    """Lines from ``(key, currency, buckets, unapplied)`` rows with their names."""
    keys = {row[0] for row in rows if row[0] is not None}
    names: dict = {}
    numbers: dict = {}
    if group_by == "customer" and keys:
        for customer in Customer.objects.filter(pk__in=keys).values(
            "pk", "name", "number"
        ):
            names[customer["pk"]] = customer["name"]
            numbers[customer["pk"]] = customer["number"]
    elif group_by == "collector" and keys:
        for user in get_user_model().objects.filter(pk__in=keys):
            names[user.pk] = user.get_full_name() or user.get_username()
    lines = []
    for key, currency, buckets, unapplied in rows:
        if group_by == "collector":
            label = names.get(key, _("No collector")) if key else _("No collector")
        elif group_by == "segment":
            label = key or _("No segment")
        elif group_by == "currency":
            label = currency
        else:
            label = names.get(key, f"#{key}")
        lines.append(
            AgingLine(
                key=key,
                label=label,
                currency=currency,
                buckets=buckets,
                unapplied=unapplied,
                number=numbers.get(key, ""),
            )
        )
    return lines


class _AgingQuery:
    """The SQL of one aging: open items and unapplied cash, bucketed and grouped."""

    KEYS = {
        "customer": "customer_id",
        "collector": "collector_id",
        "segment": "segment",
        "currency": "currency",
    }

    def __init__(self, *, as_of, from_open_amounts, buckets, filters: AgingFilters):
        self.as_of = as_of
        self.from_open_amounts = from_open_amounts
        self.buckets = buckets
        self.filters = filters
        self.organization_id = current_organization().pk
        # Customers are joined only for their collector or segment.
        self.filters_need_customers = (
            filters.collector_id is not None
            or filters.unassigned_only
            or filters.segment is not None
        )

    def _customer_join(self, alias: str, key: str) -> tuple[str, str]:
        """The customer columns of an item and the join that brings them."""
        if key not in ("collector_id", "segment") and not self.filters_need_customers:
            return (
                f"{alias}.customer_id AS customer_id, NULL AS collector_id, "
                "NULL AS segment",
                "",
            )
        return (
            "c.id AS customer_id, c.collector_id AS collector_id, c.segment AS segment",
            f" JOIN {table(Customer)} c ON c.id = {alias}.customer_id",
        )

    # --- the two kinds of items ------------------------------------------------
    def _open_items(self, key: str) -> tuple[str, list]:
        """``customer_id, currency, due_date, amount`` (+ customer columns) of what
        was open on the as-of date."""
        invoices = table(Invoice)
        customer, join = self._customer_join("i", key)
        columns = f"{customer}, i.currency AS currency, i.due_date AS due_date"
        if self.from_open_amounts:
            sql = (
                f"SELECT {columns}, i.open_amount AS amount FROM {invoices} i{join} "
                "WHERE i.organization_id = %s AND i.status IN (%s, %s)"
            )
            params = [self.organization_id, *OPEN_STATUSES]
        else:
            # Only invoices receivable on the date (issued by then, not settled by
            # then: ``invoice_receivable_on_idx``), each summing its own entries
            # through ``ledger_invoice_date_idx`` (organization, invoice, posting
            # date): a few lookups per open invoice instead of a pass over the
            # whole ledger. Materialized, so that the planner picks the invoices
            # by those dates rather than walking every invoice in customer order
            # for the grouping above.
            where, where_params = self._filter_sql("i")
            posted = (
                f"(SELECT SUM(e.amount) FROM {table(LedgerEntry)} e "
                "WHERE e.organization_id = i.organization_id "
                "AND e.invoice_id = i.id AND e.posting_date <= %s)"
            )
            materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
            sql = (
                f"WITH receivable AS {materialized}(SELECT {columns}, "
                f"{posted} AS amount FROM {invoices} i{join} "
                "WHERE i.organization_id = %s AND i.invoice_date <= %s "
                f"AND (i.settled_date IS NULL OR i.settled_date > %s){where}) "
                "SELECT * FROM receivable"
            )
            params = [self.as_of, self.organization_id, self.as_of, self.as_of]
            return sql, params + where_params
        where, where_params = self._filter_sql("i")
        return sql + where, params + where_params

    def _unapplied_items(self, key: str) -> tuple[str, list]:
        """``customer_id, currency, amount`` of cash on account on the as-of date
        (positive: cash received and not applied)."""
        if self.from_open_amounts:
            customer, join = self._customer_join("p", key)
            sql = (
                f"SELECT {customer}, p.currency AS currency, "
                f"p.unapplied_amount AS amount FROM {table(Payment)} p{join} "
                "WHERE p.organization_id = %s AND p.unapplied_amount > 0"
            )
            params = [self.organization_id]
            where, where_params = self._filter_sql("p")
        elif self._cash_from_later_entries():
            # The cash on account now (the receivables summary, kept with each
            # posting) less what was posted on account after the as-of date: for
            # a recent date far fewer entries than everything before it.
            customer, join = self._customer_join("s", key)
            summary_where, summary_params = self._filter_sql("s")
            later_customer, later_join = self._customer_join("e", key)
            later_where, later_params = self._filter_sql("e")
            sql = (
                f"SELECT {customer}, s.currency AS currency, "
                f"s.unapplied_cash AS amount FROM {table(ReceivablesSummary)} s"
                f"{join} WHERE s.organization_id = %s{summary_where} "
                f"UNION ALL SELECT {later_customer}, e.currency AS currency, "
                f"e.amount AS amount FROM {table(LedgerEntry)} e{later_join} "
                "WHERE e.organization_id = %s AND e.invoice_id IS NULL "
                f"AND e.posting_date > %s{later_where}"
            )
            return sql, [
                self.organization_id,
                *summary_params,
                self.organization_id,
                self.as_of,
                *later_params,
            ]
        else:
            customer, join = self._customer_join("e", key)
            sql = (
                f"SELECT {customer}, e.currency AS currency, -e.amount AS amount "
                f"FROM {table(LedgerEntry)} e{join} "
                "WHERE e.organization_id = %s AND e.invoice_id IS NULL "
                "AND e.posting_date <= %s"
            )
            params = [self.organization_id, self.as_of]
            where, where_params = self._filter_sql("e")
        return sql + where, params + where_params

    def _cash_from_later_entries(self) -> bool:
        """Whether the as-of date is nearer today than the first posting on
        account (one entry of ``ledger_on_account_date_idx``), so that fewer
        entries were posted on account after it than before."""
        first = (
            LedgerEntry.objects.filter(invoice__isnull=True)
            .order_by("posting_date")
            .values_list("posting_date", flat=True)
            .first()
        )
        today = current_organization().today()
        return first is not None and (today - self.as_of) < (self.as_of - first)

    def _filter_sql(self, alias: str) -> tuple[str, list]:
        f = self.filters
        sql, params = [], []
        if f.customer_id is not None:
            sql.append(f"{alias}.customer_id = %s")
            params.append(f.customer_id)
        if f.unassigned_only:
            sql.append("c.collector_id IS NULL")
        elif f.collector_id is not None:
            sql.append("c.collector_id = %s")
            params.append(f.collector_id)
        if f.segment is not None:
            sql.append("c.segment = %s")
            params.append(f.segment)
        if f.currency:
            sql.append(f"{alias}.currency = %s")
            params.append(f.currency)
        return "".join(f" AND {part}" for part in sql), params

    # --- bucketed and grouped --------------------------------------------------
    def _union(self, key: str) -> tuple[str, list]:
        """Per (key, currency): the buckets, the total and the unapplied cash."""
        cases, sum_params = self._bucket_cases("x.due_date", "x.amount")
        sums = [
            f"{case} AS b{bucket.index}"
            for case, bucket in zip(cases, self.buckets, strict=True)
        ]
        zeros = ", ".join(f"0 AS b{bucket.index}" for bucket in self.buckets)
        open_sql, open_params = self._open_items(key)
        cash_sql, cash_params = self._unapplied_items(key)
        sql = (
            f"SELECT x.{key} AS k, x.currency AS currency, {', '.join(sums)}, "
            f"0 AS unapplied FROM ({open_sql}) x GROUP BY x.{key}, x.currency "
            f"UNION ALL SELECT u.{key} AS k, u.currency AS currency, {zeros}, "
            f"SUM(u.amount) AS unapplied FROM ({cash_sql}) u "
            f"GROUP BY u.{key}, u.currency"
        )
        return sql, [*sum_params, *open_params, *cash_params]

    def _summed(self, key: str) -> tuple[str, list, str]:
        """``k, currency, b0…bn, unapplied`` per (key, currency), empty ones left
        out; also returns the SQL of the row's open total."""
        union, params = self._union(key)
        columns = ", ".join(f"SUM(a.b{b.index}) AS b{b.index}" for b in self.buckets)
        total = " + ".join(f"SUM(a.b{b.index})" for b in self.buckets)
        sql = (
            f"SELECT a.k AS k, a.currency AS currency, {columns}, "
            f"SUM(a.unapplied) AS unapplied FROM ({union}) a "
            f"GROUP BY a.k, a.currency "
            f"HAVING ABS({total}) > {_ZERO} OR ABS(SUM(a.unapplied)) > {_ZERO}"
        )
        return sql, params, total

    def _row(self, row) -> tuple:
        currency = row[1]
        width = len(self.buckets)
        buckets = [exact(value, currency) for value in row[2 : 2 + width]]
        return row[0], currency, buckets, exact(row[2 + width], currency)

    def uses_summary(self, group_by: str, sort: str) -> bool:
        """Whether today's page of customers can be ranked from the receivables
        summary rather than from every open item."""
        return (
            self.from_open_amounts
            and group_by == "customer"
            and sort in ("total", "overdue")
            and self.filters == AgingFilters()
        )

    def run_from_summary(self, *, group_by, rank_rates, sort, offset, limit):
        """What :meth:`run` returns, in four short statements instead of one pass
        over every open item and unapplied payment with window functions: the
        summary's expired overdue figures are refreshed; the page of customers
        (or of customer and currency) is ranked from the summary (one row per
        customer and currency, its open and overdue amounts kept by the ledger
        service); the page's buckets come from those customers' open invoices;
        and the totals per currency: the open amount and the unapplied cash
        summed from the summary, the overdue buckets from the overdue invoices
        alone (``invoice_overdue_idx``, index-only), and "Current" as what
        is open and not overdue.
        """
        summary_refresh(today=self.as_of)
        totals, ranked_rows = self._totals_from_summary()
        keys, count = self._ranked_from_summary(
            rank_rates, sort, offset, limit, ranked_rows
        )
        return totals, self._page_rows(keys, rank_rates), count

    _HAS_FIGURES = "(s.invoices_open <> 0 OR s.unapplied_cash <> 0)"

    def _ranked_from_summary(self, rank_rates, sort, offset, limit, ranked_rows):
        """The page's (customer, currency) keys in rank order, and how many
        groups there are; ``ranked_rows`` counts the summary rows with figures
        per currency.

        Without rates the page is read in the order of the partial index
        ``receivables_open_rank_idx`` or ``receivables_overdue_rank_idx`` and
        stops after it. With rates a customer's currencies are added up, but
        only for the customers that can reach the page: the first ``offset +
        limit`` of the most common currency in index order, and every customer
        with figures in another currency. One whose only row is in the common
        currency and not among those first is outranked by each of them (the
        amounts are never negative and rates are positive) and cannot."""
        amount = {"total": "s.invoices_open", "overdue": "s.overdue"}[sort]
        summary = table(ReceivablesSummary)
        where = f"s.organization_id = %s AND {self._HAS_FIGURES}"
        if not rank_rates:
            rows = fetch_all(
                f"SELECT s.customer_id, s.currency FROM {summary} s WHERE {where} "
                f"ORDER BY s.currency, {amount} DESC, s.customer_id "
                "LIMIT %s OFFSET %s",
                [self.organization_id, limit, offset],
            )
            return [(row[0], row[1]) for row in rows], sum(ranked_rows.values())
        if not ranked_rows:
            return [], 0
        common = max(
            ranked_rows, key=lambda currency: (ranked_rows[currency], currency)
        )
        rate_sql = "CASE s.currency" + " WHEN %s THEN %s" * len(rank_rates)
        rate_params = [v for q in rank_rates.values() for v in q.as_params()]
        org = self.organization_id
        candidates = [org, common, offset + limit, org, common]
        rows = fetch_all(
            f"SELECT s.customer_id, SUM(COUNT(*) - 1) OVER () FROM {summary} s "
            f"WHERE {where} AND s.customer_id IN ("
            f"SELECT f.customer_id FROM (SELECT s.customer_id FROM {summary} s "
            f"WHERE {where} AND s.currency = %s "
            f"ORDER BY {amount} DESC, s.customer_id LIMIT %s) f "
            f"UNION SELECT s.customer_id FROM {summary} s "
            f"WHERE {where} AND s.currency <> %s) "
            f"GROUP BY s.customer_id ORDER BY "
            f"SUM({amount} * {rate_sql} ELSE 1 END) DESC, s.customer_id "
            "LIMIT %s OFFSET %s",
            [org, *candidates, *rate_params, limit, offset],
        )
        if rows or not offset:
            # Rows beyond a customer's first, among the only customers that
            # can have several: every customer's currencies but one are in it.
            extra = rows[0][1] if rows else 0
            return [(row[0], None) for row in rows], sum(ranked_rows.values()) - extra
        count = fetch_all(
            f"SELECT COUNT(DISTINCT s.customer_id) FROM {summary} s WHERE {where}",
            [org],
        )[0][0]
        return [], count

    def _bucket_sums(self) -> tuple[str, list]:
        sums, params = self._bucket_cases("i.due_date", "i.open_amount")
        return ", ".join(sums), params

    def _bucket_cases(
        self, due_date: str, amount: str, *, buckets=None
    ) -> tuple[list[str], list]:
        """Per bucket (default all), the sum of ``amount`` whose ``due_date``
        falls in it."""
        sums, params = [], []
        for bucket in self.buckets if buckets is None else buckets:
            earliest, latest = bucket.due_dates(self.as_of)
            conditions = []
            if earliest is not None:
                conditions.append(f"{due_date} >= %s")
                params.append(earliest)
            if latest is not None:
                conditions.append(f"{due_date} <= %s")
                params.append(latest)
            sums.append(
                f"SUM(CASE WHEN {' AND '.join(conditions)} THEN {amount} ELSE 0 END)"
            )
        return sums, params

    def _page_rows(self, keys, rank_rates) -> list[tuple]:
        """The page's lines in rank order (a customer's currencies next to each
        other, by currency, when ranked at rates)."""
        if not keys:
            return []
        customers = sorted({customer for customer, _ in keys})
        marks = ", ".join(["%s"] * len(customers))
        sums, params = self._bucket_sums()
        buckets = {
            (row[0], row[1]): row[2:]
            for row in fetch_all(
                f"SELECT i.customer_id, i.currency, {sums} FROM {table(Invoice)} i "
                "WHERE i.organization_id = %s AND i.open_amount > 0 "
                f"AND i.customer_id IN ({marks}) GROUP BY i.customer_id, i.currency",
                [*params, self.organization_id, *customers],
            )
        }
        unapplied = {}
        for customer, currency, cash in fetch_all(
            f"SELECT s.customer_id, s.currency, s.unapplied_cash "
            f"FROM {table(ReceivablesSummary)} s WHERE s.organization_id = %s "
            f"AND s.customer_id IN ({marks}) AND {self._HAS_FIGURES} "
            "ORDER BY s.customer_id, s.currency",
            [self.organization_id, *customers],
        ):
            unapplied[(customer, currency)] = cash
        width = len(self.buckets)
        rows = []
        for customer, currency in keys:
            groups = (
                [key for key in unapplied if key[0] == customer]
                if rank_rates
                else [(customer, currency)]
            )
            for group in groups:
                figures = buckets.get(group, [0] * width)
                rows.append(self._row((*group, *figures, unapplied.get(group, 0))))
        return rows

    def _totals_from_summary(self) -> tuple[list[tuple], dict[str, int]]:
        """Totals per currency, and how many summary rows have figures in each.

        What is open and the cash on account come from the summary (one row per
        customer and currency); only the overdue invoices are read for the
        buckets past due, and "Current" is the open amount not in them. The
        summary's open amount is the sum of its invoices' (``verify_ledger``
        checks it), so the buckets add up to the total as before."""
        summary = fetch_all(
            f"SELECT s.currency, SUM(s.invoices_open), SUM(s.unapplied_cash), "
            f"COUNT(*) FILTER (WHERE {self._HAS_FIGURES}) "
            f"FROM {table(ReceivablesSummary)} s WHERE s.organization_id = %s "
            "GROUP BY s.currency",
            [self.organization_id],
        )
        overdue_buckets = self.buckets[1:]
        sums, params = self._bucket_cases(
            "i.due_date", "i.open_amount", buckets=overdue_buckets
        )
        overdue = {
            row[0]: row[1:]
            for row in fetch_all(
                f"SELECT i.currency, {', '.join(sums)} FROM {table(Invoice)} i "
                "WHERE i.organization_id = %s AND i.open_amount > 0 "
                "AND i.due_date < %s GROUP BY i.currency",
                [*params, self.organization_id, self.as_of],
                jit=False,
            )
        }
        totals = []
        for currency, open_total, cash, _ranked in sorted(summary):
            past_due = overdue.get(currency, [0] * len(overdue_buckets))
            current = (open_total or 0) - sum(past_due)
            row = self._row((None, currency, current, *past_due, cash))
            if any(row[2]) or row[3]:
                totals.append(row)
        return totals, {row[0]: row[3] for row in summary if row[3]}

    def run(self, *, group_by, rank_rates, sort, offset, limit):
        """Totals per currency, one page of rows and how many groups there are,
        in one statement: the open items and the cash are read once.

        Without ``rank_rates`` a group is a (key, currency) pair, ordered by
        currency first: amounts of different currencies are never compared. With
        them a group is a key, ranked by its total at those rates, and its
        currencies come back next to each other for the caller to convert
        exactly.
        """
        summed, params, total = self._summed(self.KEYS[group_by])
        if rank_rates:
            rate_sql = "CASE a.currency" + " WHEN %s THEN %s" * len(rank_rates)
            rate_sql += " ELSE 1 END"
            rate_params = [v for q in rank_rates.values() for v in q.as_params()]
            partition, identity = "g.k", "s.k"
        else:
            rate_sql, rate_params = "1", []
            partition, identity = "g.k, g.currency", "s.k, s.currency"
        # Per (key, currency) row, its total and overdue amount at the rate; the
        # currency is one of the grouping columns, so no aggregate nests.
        overdue = total.replace("SUM(a.b0)", "0")
        summed = summed.replace(
            " FROM (",
            f", ({total}) * {rate_sql} AS rank_total, "
            f"({overdue}) * {rate_sql} AS rank_overdue FROM (",
            1,
        )
        params = [*rate_params, *rate_params, *params]
        ranking = {
            "total": "s.group_total DESC",
            "overdue": "s.group_overdue DESC",
            "name": "s.name ASC",
        }[sort]
        if not rank_rates:
            ranking = f"s.currency, {ranking}"
        name, join = "", ""
        if group_by == "customer":
            name = ", cu.name AS name"
            join = f" LEFT JOIN {table(Customer)} cu ON cu.id = g.k"
        if rank_rates:
            group_totals = (
                f"SUM(g.rank_total) OVER (PARTITION BY {partition}) AS group_total, "
                f"SUM(g.rank_overdue) OVER (PARTITION BY {partition}) AS group_overdue"
            )
        else:  # a group is one row already
            group_totals = (
                "g.rank_total AS group_total, g.rank_overdue AS group_overdue"
            )
        width = len(self.buckets)
        columns = ", ".join(f"r.b{b.index}" for b in self.buckets)
        sums = ", ".join(f"SUM(t.b{b.index})" for b in self.buckets)
        materialized = "MATERIALIZED " if connection.vendor == "postgresql" else ""
        # Window functions cannot nest: group totals, then their rank, then the
        # number of groups, each one level up. The totals are summed from the
        # same grouped rows.
        sql = (
            f"WITH summed AS {materialized}({summed}), ranked AS ("
            "SELECT q.*, MAX(q.rnk) OVER () AS groups FROM ("
            f"SELECT s.*, DENSE_RANK() OVER (ORDER BY {ranking}, {identity}) AS rnk "
            f"FROM (SELECT g.*{name}, {group_totals} "
            f"FROM summed g{join}) s) q) "
            f"SELECT 0, r.k, r.currency, {columns}, r.unapplied, r.groups, r.rnk "
            "FROM ranked r WHERE r.rnk > %s AND r.rnk <= %s "
            f"UNION ALL SELECT 1, NULL, t.currency, {sums}, SUM(t.unapplied), "
            "NULL, NULL FROM summed t GROUP BY t.currency "
            f"ORDER BY 1, {6 + width}, 3"
        )
        result = fetch_all(sql, [*params, offset, offset + limit], jit=False)
        totals = [self._row(row[1:]) for row in result if row[0] == 1]
        rows = [self._row(row[1:]) for row in result if row[0] == 0]
        if rows:
            count = next(row for row in result if row[0] == 0)[4 + width]
        else:
            count = self._count(summed, params, partition) if offset else 0
        return totals, rows, count

    def _count(self, summed, params, identity) -> int:
        sql = f"SELECT COUNT(*) FROM (SELECT DISTINCT {identity} FROM ({summed}) g) n"
        return fetch_all(sql, params)[0][0]

    def iter_rows(self, *, group_by: str, chunk_size: int):
        """All rows ordered by currency and key, fetched ``chunk_size`` at a time
        (a server-side cursor on PostgreSQL, so memory stays flat)."""
        key = self.KEYS[group_by]
        summed, params, _ = self._summed(key)
        sql = f"SELECT * FROM ({summed}) g ORDER BY g.currency, g.k"
        database = report_database()
        with (
            transaction.atomic(using=database),
            connections[database].chunked_cursor() as cursor,
        ):
            cursor.execute(sql, params)
            while True:
                rows = cursor.fetchmany(chunk_size)
                if not rows:
                    return
                yield [self._row(row) for row in rows]


# --- drill-down ------------------------------------------------------------------

_AMOUNT = DecimalField(**MONEY)


def aging_invoices(
    *,
    as_of: date | None = None,
    bucket: Bucket | None = None,
    overdue_only: bool = False,
    filters: AgingFilters = AgingFilters(),
) -> QuerySet[Invoice]:
    """The invoices behind an aging figure, with ``open_as_of`` (their open amount
    on the as-of date), oldest due date first; ``overdue_only`` keeps those past
    due (every bucket but Current)."""
    as_of, is_today = resolve_as_of(as_of)
    invoices = Invoice.objects.select_related("customer", "customer__collector")
    if is_today:
        # The column itself (never null): an expression around it would have
        # the ORM convert every row's value (a third of a 200,000-row export).
        invoices = invoices.filter(status__in=OPEN_STATUSES).annotate(
            open_as_of=F("open_amount")
        )
    else:
        posted = (
            LedgerEntry.objects.filter(invoice=OuterRef("pk"), posting_date__lte=as_of)
            .order_by()
            .values("invoice")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        invoices = (
            invoices.filter(invoice_date__lte=as_of)
            .filter(Q(settled_date__isnull=True) | Q(settled_date__gt=as_of))
            .annotate(open_as_of=Subquery(posted, output_field=_AMOUNT))
            .filter(open_as_of__gt=0)
        )
    if bucket is not None:
        invoices = invoices.filter(bucket.due_date_q(as_of))
    if overdue_only:
        invoices = invoices.filter(due_date__lt=as_of)
    if filters.customer_id is not None:
        invoices = invoices.filter(customer_id=filters.customer_id)
    if filters.unassigned_only:
        invoices = invoices.filter(customer__collector__isnull=True)
    elif filters.collector_id is not None:
        invoices = invoices.filter(customer__collector_id=filters.collector_id)
    if filters.segment is not None:
        invoices = invoices.filter(customer__segment=filters.segment)
    if filters.currency:
        invoices = invoices.filter(currency=filters.currency)
    return invoices.order_by("due_date", "id")
