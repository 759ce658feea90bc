"""The one service that writes the receivables ledger.

Every debit and credit of the receivables goes through :func:`ledger_post`; it also
keeps each invoice's cached ``open_amount`` and derived status in step with the
entries, in the same transaction, under a row lock, and the customers' receivables
summary (:mod:`invoicing.services.summary`) in one more statement. Nothing else
writes ``LedgerEntry`` rows, ``Invoice.open_amount`` or the summary (bulk loads
rebuild it when they finish) — but for a new invoice written issued: its row
goes in with its total open and :func:`ledger_open` appends the matching debit
in the same transaction.

Invariants it enforces (and ``verify_ledger`` re-checks):

* amounts are non-zero and exact in the entry's currency's minor unit;
* an entry's currency is its invoice's currency;
* an invoice's open amount never goes below zero — not now and not as of any past
  posting date (a back-dated credit cannot make history negative);
* the on-account (unapplied) cash of a payment stays between zero and the payment's
  amount at every posting date.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import OperationalError, connection, transaction
from django.db.models import Max, OuterRef, QuerySet, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from invoicing.models import Invoice, LedgerEntry
from invoicing.services.summary import summary_post
from invoicing.status import fees_by_invoice, payment_status
from o2c.errors import ConflictError, DomainError
from o2c.money import quantize
from o2c.rows import RoundTrip, insert_rows, queue_rows, update_column
from o2c.services import Actor, transition_many
from o2c.tenancy import current_organization
from o2c.webhooks import events_emit

# The advisory lock "entries of this organization are being appended", PostgreSQL's
# two-key form: (this class, the organization's id). Every transaction that
# appends entries holds it shared until it ends; ``ledger_settled_id`` takes it
# alone for a moment to draw a line no uncommitted entry is below.
APPEND_LOCK = 0x0200C
APPEND_LOCK_SQL = "SELECT pg_advisory_xact_lock_shared(%s, %s)"


@dataclass(frozen=True)
class Posting:
    customer_id: int
    kind: str
    amount: Decimal
    currency: str
    posting_date: date
    document_type: str
    document_id: int
    invoice_id: int | None = None
    payment_id: int | None = None
    reverses_id: int | None = None
    memo: str = ""
    field: str = field(default="amount", compare=False)


def ledger_post(
    *,
    postings: list[Posting],
    actor: Actor,
    locked_invoices: dict[int, Invoice] | None = None,
) -> list[LedgerEntry]:
    """Append ``postings`` and bring the touched invoices' open amounts in step.

    ``locked_invoices`` are invoices the caller read under a row lock in this
    transaction (by id); the others are locked here. Every check runs before the
    first write, so a refusal leaves the caller's transaction as it was and no
    savepoint is needed.
    """
    if not connection.in_atomic_block:
        with transaction.atomic():
            return ledger_post(
                postings=postings, actor=actor, locked_invoices=locked_invoices
            )
    organization = current_organization()
    invoices = _lock_invoices(
        {p.invoice_id for p in postings if p.invoice_id}, locked_invoices or {}
    )
    for posting in postings:
        _check_posting(posting, invoices.get(posting.invoice_id))
    totals = _check_history(postings, invoices)
    # Every check is done: the invoices' open amounts and statuses, the
    # summary and the entries go to the database in one round trip, unless a
    # status depends on the fees, which are read with the entries in the ledger.
    fee_dependent = _fee_dependent(invoices, totals)
    entries = _append(organization, postings, RoundTrip()) if fee_dependent else None
    trip = RoundTrip()
    _sync_invoices(
        invoices, totals, fees_by_invoice(fee_dependent), actor=actor, trip=trip
    )
    # After the invoices: the summary's overdue figures read their open amounts.
    summary_post(postings, trip=trip)
    if entries is not None:
        trip.send()
        return entries
    return _append(organization, postings, trip)


def ledger_open(*, postings: list[Posting], invoices: dict[int, Invoice]) -> None:
    """Append the debits of new invoices whose rows were written issued in this
    transaction already carrying them as their open amounts (``invoices``, by
    id, each debited once by ``postings``).

    No other transaction sees those rows, so there is nothing to lock, and a
    first debit has no history to check and no status to derive: the entries
    and the summary go in one round trip, and the rows are not written again.
    """
    for posting in postings:
        invoice = invoices.get(posting.invoice_id)
        _check_posting(posting, invoice)
        if posting.kind != LedgerEntry.Kind.INVOICE or posting.amount != (
            invoice.open_amount
        ):
            raise ValueError(
                f"Invoice {invoice.pk} is not written with its debit open "
                f"({invoice.open_amount}, debit {posting.amount})."
            )
    trip = RoundTrip()
    summary_post(postings, trip=trip)
    _append(current_organization(), postings, trip, instances=False)


def _append(
    organization, postings: list[Posting], trip: RoundTrip, *, instances: bool = True
):
    """The ledger entries of ``postings``, written last of ``trip`` (returned
    as instances unless ``instances`` is false)."""
    created_at = timezone.now()
    rows = [
        {
            "organization_id": organization.pk,
            "customer_id": p.customer_id,
            "invoice_id": p.invoice_id,
            "kind": p.kind,
            "amount": p.amount,
            "currency": p.currency,
            "posting_date": p.posting_date,
            "document_type": p.document_type,
            "document_id": p.document_id,
            "payment_id": p.payment_id,
            "reverses_id": p.reverses_id,
            "memo": p.memo,
            "created_at": created_at,
        }
        for p in postings
    ]
    if trip.together:  # PostgreSQL: the lock before the entries take their ids
        trip.execute(APPEND_LOCK_SQL, [APPEND_LOCK, organization.pk])
    if not instances:
        queue_rows(LedgerEntry, rows, trip)
        trip.send()
        return []
    entries = []
    for pk, row in zip(insert_rows(LedgerEntry, rows, trip=trip), rows, strict=True):
        entry = LedgerEntry(pk=pk, **row)
        entry._state.adding, entry._state.db = False, connection.alias
        entries.append(entry)
    return entries


def ledger_settled_id(*, wait_seconds: float = 2) -> int | None:
    """The largest id of this organization's ledger entries such that no entry
    with a smaller id can still appear: every one of them is committed.

    Ids are taken from a sequence when an entry is written, not when it is
    committed, so the largest id visible now may have smaller ones below it in
    transactions still open. On PostgreSQL each appending transaction holds
    ``APPEND_LOCK`` shared; this takes it exclusively, which waits for them to
    end (and holds new ones back meanwhile, at most ``wait_seconds``), reads the
    largest id and lets go. None when appending went on longer than that: ask
    again later. Call it outside a transaction, so the lock is let go at once.
    Elsewhere (SQLite) one writer at a time: every entry below the largest
    committed one is committed.
    """
    if connection.vendor != "postgresql":
        return _largest_entry_id()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SET LOCAL lock_timeout = %s", [f"{int(wait_seconds * 1000)}ms"]
            )
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [APPEND_LOCK, current_organization().pk],
            )
            cursor.execute("SET LOCAL lock_timeout = DEFAULT")
            return _largest_entry_id()
    except OperationalError:  # lock_timeout
        return None


def _largest_entry_id() -> int:
    return LedgerEntry.objects.aggregate(top=Max("id"))["top"] or 0


def ledger_reverse(
    *,
    entries: list[LedgerEntry],
    posting_date: date,
    actor: Actor,
    memo: str = "",
    date_field: str = "date",
) -> list[LedgerEntry]:
    """Post the exact opposite of each of ``entries`` on ``posting_date``.

    ``date_field`` names the caller's input that gave the date, for the error.
    Like :func:`ledger_post`, it refuses before it writes.
    """
    already = LedgerEntry.objects.filter(reverses__in=entries).values_list(
        "reverses_id", flat=True
    )
    if already:
        raise ConflictError("already_reversed", _("That posting is already reversed."))
    for entry in entries:
        if posting_date < entry.posting_date:
            raise DomainError(
                "date_before_original",
                _("A reversal cannot be dated before the original posting (%(date)s).")
                % {"date": entry.posting_date.isoformat()},
                field=date_field,
            )
    return ledger_post(
        postings=[
            Posting(
                customer_id=e.customer_id,
                invoice_id=e.invoice_id,
                payment_id=e.payment_id,
                kind=LedgerEntry.Kind.REVERSAL,
                amount=-e.amount,
                currency=e.currency,
                posting_date=posting_date,
                document_type=e.document_type,
                document_id=e.document_id,
                reverses_id=e.pk,
                memo=memo or f"Reversal of {e.get_kind_display().lower()}",
            )
            for e in entries
        ],
        actor=actor,
    )


def locked_for_posting(invoices: QuerySet) -> QuerySet:
    """``invoices`` locked for a posting, in a fixed order (by id: two concurrent
    postings never deadlock), each with the date of its latest ledger entry
    (``last_posted_on``, None: no entry) read in the same query: a credit dated
    on or after it needs no history from the ledger (:func:`_check_history`)."""
    latest = (
        LedgerEntry.objects.filter(invoice=OuterRef("pk"))
        .order_by("-posting_date")
        .values("posting_date")[:1]
    )
    return (
        invoices.select_for_update()
        .annotate(last_posted_on=Subquery(latest))
        .order_by("pk")
    )


def _lock_invoices(
    invoice_ids: set[int], locked: dict[int, Invoice]
) -> dict[int, Invoice]:
    invoices = {pk: locked[pk] for pk in invoice_ids if pk in locked}
    if missing := invoice_ids - invoices.keys():
        invoices |= {
            invoice.pk: invoice
            for invoice in locked_for_posting(Invoice.objects.filter(pk__in=missing))
        }
    return invoices


def _check_posting(posting: Posting, invoice: Invoice | None) -> None:
    if posting.amount == 0:
        raise DomainError(
            "zero_amount", _("Amount must not be zero."), field=posting.field
        )
    if posting.amount != quantize(posting.amount, posting.currency):
        raise DomainError(
            "invalid_amount",
            _("%(amount)s is not exact in %(currency)s.")
            % {"amount": posting.amount, "currency": posting.currency},
            field=posting.field,
        )
    if posting.invoice_id is None:
        return
    if invoice is None:
        raise DomainError("unknown_invoice", _("Invoice not found."), field="invoice")
    if invoice.currency != posting.currency:
        raise DomainError(
            "currency_mismatch",
            _("Invoice %(invoice)s is in %(currency)s, not %(other_currency)s.")
            % {
                "invoice": invoice,
                "currency": invoice.currency,
                "other_currency": posting.currency,
            },
            field="currency",
        )
    if invoice.customer_id != posting.customer_id:
        raise DomainError(
            "customer_mismatch",
            _("Invoice %(invoice)s belongs to another customer.")
            % {"invoice": invoice},
            field="invoice",
        )


def _check_history(
    postings: list[Posting], invoices: dict[int, Invoice]
) -> dict[int, tuple[Decimal, date]]:
    """No invoice below zero and no payment's unapplied cash out of range, ever.

    Checked before anything is written: the entries already in the ledger, per
    day, with ``postings`` added. Only a credit can take an invoice's balance
    below zero on some day, and only a debit on the account (cash moved off it)
    can take a payment's unapplied cash out of range: the other postings only
    move balances away from their limit and need no history.

    Returns each touched invoice's (open amount, last posting date): from the
    history where it was read, else the locked invoice's open amount (which this
    service keeps equal to its entries) plus the postings.
    """
    credited = {p.invoice_id for p in postings if p.invoice_id and p.amount < 0}
    invoice_totals = {}
    for invoice_id, day, balance in _running_balances(
        "invoice_id",
        credited,
        postings,
        known=_known_histories(credited, invoices, postings),
    ):
        if balance < 0:
            raise DomainError(
                "exceeds_open_amount",
                _(
                    "This would take the invoice's open amount below zero (by "
                    "%(balance)s as of %(date)s)."
                )
                % {"balance": -balance, "date": day.isoformat()},
                field=_field_for(postings, invoice_id=invoice_id),
            )
        invoice_totals[invoice_id] = (balance, day)
    for posting in postings:
        if posting.invoice_id and posting.invoice_id not in credited:
            balance, day = invoice_totals.get(
                posting.invoice_id,
                (invoices[posting.invoice_id].open_amount, posting.posting_date),
            )
            invoice_totals[posting.invoice_id] = (
                balance + posting.amount,
                max(day, posting.posting_date),
            )
    debited = {
        p.payment_id
        for p in postings
        if p.payment_id and not p.invoice_id and p.amount > 0
    }
    # A payment received in this very posting has no entries in the ledger yet
    # (its receipt is posted once, when it is recorded): its history is here.
    received = {
        p.payment_id
        for p in postings
        if p.kind == LedgerEntry.Kind.PAYMENT and not p.invoice_id
    }
    for payment_id, day, on_account in _running_balances(
        "payment_id", debited, postings, unposted=received, invoice__isnull=True
    ):
        if on_account > 0:
            raise DomainError(
                "exceeds_unapplied",
                _(
                    "This would apply more than the payment's unapplied cash (by "
                    "%(on_account)s as of %(date)s)."
                )
                % {"on_account": on_account, "date": day.isoformat()},
                field=_field_for(postings, payment_id=payment_id),
            )
    return invoice_totals


def _known_histories(
    credited: set[int], invoices: dict[int, Invoice], postings: list[Posting]
) -> dict[int, tuple[date | None, Decimal]]:
    """The credited invoices whose history this posting cannot change, each as
    (date of its latest entry, open amount): those locked by
    :func:`locked_for_posting` whose postings are all dated on or after their
    latest entry. Every earlier day keeps its balance, and at the end of that
    day the balance is the open amount (which this service keeps equal to the
    entries): the ledger has nothing more to tell."""
    earliest_posting: dict[int, date] = {}
    for posting in postings:
        if posting.invoice_id in credited:
            day = earliest_posting.get(posting.invoice_id, posting.posting_date)
            earliest_posting[posting.invoice_id] = min(day, posting.posting_date)
    known = {}
    for invoice_id, earliest in earliest_posting.items():
        invoice = invoices[invoice_id]
        if "last_posted_on" not in invoice.__dict__:  # not read with its lock
            continue
        last = invoice.last_posted_on
        if last is None or earliest >= last:
            known[invoice_id] = (last, invoice.open_amount)
    return known


def _field_for(postings, **match) -> str:
    for posting in postings:
        if all(getattr(posting, k) == v for k, v in match.items()):
            return posting.field
    return "amount"


def _running_balances(
    key: str,
    ids: set[int],
    postings: list[Posting],
    unposted=frozenset(),
    known: dict[int, tuple[date | None, Decimal]] | None = None,
    **filters,
):
    """(id, day, balance at the end of day) for every day with entries, in order,
    the ledger's entries and ``postings`` together.

    One grouped query for all ``ids`` but the ``unposted`` (known to have no
    entries yet) and the ``known`` (whose entries come to the given balance on
    the given day, the last with any); a handful of rows per invoice or payment.
    """
    if not ids:
        return
    known = known or {}
    on_account_only = filters.get("invoice__isnull", False)
    per_day: dict[int, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for owner, (day, balance) in known.items():
        if day is not None:
            per_day[owner][day] += balance
    rows = []
    if posted := ids - unposted - known.keys():
        rows = (
            LedgerEntry.objects.filter(**{f"{key}__in": posted}, **filters)
            .values(key, "posting_date", "currency")
            .order_by()
            .annotate(total=Sum("amount"))
        )
    for row in rows:
        # SQLite sums decimals as floats (0.30 - 0.10 - 0.20 is not 0 there); every
        # entry is exact in its currency, so the true sum is the quantized one.
        per_day[row[key]][row["posting_date"]] += quantize(
            row["total"], row["currency"]
        )
    for posting in postings:
        owner = getattr(posting, key)
        if owner in ids and not (on_account_only and posting.invoice_id):
            per_day[owner][posting.posting_date] += posting.amount
    for owner in sorted(per_day):
        running = Decimal(0)
        for day in sorted(per_day[owner]):
            running += per_day[owner][day]
            yield owner, day, running


def _sync_invoices(
    invoices: dict[int, Invoice],
    totals: dict[int, tuple[Decimal, date]],
    fees: dict[int, Decimal],
    *,
    actor: Actor,
    trip: RoundTrip,
) -> None:
    """Set cached open amounts from the ledger and derive the payment statuses
    (``fees``: those of :func:`_fee_dependent`): one UPDATE per status reached
    (with the open amounts), one for all the invoices whose open amount alone
    changes (held for ``trip``)."""
    amount_only, paid = [], []
    moving: dict[str, list] = defaultdict(list)
    for invoice in invoices.values():
        open_amount, last_posting = totals.get(invoice.pk, (Decimal(0), None))
        open_amount = quantize(open_amount, invoice.currency)
        changed = open_amount != invoice.open_amount
        invoice.open_amount = open_amount
        derived = invoice.status
        if invoice.status in Invoice.ISSUED:
            derived = payment_status(
                total=invoice.total,
                fees=fees.get(invoice.pk, Decimal(0)),
                open_amount=open_amount,
            )
        if derived != invoice.status:
            if derived == Invoice.Status.PAID:
                paid.append(invoice)
            settled = last_posting if derived == Invoice.Status.PAID else None
            moving[derived].append(
                (invoice, None, {"open_amount": open_amount, "settled_date": settled})
            )
        elif changed:
            amount_only.append(invoice)
    # One UPDATE per status reached; the invoices are locked (ledger_post).
    for status, changes in moving.items():
        transition_many(changes, to_status=status, actor=actor, trip=trip)
    # However it got there: cash, a credit note, a write-off or a discount.
    events_emit("invoice.paid", paid)
    update_column(
        Invoice, "open_amount", {i.pk: i.open_amount for i in amount_only}, trip=trip
    )


def _fee_dependent(invoices, totals) -> list[int]:
    """The issued invoices whose status depends on their fees: nothing open is
    paid and less open than the total is partly paid, whatever the fees (they
    are never negative); between the two, the fees decide."""
    return [
        pk
        for pk, invoice in invoices.items()
        if invoice.status in Invoice.ISSUED
        and totals.get(pk, (Decimal(0), None))[0] >= invoice.total
        and totals.get(pk, (Decimal(0), None))[0] != 0
    ]


def unapplied_by_payment(payment_ids) -> dict[int, Decimal]:
    """The ledger's on-account cash per payment (positive = cash not yet applied)."""
    rows = (
        LedgerEntry.objects.filter(payment_id__in=payment_ids, invoice__isnull=True)
        .values("payment_id", "currency")
        .annotate(total=Sum("amount"))
    )
    result = defaultdict(lambda: Decimal(0))
    for row in rows:
        # 0 - total, not -total: a fully applied payment shows 0.00, not -0.00.
        result[row["payment_id"]] = quantize(0 - row["total"], row["currency"])
    return result
