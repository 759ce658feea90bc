"""Reading the stored month-end figures, and knowing when they are stale.

The figures (``MonthEndFigure``) are sums of the ledger for closed months; they
stay right until an entry is posted into one of those months. The snapshot
records the ledger's settled line when it was summed (every entry up to it is
counted; ``invoicing.services.ledger.ledger_settled_id``): a newer entry dated
on or before the last stored month end, or a month closing, makes them stale,
and ``reports.services.metrics_refresh`` rebuilds them. The payment profiles look at
the last twelve months and are rebuilt once a day. Collector and segment
changes of customers show at the next rebuild (the nightly task forces one).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from invoicing.models import LedgerEntry
from o2c.errors import DomainError
from o2c.replica import report_database
from o2c.tenancy import current_organization
from reports.models import MetricsSnapshot, MonthEndFigure
from reports.selectors.common import add_months, month_end, serial_plan
from reports.selectors.metrics import (
    LOOKBACK_MONTHS,
    MetricSeries,
    MonthMetrics,
    MonthSums,
    ScopeKey,
    last_closed_month,
    ledger_month_sums,
    metric_series,
    month_window,
    scope_keys,
)

STORED_MONTHS = 24
NO_KEY = "none"


def current_snapshot() -> MetricsSnapshot | None:
    return MetricsSnapshot.objects.first()


def snapshot_is_stale(snapshot: MetricsSnapshot | None) -> bool:
    """Whether the stored month-end figures may differ from the ledger's."""
    if snapshot is None or snapshot.through_month != last_closed_month():
        return True
    # Counted, not asked for the first: ``ledger_org_id_idx`` (organization,
    # id, carrying the posting date) answers it alone, reading only this
    # organization's entries since the mark. Asked for the first one (EXISTS,
    # or ORDER BY id LIMIT 1), PostgreSQL took later tenants' ids for this
    # one's, expected a match at once on the primary key and walked them all.
    with serial_plan():
        return (
            LedgerEntry.objects.using(report_database())
            .filter(
                pk__gt=snapshot.ledger_high_water,
                posting_date__lte=month_end(snapshot.through_month),
            )
            .count()
            > 0
        )


def profiles_are_old(snapshot: MetricsSnapshot | None) -> bool:
    return (
        snapshot is None
        or snapshot.profiles_computed_on is None
        or snapshot.profiles_computed_on < current_organization().today()
    )


def needs_refresh(snapshot: MetricsSnapshot | None) -> bool:
    return snapshot_is_stale(snapshot) or profiles_are_old(snapshot)


def stored_month_sums(
    snapshot: MetricsSnapshot, *, scope: str | None = None
) -> dict[ScopeKey, dict[date, MonthSums]]:
    """The snapshot's sums, of every scope or of ``scope`` only (the dashboard
    shows the organization's: a tenth of the rows of a company with collectors
    and segments). Read as plain values, not model instances."""
    figures = MonthEndFigure.objects.filter(snapshot=snapshot)
    if scope is not None:
        figures = figures.filter(scope=scope)
    result: dict[ScopeKey, dict[date, MonthSums]] = defaultdict(dict)
    rows = figures.values_list(
        "scope",
        "key",
        "currency",
        "month",
        "receivables",
        "current_receivables",
        "credit_sales",
    )
    for scope_, key, currency, month, *sums in rows.iterator():
        result[(scope_, key, currency)][month] = MonthSums(*sums)
    return dict(result)


def month_sums(
    *,
    end_month: date | None = None,
    months: int = STORED_MONTHS,
    stored: bool = True,
    allow_stale: bool = False,
) -> tuple[dict[ScopeKey, dict[date, MonthSums]], list[date], MetricsSnapshot | None]:
    """The sums behind ``months`` months ending with ``end_month`` (default the
    last closed month), with the history the countback needs.

    Read from the snapshot when it covers the window and is fresh (or
    ``allow_stale``), else summed from the ledger now. Returns the sums, the
    months to show and the snapshot used.
    """
    window = month_window(end_month or last_closed_month(), months)
    first_needed = add_months(window[0], -LOOKBACK_MONTHS)
    if stored:
        snapshot = current_snapshot()
        if (
            snapshot is not None
            and snapshot.first_month <= first_needed
            and snapshot.through_month >= window[-1]
            and (allow_stale or not snapshot_is_stale(snapshot))
        ):
            return stored_month_sums(snapshot), window, snapshot
    sums = ledger_month_sums(first_month=first_needed, last_month=window[-1])
    return sums, window, None


@dataclass
class MetricsReport:
    """The series of one scope, and the latest month of every key of the scope
    (each collector, each segment) for comparison."""

    scope: str
    key: str
    months: list[date]
    series: list[MetricSeries]
    comparison: list[tuple[str, str, MonthMetrics | None]]
    source: str  # "stored" (the snapshot) or "ledger" (summed now)
    computed_at: datetime | None
    stale: bool = False  # stored figures older than the latest postings


def metrics_report(
    *,
    end_month: date | None = None,
    months: int = STORED_MONTHS,
    scope: str = MonthEndFigure.Scope.ORGANIZATION,
    key: str = "",
    in_base: bool = True,
    allow_stale: bool = False,
) -> MetricsReport:
    if scope not in MonthEndFigure.Scope.values:
        raise DomainError(
            "invalid_choice",
            f"Scope is one of {', '.join(MonthEndFigure.Scope.values)}.",
            field="scope",
        )
    if scope == MonthEndFigure.Scope.ORGANIZATION:
        key = ""
    sums, window, snapshot = month_sums(
        end_month=end_month, months=months, allow_stale=allow_stale
    )
    keys = scope_keys(sums, scope)
    if scope != MonthEndFigure.Scope.ORGANIZATION:
        # No key: the first; "none": customers without a collector or segment.
        if not key and keys:
            key = keys[0]
        elif key == NO_KEY:
            key = ""
    series = metric_series(
        sums=sums, months=window, scope=scope, key=key, in_base=in_base
    )
    comparison = []
    if scope != MonthEndFigure.Scope.ORGANIZATION:
        labels = scope_labels(scope, keys)
        for each in keys:
            latest = metric_series(
                sums=sums, months=window[-1:], scope=scope, key=each, in_base=True
            )[0].latest
            comparison.append((each, labels[each], latest))
    return MetricsReport(
        scope=scope,
        key=key,
        months=window,
        series=series,
        comparison=comparison,
        source="stored" if snapshot else "ledger",
        computed_at=snapshot.computed_at if snapshot else None,
        stale=bool(snapshot) and snapshot_is_stale(snapshot),
    )


def scope_labels(scope: str, keys: list[str]) -> dict[str, str]:
    """Names of collectors (by user id) or segments, as the pages show them."""
    if scope == MonthEndFigure.Scope.COLLECTOR:
        ids = [int(key) for key in keys if key]
        users = {
            str(user.pk): user.get_full_name() or user.get_username()
            for user in get_user_model().objects.filter(pk__in=ids)
        }
        return {
            key: users.get(key, _("No collector")) if key else _("No collector")
            for key in keys
        }
    return {key: key or _("No segment") for key in keys}
