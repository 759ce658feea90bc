"""The cash forecast as it would have been made on a past day, from what was
known at the start of that day — to fill the weekly forecast history
(``ForecastSnapshot``) of an organization whose past was imported or seeded.

As of day D (its start, as in :mod:`collecting.prediction.features`):

- **open invoices** and their **open amount**: the invoice's ledger entries
  (invoice, fees, payments, credit notes, write-offs, reversals) posted before
  D, and its debits posted on D (an invoice issued that day is known; cash
  applied from D on is what the forecast is scored against);
- **expected date**: what would have served that day — the nightly rule
  (``train``) on the invoices settled before D: the model if it beat the
  customer median on that history, else the customer median as of D;
- **promises** made before D and not judged before D, each less what was paid
  towards it before D; **broken promises** judged before D; **disputes**
  opened before D and not resolved before D; more than 90 days past due at D.

Then the same rules as today's forecast (:func:`accumulate`). What is not
reconstructed: an invoice voided since is left out (the voiding is not dated
in the history read here); a promise cancelled (its end not dated) and a
dispute closed without a date count as lasting, as in the features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
from django.db.models import Q, Sum

from collecting.models import Dispute, DisputeInvoice, PromiseInvoice, PromiseToPay
from collecting.prediction.features import NEVER, History, load_history
from collecting.prediction.model import Baseline, settled_rows, snapshots
from collecting.prediction.services import train
from invoicing.models import LedgerEntry
from o2c.tenancy import current_organization
from reports.selectors.common import exact
from reports.selectors.forecast import (
    accumulate,
    lay_promises,
    new_sums,
    risk_of,
)


@dataclass
class _Promise:
    pk: int
    amount: Decimal
    made_on: int  # ordinal
    ended: int  # ordinal of its judgement, NEVER if not judged
    promised_date: date
    broken: bool
    invoices: list[int] = field(default_factory=list)


@dataclass
class Known:
    """The history, plus the dated facts the forecast reads, loaded once for
    any number of days."""

    history: History
    promises: list[_Promise]
    # invoice id -> sorted (posting day, amount) of payments allocated (net of
    # reversed allocations), for the invoices that carry a promise
    allocations: dict[int, list[tuple[int, Decimal]]]
    disputes: list[tuple[int, int, int]]  # (invoice id, opened, ended)


def _day(value) -> int:
    if value is None:
        return NEVER
    return value.astimezone(current_organization().tzinfo).date().toordinal()


def load_known() -> Known:
    """Read the current organization's history and dated facts (a few queries)."""
    history = load_history()
    promises: dict[int, _Promise] = {}
    for (
        pk,
        amount,
        made_on,
        evaluated_at,
        promised_date,
        status,
    ) in PromiseToPay.objects.values_list(
        "id", "amount", "made_on", "evaluated_at", "promised_date", "status"
    ).order_by("id"):
        promises[pk] = _Promise(
            pk=pk,
            amount=amount,
            made_on=made_on.toordinal(),
            ended=_day(evaluated_at),
            promised_date=promised_date,
            broken=status == PromiseToPay.Status.BROKEN,
        )
    for promise_id, invoice_id in PromiseInvoice.objects.values_list(
        "promise_id", "invoice_id"
    ):
        promises[promise_id].invoices.append(invoice_id)
    promised_invoices = {i for p in promises.values() for i in p.invoices}
    allocations: dict[int, list[tuple[int, Decimal]]] = {}
    for invoice_id, posted, amount in (
        LedgerEntry.objects.filter(
            Q(kind=LedgerEntry.Kind.ALLOCATION)
            | Q(
                kind=LedgerEntry.Kind.REVERSAL,
                reverses__kind=LedgerEntry.Kind.ALLOCATION,
            ),
            invoice_id__in=promised_invoices,
        )
        .order_by("posting_date", "id")
        .values_list("invoice_id", "posting_date", "amount")
    ):
        allocations.setdefault(invoice_id, []).append((posted.toordinal(), -amount))
    disputes = []
    for (
        invoice_id,
        opened_on,
        resolved_at,
        status,
    ) in DisputeInvoice.objects.values_list(
        "invoice_id", "dispute__opened_on", "dispute__resolved_at", "dispute__status"
    ):
        ended = NEVER
        if status != Dispute.Status.OPEN and resolved_at is not None:
            ended = _day(resolved_at)
        disputes.append((invoice_id, opened_on.toordinal(), ended))
    return Known(history, list(promises.values()), allocations, disputes)


def open_amounts_as_of(day: date) -> dict[int, Decimal]:
    """Invoice id -> open amount at the start of ``day`` (credits posted before
    it; debits posted up to it), for invoices with something open (one query)."""
    rows = (
        LedgerEntry.objects.filter(invoice__isnull=False)
        .filter(Q(posting_date__lt=day) | Q(posting_date=day, amount__gt=0))
        .values("invoice_id", "currency")
        .annotate(balance=Sum("amount"))
        .filter(balance__gt=0)
        .values_list("invoice_id", "currency", "balance")
    )
    amounts = {}
    for invoice_id, currency, balance in rows:
        amount = exact(balance, currency)
        if amount > 0:
            amounts[invoice_id] = amount
    return amounts


def predictor_as_of(known: Known, day: date, *, baseline_only: bool = False):
    """What would have served predictions made on ``day``: the nightly rule on
    the invoices settled before it (or only the customer median)."""
    if baseline_only:
        rows = settled_rows(known.history, day.toordinal())
        return Baseline.fit(known.history, *snapshots(known.history, rows))
    return train(known.history, before=day).predictor


def _promised_parts(known: Known, day: int, open_amounts, due) -> dict:
    """Per invoice, the parts of the promises open at the start of ``day``, each
    less what was paid towards it before the day."""
    rows = []
    for promise in known.promises:
        if not (promise.made_on < day <= promise.ended):
            continue
        paid = sum(
            (
                amount
                for invoice_id in promise.invoices
                for posted, amount in known.allocations.get(invoice_id, ())
                if promise.made_on <= posted < day
            ),
            Decimal(0),
        )
        invoices = sorted(
            (due[i], i) for i in promise.invoices if i in open_amounts and i in due
        )
        for _, invoice_id in invoices:
            rows.append(
                (
                    promise.pk,
                    promise.amount,
                    paid,
                    promise.promised_date,
                    invoice_id,
                    open_amounts[invoice_id],
                )
            )
    return lay_promises(rows, date.fromordinal(day))


def _expected_days_late(predictor, history, rows, ordinal):
    if not len(rows):
        return []
    return predictor.score(history, rows, ordinal, explain=False).expected


def forecast_as_of(known: Known, day: date, predictor, *, weeks: int) -> dict:
    """Currency -> the ``weeks`` weekly amounts the forecast made at the start
    of ``day`` would have expected (week 1 starts on the day)."""
    history = known.history
    ordinal = day.toordinal()
    open_amounts = {
        pk: amount
        for pk, amount in open_amounts_as_of(day).items()
        if pk in history.position
    }
    invoice_ids = sorted(open_amounts)
    rows = np.array([history.position[pk] for pk in invoice_ids], dtype=np.int64)
    due = {
        pk: int(history.due[row])
        for pk, row in zip(invoice_ids, rows.tolist(), strict=True)
    }
    expected = _expected_days_late(predictor, history, rows, ordinal)
    promised = _promised_parts(known, ordinal, open_amounts, due)
    disputed = {
        invoice_id
        for invoice_id, opened, ended in known.disputes
        if opened < ordinal <= ended
    }
    broken = {
        invoice_id
        for promise in known.promises
        if promise.broken and promise.ended < ordinal
        for invoice_id in promise.invoices
    } - set(promised)
    horizon = 7 * weeks
    acc: dict[str, dict] = {}
    for pk, row, days_late in zip(invoice_ids, rows.tolist(), expected, strict=True):
        code = history.currencies[int(history.currency[row])]
        sums = acc.get(code) or acc.setdefault(code, new_sums(weeks))
        mid = due[pk] + round(float(days_late)) - ordinal
        risk = risk_of(
            pk,
            date.fromordinal(due[pk]),
            mid,
            today=day,
            horizon=horizon,
            disputed=disputed,
            broken=broken,
        )
        accumulate(
            sums,
            open_amounts[pk],
            promised.get(pk, ()),
            risk=risk,
            offsets=(mid, mid, mid),
            horizon=horizon,
        )
    return {
        code: [exact(amount, code) for amount in sums["mid"]]
        for code, sums in sorted(acc.items())
    }
