"""Invariants of the figures the reports keep, checked in the database."""

from collections.abc import Iterator

from django.db.models import Max, Min

from invoicing.models import LedgerEntry
from reports.models import LedgerCompaction
from reports.selectors.metrics import ledger_month_sums

LIMIT = 20


def check_compaction() -> Iterator[str]:
    """The month sums read through the compacted ledger equal those of every
    entry grouped now, for every month with entries and every scope."""
    if LedgerCompaction.objects.first() is None:
        return
    span = LedgerEntry.objects.filter(invoice__isnull=False).aggregate(
        first=Min("posting_date"), last=Max("posting_date")
    )
    if span["first"] is None:
        return
    window = {"first_month": span["first"], "last_month": span["last"]}
    kept = ledger_month_sums(**window)
    summed = ledger_month_sums(**window, compacted=False)
    problems = 0
    for scope_key in sorted(set(kept) | set(summed)):
        mine, theirs = kept.get(scope_key, {}), summed.get(scope_key, {})
        for month in sorted(set(mine) | set(theirs)):
            if mine.get(month) != theirs.get(month):
                yield (
                    f"compacted ledger {scope_key} {month:%Y-%m}: {mine.get(month)} "
                    f"!= the entries' {theirs.get(month)}"
                )
                problems += 1
                if problems >= LIMIT:
                    return
