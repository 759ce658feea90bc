"""Aging and every metric on the generated demo company, against an independent
pandas computation over the rows exported with ``values()``: today and six
months back, to the cent and to 0.1 day."""

from decimal import Decimal

import pytest

from reports.selectors.aging import aging_report
from reports.selectors.common import add_months
from reports.selectors.metrics import last_closed_month, metric_series
from reports.selectors.snapshot import month_sums
from reports.services import metrics_refresh
from tests.reports import independent

GROUPINGS = [
    ("customer", "customer_id"),
    ("collector", "collector_id"),
    ("segment", "segment"),
]
DAY_METRICS = (
    "dso_countback",
    "dso_simple",
    "best_possible_dso",
    "average_days_delinquent",
    "cei",
    "turnover",
    "percent_current",
)
AMOUNTS = ("receivables", "current_receivables", "credit_sales", "overdue")


def _as_of(organization, when):
    today = organization.today()
    return today if when == "today" else independent.six_months_back(today)


@pytest.mark.parametrize("when", ["today", "six months back"])
@pytest.mark.parametrize(("group_by", "column"), GROUPINGS)
def test_aging_rows_match_pandas_to_the_cent(demo, when, group_by, column):
    as_of = _as_of(demo, when)
    expected = independent.aging(independent.frames(), as_of, key=column)
    report = aging_report(as_of=as_of, group_by=group_by, page_size=10_000)
    got = {
        (line.key, line.currency): (line.buckets, line.unapplied)
        for line in report.lines
    }
    assert got == expected
    assert report.line_count == len(expected)


@pytest.mark.parametrize("when", ["today", "six months back"])
def test_aging_totals_match_pandas(demo, when):
    as_of = _as_of(demo, when)
    expected = {}
    for (_, currency), (buckets, unapplied) in independent.aging(
        independent.frames(), as_of
    ).items():
        total_buckets, total_unapplied = expected.get(currency, ([0] * 5, 0))
        expected[currency] = (
            [a + b for a, b in zip(total_buckets, buckets, strict=True)],
            total_unapplied + unapplied,
        )
    report = aging_report(as_of=as_of, group_by="currency")
    totals = {line.currency: (line.buckets, line.unapplied) for line in report.totals}
    assert totals == expected
    assert sum(line.total for line in report.totals if line.currency == "EUR") > 0


def test_todays_aging_from_open_amounts_equals_the_ledger(demo):
    fast = aging_report(group_by="customer", page_size=10_000)
    ledger = aging_report(group_by="customer", page_size=10_000, use_ledger=True)
    assert [(x.key, x.currency, x.buckets, x.unapplied) for x in fast.lines] == [
        (x.key, x.currency, x.buckets, x.unapplied) for x in ledger.lines
    ]


@pytest.mark.parametrize("when", ["last closed month", "six months back"])
def test_every_metric_matches_pandas(demo, when):
    end_month = last_closed_month()
    if when == "six months back":
        end_month = add_months(end_month, -6)
    sums, months, _ = month_sums(end_month=end_month, months=24, stored=False)
    ledger = independent.frames()
    series = metric_series(sums=sums, months=months, in_base=False)
    assert {s.currency for s in series} >= {"EUR"}
    checked = 0
    for one in series:
        expected = independent.metrics(ledger, end_month, 24, one.currency)
        assert [m.month for m in one.months] == [e["month"] for e in expected]
        for got, want in zip(one.months, expected, strict=True):
            for name in AMOUNTS:
                assert getattr(got, name) == want[name], (name, got.month)
            idle = not (want["receivables"] or want["credit_sales"] or want["opening"])
            for name in DAY_METRICS:
                value, reference = getattr(got, name), want[name]
                if idle:  # before the company's first invoice: no figures
                    assert value is None or value == reference == 0, (name, got.month)
                    continue
                if reference is None:
                    assert value is None or not want["receivables"], (name, got.month)
                    continue
                assert abs(value - reference) < Decimal("0.05"), (name, got.month)
                checked += 1
    # The demo's eight months have figures (two of them six months back).
    assert checked >= (50 if when == "last closed month" else 10)


def test_stored_figures_give_the_same_series(demo):
    live_sums, months, _ = month_sums(stored=False)
    metrics_refresh(force=True)
    stored_sums, stored_months, snapshot = month_sums()
    assert snapshot is not None and stored_months == months
    for in_base in (False, True):
        live = metric_series(sums=live_sums, months=months, in_base=in_base)
        stored = metric_series(sums=stored_sums, months=months, in_base=in_base)
        assert live == stored
