"""An independent computation of aging and metrics over rows exported with plain
``values()``: pandas over the ledger, no SQL beyond a SELECT of each table.

It follows the documented definitions, not the reports code, so a mistake in the
SQL (a bucket edge, a join, a sign) shows as a difference.
"""

from calendar import monthrange
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd

from invoicing.models import Invoice, LedgerEntry
from o2c.money import quantize
from orders.models import Customer

SALES = {"invoice", "fee"}


def frames():
    ledger = pd.DataFrame.from_records(
        LedgerEntry.objects.values(
            "id",
            "customer_id",
            "invoice_id",
            "kind",
            "amount",
            "currency",
            "posting_date",
            "reverses__kind",
        )
    )
    invoices = pd.DataFrame.from_records(
        Invoice.objects.values("id", "due_date", "invoice_date")
    ).rename(columns={"id": "invoice_id"})
    customers = pd.DataFrame.from_records(
        Customer.objects.values("id", "collector_id", "segment")
    ).rename(columns={"id": "customer_id"})
    ledger = ledger.merge(invoices, on="invoice_id", how="left").merge(
        customers, on="customer_id", how="left"
    )
    ledger["amount"] = ledger["amount"].map(Decimal)
    return ledger


def bucket_of(days_past_due: int, boundaries: list[int]) -> int:
    if days_past_due <= 0:
        return 0
    for index, limit in enumerate(boundaries, start=1):
        if days_past_due <= limit:
            return index
    return len(boundaries) + 1


def aging(ledger, as_of: date, boundaries=(30, 60, 90), key="customer_id"):
    """{(key, currency): ([bucket amounts], unapplied)} of everything non-zero."""
    posted = ledger[ledger["posting_date"] <= as_of]
    on_invoices = posted[posted["invoice_id"].notna()]
    open_items = (
        on_invoices.groupby(["invoice_id", key, "currency", "due_date"], dropna=False)[
            "amount"
        ]
        .sum()
        .reset_index()
    )
    open_items = open_items[open_items["amount"] != 0]
    result = {}
    width = len(boundaries) + 2
    for row in open_items.itertuples(index=False):
        group = (_key(getattr(row, key)), row.currency)
        buckets, unapplied = result.setdefault(
            group, ([Decimal(0)] * width, Decimal(0))
        )
        days = (as_of - row.due_date).days
        buckets[bucket_of(days, list(boundaries))] += row.amount
    cash = posted[posted["invoice_id"].isna()]
    for (value, currency), amount in (
        cash.groupby([key, "currency"], dropna=False)["amount"].sum().items()
    ):
        group = (_key(value), currency)
        buckets, unapplied = result.get(group, ([Decimal(0)] * width, Decimal(0)))
        result[group] = (buckets, unapplied - amount)
    return {
        group: ([quantize(b, group[1]) for b in buckets], quantize(u, group[1]) + 0)
        for group, (buckets, u) in result.items()
        if any(buckets) or u
    }


def _key(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    return int(value) if isinstance(value, float) else value


def month_ends(last_month: date, months: int) -> list[date]:
    ends = []
    year, month = last_month.year, last_month.month
    for _ in range(months):
        ends.append(date(year, month, monthrange(year, month)[1]))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return ends[::-1]


def month_figures(ledger, end: date, currency: str):
    """AR, current AR and credit sales of the month ending ``end``."""
    rows = ledger[(ledger["currency"] == currency) & ledger["invoice_id"].notna()]
    posted = rows[rows["posting_date"] <= end]
    receivables = posted["amount"].sum()
    current = posted[posted["due_date"] >= end]["amount"].sum()
    start = end.replace(day=1)
    in_month = rows[(rows["posting_date"] >= start) & (rows["posting_date"] <= end)]
    is_sale = in_month["kind"].isin(SALES) | (
        (in_month["kind"] == "reversal") & in_month["reverses__kind"].isin(SALES)
    )
    sales = in_month[is_sale]["amount"].sum()
    return Decimal(receivables), Decimal(current), Decimal(sales)


def countback(receivables, sales_newest_first):
    """The issue's words: subtract each month's sales, newest first, counting
    whole months' days until the balance is used up, then the fraction."""
    if receivables <= 0:
        return Decimal(0)
    days = Decimal(0)
    for sales, month_days in sales_newest_first:
        if receivables <= sales:
            return days + receivables / sales * month_days
        receivables -= max(sales, 0)
        days += month_days
    return None


def metrics(ledger, last_month: date, months: int, currency: str, lookback=12):
    """Per month (oldest first): a dict of every metric from the definitions."""
    ends = month_ends(last_month, months + lookback + 1)
    figures = {end: month_figures(ledger, end, currency) for end in ends}
    result = []
    for index in range(lookback + 1, len(ends)):
        end = ends[index]
        ar, current, sales = figures[end]
        opening = figures[ends[index - 1]][0]
        days = end.day
        history = [(figures[ends[i]][2], ends[i].day) for i in range(index, -1, -1)]
        simple = ar / sales * days if sales > 0 else None
        best = current / sales * days if sales > 0 else None
        collectible = opening + sales - current
        average = (opening + ar) / 2
        result.append(
            {
                "month": end.replace(day=1),
                "opening": opening,
                "receivables": ar,
                "current_receivables": current,
                "credit_sales": sales,
                "overdue": ar - current,
                "dso_countback": countback(ar, history),
                "dso_simple": simple,
                "best_possible_dso": best,
                "average_days_delinquent": simple - best
                if simple is not None
                else None,
                "cei": (opening + sales - ar) / collectible * 100
                if collectible > 0
                else None,
                "turnover": sales * 365 / days / average if average > 0 else None,
                "percent_current": current / ar * 100 if ar > 0 else None,
            }
        )
    return result


def six_months_back(today: date) -> date:
    return today - timedelta(days=182)
