"""The demo company's collection history, derived from its invoices and payments.

The receivables history (invoices, payments, credit notes, write-offs) is loaded
first and is not changed here. This module then replays the collections stage
over it, day by day up to yesterday, as the daily dunning run and the collectors
would have lived it under the standard policy:

* each invoice gets each step of the policy on the day it reaches it (due date +
  offset) while it is open, not paused and its customer may be contacted; one
  customer's invoices in one currency make one notice at their highest step, and a
  step skipped while an invoice was paused is not sent late (the run's rule). A
  notice is dated before the day its invoice was settled, never on or after;
* a call task (and, for some accounts, the second reminder) makes the customer's
  collector call within a few days; a call ends unanswered (a call-back is set),
  with "says paid" when the money was indeed on its way, or with a promise to pay;
* a promise is judged as the run judges it, on the allocations the ledger holds:
  kept once the promised amount is paid (or every invoice settled), otherwise
  partially kept or broken the day after its date plus grace; while active it
  pauses dunning of its invoices, and once broken the dunning resumes;
* disputes: most credit notes were preceded by one (resolved by that credit
  note), some late payers disputed and were answered in the company's favour or
  withdrew, and two disputes about open invoices are still open;
* a payment plan whose instalments are the partial payments a customer actually
  made, with the rest still to come;
* a couple of customers asked not to be contacted (no notice after that day), the
  credit-hold step put customers on credit hold (released once the invoices that
  caused it were paid), the agency-review step flagged accounts still unpaid.

Dunning fees are recorded as waived (0) on historical notices: the simulated
customers pay invoice totals, so a fee posted then would still be open today on
hundreds of paid invoices. Today's run charges fees as the policy says.

Today is left to the product: a few promises fall due today or are broken by
today's run, steps falling due today are not issued, so "Run dunning now" has
work on the first start. Rows are written in bulk with their historical
timestamps, with the audit events the timeline and the audit log read.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic

from django.contrib.auth import get_user_model
from django.db.models import Q

from collecting.models import (
    Activity,
    CustomerCollectionProfile,
    Dispute,
    DisputeInvoice,
    DunningPolicy,
    DunningRun,
    DunningStep,
    Notice,
    NoticeItem,
    PaymentPlan,
    PaymentPlanInstalment,
    PaymentPlanInvoice,
    PromiseInvoice,
    PromiseToPay,
)
from collecting.services import rendering
from collecting.services.policies import standard_policy_create
from invoicing.models import CreditNote, Invoice, LedgerEntry
from invoicing.services.bulk import BulkWriter
from o2c.models import AuditEvent, Organization
from o2c.money import quantize
from o2c.services import Actor
from orders.models import Contact, Customer

RUN_ACTOR = Actor.system("dunning run")
SENDER_ACTOR = Actor.system("dunning sender")
SEED_ACTOR = Actor.system("seed_demo")
PROMISE_GRACE_DAYS = 3  # the collecting settings' default
CHUNK_CUSTOMERS = 1_000
OPEN_DISPUTES = 2
Channel = DunningStep.Channel
Outcome = Activity.Outcome
TIMESTAMPED = [
    (Notice, "created_at"),
    (PromiseToPay, "created_at"),
    (Dispute, "created_at"),
    (PaymentPlan, "created_at"),
    (DunningRun, "started_at"),
    (AuditEvent, "created_at"),
]
DISPUTE_REASONS = {
    "Goods damaged in transit": Dispute.Reason.QUALITY,
    "Wrong item delivered, returned": Dispute.Reason.QUANTITY,
    "Price correction: contract price not applied": Dispute.Reason.PRICING,
    "Quantity difference on delivery": Dispute.Reason.QUANTITY,
    "Order cancelled, all goods returned": Dispute.Reason.OTHER,
}
DISPUTE_TEXTS = {
    Dispute.Reason.QUALITY: "Customer reports part of the delivery damaged.",
    Dispute.Reason.QUANTITY: "Customer says fewer items arrived than invoiced.",
    Dispute.Reason.PRICING: "Customer expects the contract price, not list price.",
    Dispute.Reason.NOT_RECEIVED: "Customer has no record of the delivery.",
    Dispute.Reason.OTHER: "Customer cancelled the order and returned the goods.",
}


@contextmanager
def historical_timestamps() -> Iterator[None]:
    """Let bulk inserts keep the creation times they are given (the history's
    moments) instead of the seeding's: ``auto_now_add`` is set aside for the
    duration (seeding runs alone in its process)."""
    fields = [model._meta.get_field(name) for model, name in TIMESTAMPED]
    for model_field in fields:
        model_field.auto_now_add = False
    try:
        yield
    finally:
        for model_field in fields:
            model_field.auto_now_add = True


# --- What the history knows about an invoice ----------------------------------------


@dataclass(slots=True, eq=False)
class _Invoice:
    id: int
    number: str
    customer_id: int
    currency: str
    invoice_date: date
    due_date: date
    settled_date: date | None
    postings: list[tuple[date, Decimal, str]] = field(default_factory=list)
    issued_offset: int | None = None

    def balance_before(self, day: date) -> Decimal:
        return sum((a for d, a, _ in self.postings if d < day), Decimal(0))

    def paid_between(self, first: date, last: date) -> Decimal:
        return -sum(
            (
                a
                for d, a, kind in self.postings
                if kind == LedgerEntry.Kind.ALLOCATION and first <= d <= last
            ),
            Decimal(0),
        )

    def payment_days(self, after: date) -> list[date]:
        return sorted(
            d
            for d, _, kind in self.postings
            if kind == LedgerEntry.Kind.ALLOCATION and d > after
        )

    def open_on(self, day: date) -> bool:
        """Open when the run of ``day`` looks at it (settled later, if at all)."""
        return (
            self.invoice_date <= day
            and (self.settled_date is None or self.settled_date > day)
            and self.balance_before(day) > 0
        )

    def settled_by(self, day: date) -> bool:
        return self.settled_date is not None and self.settled_date <= day


@dataclass(slots=True, eq=False)
class _Promise:
    id: int
    customer_id: int
    currency: str
    invoices: list[_Invoice]
    amount: Decimal
    made_on: date
    promised_date: date
    collector_id: int | None
    status: str = PromiseToPay.Status.ACTIVE
    paid: Decimal = Decimal(0)
    judged_on: date | None = None

    @property
    def deadline(self) -> date:
        return self.promised_date + timedelta(days=PROMISE_GRACE_DAYS)


@dataclass(slots=True)
class _Pause:
    invoice_ids: set[int]
    first_day: date  # the first run that leaves the invoices alone
    end_day: date | None  # the first run that chases them again (None: still paused)

    def covers(self, invoice_id: int, day: date) -> bool:
        return (
            invoice_id in self.invoice_ids
            and self.first_day <= day
            and (self.end_day is None or day < self.end_day)
        )


@dataclass(slots=True)
class _Call:
    day: date
    notice_id: int | None = None
    attempt: int = 1
    forced_outcome: str = ""
    promised_date: date | None = None
    invoice: _Invoice | None = None  # the one invoice a forced call is about


@dataclass
class _Account:
    """One customer while its history is replayed."""

    customer: Customer
    contacts: list[Contact]
    invoices: list[_Invoice]
    collector_id: int | None
    dnc_since: date | None = None
    seeded_hold: bool = False
    pauses: list[_Pause] = field(default_factory=list)
    promises: list[_Promise] = field(default_factory=list)
    calls: dict[date, list[_Call]] = field(default_factory=lambda: defaultdict(list))
    days: list[date] = field(default_factory=list)  # a heap of days to look at
    next_action: date | None = None
    last_contact: datetime | None = None
    call_requested: bool = False
    agency_invoices: set[int] = field(default_factory=set)
    hold_until: date | None = None  # day of release (None: none pending)
    on_hold: bool = False

    def paused(self, invoice: _Invoice, day: date) -> bool:
        if any(pause.covers(invoice.id, day) for pause in self.pauses):
            return True
        return any(
            p.made_on < day
            and (p.judged_on is None or day < p.judged_on)
            and invoice in p.invoices
            for p in self.promises
        )


# --- The replay ---------------------------------------------------------------------


class CollectionHistory:
    def __init__(self, organization: Organization, *, seed: int, start: date):
        self.organization = organization
        self.tz = organization.tzinfo
        self.today = organization.today()
        self.yesterday = self.today - timedelta(days=1)
        self.start = start
        self.random = random.Random(seed + 3)
        self.writer = BulkWriter()
        self.cache = rendering.TemplateCache()
        users = get_user_model().objects
        slug = organization.slug
        self.finance = users.filter(username=f"finance@{slug}.o2c").first()
        self.users = {
            user.pk: user
            for user in users.filter(memberships__organization=organization)
        }
        self.runs: dict[date, int] = {}
        self.run_counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
        self.counts: dict[str, int] = defaultdict(int)
        self.scenarios_placed = False
        # Notices go through the ORM, not the writer: PostgreSQL's COPY would load
        # the empty ``document`` (a file field, not a text field) as NULL.
        self.notices: list[dict] = []

    def run(self, progress) -> dict[str, int]:
        started = monotonic()
        self.policy = standard_policy_create(actor=SEED_ACTOR)
        self.steps = list(DunningStep.objects.filter(policy=self.policy))
        # The policy has been in force since the history's first day.
        DunningPolicy.objects.filter(pk=self.policy.pk).update(
            created_at=self._moment(self.start, 8)
        )
        AuditEvent.objects.filter(
            Q(object_type="collecting.dunningpolicy", object_id=str(self.policy.pk))
            | Q(
                object_type="collecting.dunningstep",
                object_id__in=[str(step.pk) for step in self.steps],
            )
        ).update(created_at=self._moment(self.start, 8))
        self.steps.sort(key=lambda step: step.offset_days)
        self.offsets = [step.offset_days for step in self.steps]
        customer_ids = list(
            Customer.objects.order_by("pk").values_list("pk", flat=True)
        )
        with historical_timestamps():
            self._runs()
            for first in range(0, len(customer_ids), CHUNK_CUSTOMERS):
                chunk = customer_ids[first : first + CHUNK_CUSTOMERS]
                accounts = self._accounts(chunk)
                self._plan_disputes(accounts)
                if not self.scenarios_placed:
                    self._plan_first_chunk(accounts)
                    self.scenarios_placed = True
                for account in accounts:
                    self._replay(account)
                    self._finish(account)
                self._flush()
            self._finish_runs()
            self.writer.flush()
        progress(
            f"  collections: {self.counts['notices']:,} notices, "
            f"{self.counts['calls']:,} calls, {self.counts['promises']:,} promises, "
            f"{self.counts['disputes']:,} disputes, up to {self.yesterday} "
            f"({monotonic() - started:.1f} s)"
        )
        return dict(self.counts)

    # --- loading ---------------------------------------------------------------------
    def _accounts(self, customer_ids: list[int]) -> list[_Account]:
        invoices: dict[int, _Invoice] = {}
        for row in (
            Invoice.objects.filter(
                customer_id__in=customer_ids,
                status__in=(
                    Invoice.Status.OPEN,
                    Invoice.Status.PARTIALLY_PAID,
                    Invoice.Status.PAID,
                ),
            )
            .order_by("due_date", "pk")
            .values_list(
                "pk", "number", "customer_id", "currency", "invoice_date",
                "due_date", "settled_date",
            )
        ):  # fmt: skip
            invoices[row[0]] = _Invoice(*row)
        for invoice_id, day, amount, kind in (
            LedgerEntry.objects.filter(customer_id__in=customer_ids)
            .exclude(invoice_id=None)
            .order_by("posting_date", "pk")
            .values_list("invoice_id", "posting_date", "amount", "kind")
        ):
            if invoice_id in invoices:
                invoices[invoice_id].postings.append((day, amount, kind))
        by_customer: dict[int, list[_Invoice]] = defaultdict(list)
        for invoice in invoices.values():
            by_customer[invoice.customer_id].append(invoice)
        contacts: dict[int, list[Contact]] = defaultdict(list)
        for contact in Contact.objects.filter(customer_id__in=customer_ids):
            contacts[contact.customer_id].append(contact)
        accounts = []
        for customer in Customer.objects.filter(pk__in=customer_ids).order_by("pk"):
            account = _Account(
                customer=customer,
                contacts=contacts[customer.pk],
                invoices=by_customer[customer.pk],
                collector_id=customer.collector_id,
                seeded_hold=customer.on_credit_hold,
            )
            if customer.do_not_contact:
                account.dnc_since = self.start
            accounts.append(account)
        return accounts

    def _runs(self) -> None:
        """One completed run a day from the policy's start to yesterday, written
        before the notices that point at them; their figures come at the end."""
        day = self.start
        while day <= self.yesterday:
            run_id = self.runs[day] = self.writer.new_id(DunningRun)
            started = self._moment(day, 6)
            self.writer.add(
                DunningRun,
                {
                    "id": run_id,
                    "organization_id": self.organization.pk,
                    "run_date": day,
                    "status": DunningRun.Status.COMPLETED,
                    "started_at": started,
                    "finished_at": started + timedelta(seconds=4),
                    "notices_created": 0,
                    "invoices_noticed": 0,
                    "error": "",
                },
            )
            day += timedelta(days=1)
        self.writer.flush()

    def _flush(self) -> None:
        Notice.objects.bulk_create(
            [Notice(**row) for row in self.notices], batch_size=2_000
        )
        self.notices = []
        self.writer.flush()

    def _finish_runs(self) -> None:
        runs = list(DunningRun.objects.filter(pk__in=self.runs.values()))
        for run in runs:
            run.notices_created, run.invoices_noticed = self.run_counts[run.run_date]
            self._audit(
                RUN_ACTOR, "collecting.dunningrun", run.pk, "transition",
                run.finished_at, DunningRun.Status.RUNNING,
                DunningRun.Status.COMPLETED, {"notices": run.notices_created},
            )  # fmt: skip
        DunningRun.objects.bulk_update(
            runs, ["notices_created", "invoices_noticed"], batch_size=500
        )

    # --- what is decided before the replay ---------------------------------------
    def _plan_disputes(self, accounts: list[_Account]) -> None:
        """Disputes behind credit notes, and some rejected or withdrawn ones."""
        rnd = self.random
        by_id = {a.customer.pk: a for a in accounts}
        invoices = {i.id: i for a in accounts for i in a.invoices}
        for note in (
            CreditNote.objects.filter(customer_id__in=list(by_id))
            .exclude(status=CreditNote.Status.VOID)
            .order_by("credit_date", "pk")
        ):
            reason = DISPUTE_REASONS.get(note.reason)
            invoice = invoices.get(note.invoice_id)
            if reason is None or invoice is None or rnd.random() > 0.7:
                continue
            opened = max(
                invoice.invoice_date, note.credit_date - timedelta(rnd.randint(2, 9))
            )
            self._dispute(
                by_id[note.customer_id], invoice, reason, opened, note.credit_date,
                Dispute.Status.RESOLVED_CREDIT_NOTE, credit_note=note,
                note=f"Credit note {note.number} issued: {note.reason.lower()}.",
            )  # fmt: skip
        for account in accounts:
            for invoice in account.invoices:
                settled = invoice.settled_date
                if (
                    settled is None
                    or (settled - invoice.due_date).days < 30
                    or rnd.random() > 0.05
                ):
                    continue
                opened = invoice.due_date + timedelta(rnd.randint(5, 12))
                resolved = opened + timedelta(rnd.randint(4, 14))
                if resolved >= min(settled, self.today):
                    continue
                withdrawn = rnd.random() < 0.3
                reason = rnd.choice(
                    [Dispute.Reason.QUANTITY, Dispute.Reason.NOT_RECEIVED]
                )
                self._dispute(
                    account, invoice, reason, opened, resolved,
                    Dispute.Status.WITHDRAWN if withdrawn
                    else Dispute.Status.RESOLVED_COMPANY_FAVOUR,
                    note="Customer found the goods and withdrew the claim."
                    if withdrawn
                    else "Proof of delivery signed by the customer's warehouse "
                    "sent; the invoice stands.",
                )  # fmt: skip

    def _plan_first_chunk(self, accounts: list[_Account]) -> None:
        """What the first start should show: open disputes, a payment plan,
        do-not-contact customers, and promises and call-backs falling due today."""
        rnd = self.random
        taken: set[int] = set()
        overdue = [
            (account, invoice)
            for account in accounts
            if account.dnc_since is None and account.collector_id is not None
            for invoice in account.invoices
            if invoice.open_on(self.today)
            and (self.today - invoice.due_date).days >= 12
        ]
        self._payment_plan(accounts, taken)
        self._scenario_promises(overdue, taken)
        for account, invoice in rnd.sample(overdue, len(overdue)):
            if account.customer.pk in taken:
                continue
            if self.counts["open_disputes"] >= OPEN_DISPUTES:
                break
            days_overdue = (self.today - invoice.due_date).days
            opened = self.today - timedelta(rnd.randint(2, min(20, days_overdue - 5)))
            reason = rnd.choice([Dispute.Reason.PRICING, Dispute.Reason.QUALITY])
            self._dispute(account, invoice, reason, opened, None, Dispute.Status.OPEN)
            taken.add(account.customer.pk)
            self.counts["open_disputes"] += 1
        customers = [
            a
            for a in accounts
            if a.dnc_since is None
            and a.customer.pk not in taken
            and any(i.open_on(self.today) for i in a.invoices)
        ]
        for account in rnd.sample(customers, min(2, len(customers))):
            self._do_not_contact(account, self.today - timedelta(rnd.randint(30, 120)))

    def _payment_plan(self, accounts: list[_Account], taken: set[int]) -> None:
        """A plan agreed with a customer who then paid in parts: its instalments are
        those payments, the rest is still to come."""
        rnd = self.random
        for account in accounts:
            if account.dnc_since is not None or account.collector_id is None:
                continue
            for invoice in account.invoices:
                if not invoice.open_on(self.today):
                    continue
                later = invoice.payment_days(invoice.due_date + timedelta(14))
                if not later or later[-1] >= self.today:
                    continue
                start = later[0] - timedelta(rnd.randint(6, 12))
                if start <= invoice.due_date + timedelta(10) or any(
                    day >= start and kind != LedgerEntry.Kind.ALLOCATION
                    for day, _, kind in invoice.postings
                ):
                    continue  # not overdue long enough, or settled otherwise too
                # Every payment from the plan's first day counts toward it.
                paid_days = invoice.payment_days(start - timedelta(1))
                self._write_plan(account, invoice, start, paid_days)
                taken.add(account.customer.pk)
                return

    def _write_plan(self, account, invoice: _Invoice, start: date, paid_days) -> None:
        rnd, org_id = self.random, self.organization.pk
        total = invoice.balance_before(start)
        plan_id = self.writer.new_id(PaymentPlan)
        created = self._moment(start, 11)
        schedule, covered, due = [], Decimal(0), start
        for day in sorted(set(paid_days)):
            amount = invoice.paid_between(day, day)
            due = max(due, day + timedelta(rnd.randint(0, 3)))  # paid by its date
            schedule.append((due, amount, day))
            covered += amount
        rest = total - covered
        first_open = self.today + timedelta(rnd.randint(8, 20))
        if rest > 0:
            schedule.append((first_open, rest, None))
        self.writer.add(
            PaymentPlan,
            {
                "id": plan_id,
                "organization_id": org_id,
                "customer_id": account.customer.pk,
                "currency": invoice.currency,
                "total_amount": total,
                "start_date": start,
                "status": PaymentPlan.Status.ACTIVE,
                "note": "Agreed by phone: the balance in monthly parts.",
                "created_at": created,
            },
        )
        self.writer.add(
            PaymentPlanInvoice,
            {
                "id": self.writer.new_id(PaymentPlanInvoice),
                "organization_id": org_id,
                "plan_id": plan_id,
                "invoice_id": invoice.id,
            },
        )
        collector = self.users.get(account.collector_id)
        self._audit(
            Actor(label=collector.username, role="collector", user=collector),
            "collecting.paymentplan", plan_id, "created", created, "",
            PaymentPlan.Status.ACTIVE,
        )  # fmt: skip
        for sequence, (due, amount, paid_on) in enumerate(schedule, 1):
            instalment_id = self.writer.new_id(PaymentPlanInstalment)
            status = PaymentPlanInstalment.Status.PENDING
            if paid_on is not None:
                status = PaymentPlanInstalment.Status.PAID
                self._audit(
                    RUN_ACTOR, "collecting.paymentplaninstalment", instalment_id,
                    "transition", self._moment(paid_on + timedelta(1), 6),
                    PaymentPlanInstalment.Status.PENDING, status,
                )  # fmt: skip
            self.writer.add(
                PaymentPlanInstalment,
                {
                    "id": instalment_id,
                    "organization_id": org_id,
                    "plan_id": plan_id,
                    "sequence": sequence,
                    "due_date": due,
                    "amount": amount,
                    "status": status,
                },
            )
        account.pauses.append(_Pause({invoice.id}, start + timedelta(1), None))
        self._note(
            account,
            created,
            Outcome.NONE,
            f"Payment plan agreed for {invoice.number}: {len(schedule)} instalments.",
            kind=Activity.Kind.NOTE,
        )
        self.counts["payment_plans"] += 1

    def _scenario_promises(self, overdue, taken: set[int]) -> None:
        """A promise that today's run finds broken (its invoices' next step then
        goes out today), one due today, and a call-back due today."""
        broken_on = self.today - timedelta(PROMISE_GRACE_DAYS + 1)
        made_on = self.today - timedelta(10)
        scenarios = [
            ("broken today", made_on, broken_on),
            ("due today", self.today - timedelta(6), self.today),
            ("call back", self.yesterday, None),
        ]
        for label, call_day, promised in scenarios:
            for account, invoice in overdue:
                if account.customer.pk in taken:
                    continue
                if label == "broken today" and not self._step_falls_in(
                    invoice, made_on, self.today
                ):
                    continue
                if promised is not None and invoice.paid_between(call_day, self.today):
                    continue
                account.calls[call_day].append(
                    _Call(
                        call_day,
                        forced_outcome=Outcome.PROMISED
                        if promised
                        else Outcome.NO_ANSWER,
                        promised_date=promised,
                        invoice=invoice,
                    )
                )
                heapq.heappush(account.days, call_day)
                taken.add(account.customer.pk)
                break

    def _step_falls_in(self, invoice: _Invoice, after: date, until: date) -> bool:
        return any(
            after < invoice.due_date + timedelta(offset) <= until
            for offset in self.offsets
            if offset > 0
        )

    def _dispute(
        self, account, invoice, reason, opened, resolved, status, *,
        credit_note=None, note="",
    ) -> None:  # fmt: skip
        org_id, rnd = self.organization.pk, self.random
        dispute_id = self.writer.new_id(Dispute)
        owner_id = account.collector_id
        opened_at = self._moment(opened, rnd.randint(9, 16))
        resolved_at = self._moment(resolved, 14) if resolved else None
        self.writer.add(
            Dispute,
            {
                "id": dispute_id,
                "organization_id": org_id,
                "customer_id": account.customer.pk,
                "reason_code": reason,
                "description": DISPUTE_TEXTS[reason],
                "owner_id": owner_id,
                "status": status,
                "credit_note_id": credit_note.pk if credit_note else None,
                "resolution_note": note,
                "opened_on": opened,
                "created_at": opened_at,
                "resolved_at": resolved_at,
            },
        )
        self.writer.add(
            DisputeInvoice,
            {
                "id": self.writer.new_id(DisputeInvoice),
                "organization_id": org_id,
                "dispute_id": dispute_id,
                "invoice_id": invoice.id,
            },
        )
        opener = self._actor(owner_id)
        self._audit(
            opener, "collecting.dispute", dispute_id, "opened", opened_at, "",
            Dispute.Status.OPEN,
        )  # fmt: skip
        if resolved is not None:
            resolver = self._actor(self.finance.pk if self.finance else owner_id)
            self._audit(
                resolver, "collecting.dispute", dispute_id, "transition",
                resolved_at, Dispute.Status.OPEN, status, {"note": note},
            )  # fmt: skip
        account.pauses.append(_Pause({invoice.id}, opened + timedelta(1), resolved))
        if resolved is not None:
            heapq.heappush(account.days, resolved)
        self.counts["disputes"] += 1

    def _do_not_contact(self, account: _Account, since: date) -> None:
        account.dnc_since = since
        Customer.objects.filter(pk=account.customer.pk).update(do_not_contact=True)
        at = self._moment(since, 10)
        actor = self._actor(self.finance.pk if self.finance else None)
        self._audit(
            actor, "orders.customer", account.customer.pk, "updated", at, "", "",
            {"do_not_contact": True},
        )  # fmt: skip
        self._note(
            account,
            at,
            Outcome.NONE,
            "The customer's lawyer asked that all correspondence about open "
            "invoices go through their office: do not contact directly.",
            kind=Activity.Kind.NOTE,
        )

    # --- one customer, day by day -------------------------------------------------
    def _replay(self, account: _Account) -> None:
        days = account.days
        for invoice in account.invoices:
            for offset in self.offsets:
                day = invoice.due_date + timedelta(offset)
                if self.start <= day <= self.yesterday:
                    days.append(day)
        heapq.heapify(days)
        done: date | None = None
        while days:
            day = heapq.heappop(days)
            if day == done or day > self.yesterday or day < self.start:
                continue
            done = day
            self._judge_promises(account, day)
            if account.hold_until is not None and account.hold_until <= day:
                self._release_hold(account, account.hold_until)
            if account.dnc_since is None or day < account.dnc_since:
                self._dun(account, day)
            for call in account.calls.pop(day, []):
                self._call(account, call)

    def _dun(self, account: _Account, day: date) -> None:
        by_currency: dict[str, list[tuple[_Invoice, DunningStep]]] = defaultdict(list)
        for invoice in account.invoices:
            days_since_due = (day - invoice.due_date).days
            if days_since_due < self.offsets[0] or not invoice.open_on(day):
                continue
            index = bisect.bisect_right(self.offsets, days_since_due) - 1
            step = self.steps[index]
            if step.offset_days < 0 < days_since_due:
                continue  # no "falls due soon" about an overdue invoice
            issued = invoice.issued_offset
            if issued is not None and step.offset_days <= issued:
                continue
            if account.paused(invoice, day):
                continue
            by_currency[invoice.currency].append((invoice, step))
        for currency, listed in sorted(by_currency.items()):
            self._notice(account, day, currency, listed)

    def _notice(self, account: _Account, day: date, currency: str, listed) -> None:
        org_id, customer = self.organization.pk, account.customer
        step = max((step for _, step in listed), key=lambda s: s.offset_days)
        notice_id = self.writer.new_id(Notice)
        listed.sort(key=lambda pair: (pair[0].due_date, pair[0].id))
        lines = [
            rendering.Line(
                invoice_id=invoice.id,
                number=invoice.number,
                invoice_date=invoice.invoice_date,
                due_date=invoice.due_date,
                days_overdue=(day - invoice.due_date).days,
                open_amount=quantize(invoice.balance_before(day), currency),
            )
            for invoice, _ in listed
        ]
        context = rendering.notice_context(
            organization=self.organization,
            customer=customer,
            contacts=account.contacts,
            lines=lines,
            currency=currency,
            fee=Decimal(0),
            notice_date=day,
            step_name=step.name,
        )
        rendered = self.cache.render(step, customer.language, context)
        created = self._moment(day, 6) + timedelta(seconds=5 + notice_id % 600)
        sent = created + timedelta(seconds=2)
        recipients = []
        if step.channel == Channel.EMAIL:
            recipients = rendering.recipients_for(customer, account.contacts)
        self.notices.append(
            {
                "id": notice_id,
                "organization_id": org_id,
                "customer_id": customer.pk,
                "run_id": self.runs[day],
                "step_id": step.pk,
                "template_id": None,
                "plan_instalment_id": None,
                "channel": step.channel,
                "currency": currency,
                "notice_date": day,
                "status": Notice.Status.SENT,
                "total_amount": quantize(
                    sum((line.open_amount for line in lines), Decimal(0)), currency
                ),
                "fee_amount": Decimal(0),
                "recipients": recipients,
                "subject": rendered.subject,
                "body": rendered.body,
                "message_id": f"<notice-{notice_id}.{org_id}@o2c.localhost>",
                "document": "",
                "error": "",
                "created_by_id": None,
                "created_at": created,
                "claimed_at": created + timedelta(seconds=1),
                "sent_at": sent,
            },
        )
        for (invoice, item_step), line in zip(listed, lines, strict=True):
            invoice.issued_offset = item_step.offset_days
            self.writer.add(
                NoticeItem,
                {
                    "id": self.writer.new_id(NoticeItem),
                    "organization_id": org_id,
                    "notice_id": notice_id,
                    "invoice_id": invoice.id,
                    "step_id": item_step.pk,
                    "offset_days": item_step.offset_days,
                    "days_overdue": line.days_overdue,
                    "open_amount": line.open_amount,
                    "interest_amount": Decimal(0),
                    "left_off_reason": "",
                },
            )
        self._audit(
            SENDER_ACTOR, "collecting.notice", notice_id, "claimed",
            created + timedelta(seconds=1), Notice.Status.PENDING,
            Notice.Status.SENDING,
        )  # fmt: skip
        self._audit(
            SENDER_ACTOR, "collecting.notice", notice_id, "sent", sent,
            Notice.Status.SENDING, Notice.Status.SENT,
        )  # fmt: skip
        self.run_counts[day][0] += 1
        self.run_counts[day][1] += len(listed)
        self.counts["notices"] += 1
        self._channel_effect(account, day, step, notice_id, [i for i, _ in listed])

    def _channel_effect(self, account, day, step, notice_id, invoices) -> None:
        rnd = self.random
        if step.channel == Channel.CALL_TASK:
            account.call_requested = True
            self._schedule_call(account, _Call(day, notice_id), rnd.randint(0, 2))
        elif step.offset_days == 21 and rnd.random() < 0.3:
            # Larger accounts get a call after the second reminder, too.
            if account.customer.segment in ("enterprise", "mid-market"):
                self._schedule_call(account, _Call(day), rnd.randint(2, 5))
        elif step.channel == Channel.CREDIT_HOLD:
            self._hold(account, day, invoices)
        elif step.channel == Channel.AGENCY_REVIEW:
            account.agency_invoices.update(invoice.id for invoice in invoices)

    def _schedule_call(self, account: _Account, call: _Call, after_days: int) -> None:
        day = call.day + timedelta(after_days)
        while day.weekday() >= 5:
            day += timedelta(1)
        if account.collector_id is None or day > self.yesterday:
            return  # nobody owns the account, or the call is still to be made
        call.day = day
        account.calls[day].append(call)
        heapq.heappush(account.days, day)

    # --- calls and promises -----------------------------------------------------------
    def _call(self, account: _Account, call: _Call) -> None:
        rnd, day = self.random, call.day
        if account.dnc_since is not None and day >= account.dnc_since:
            return
        chased = [
            invoice
            for invoice in ([call.invoice] if call.invoice else account.invoices)
            if invoice.open_on(day + timedelta(1))
            and invoice.due_date < day
            and not account.paused(invoice, day + timedelta(1))
        ]
        if not chased and not call.forced_outcome:
            return
        at = self._moment(day, rnd.randint(9, 16)) + timedelta(
            minutes=rnd.randint(0, 59)
        )
        soon_paid = any(invoice.settled_by(day + timedelta(4)) for invoice in chased)
        outcome = call.forced_outcome or _draw_outcome(rnd, soon_paid)
        promise = None
        if outcome == Outcome.PROMISED:
            promise = self._promise(account, day, chased, call.promised_date)
            if promise is None:
                outcome = Outcome.LEFT_VOICEMAIL
        note = _call_note(outcome, promise, self.organization)
        self._note(account, at, outcome, note, notice_id=call.notice_id)
        account.call_requested = False
        self.counts["calls"] += 1
        if outcome in Activity.REACHED:
            account.last_contact = at
        if outcome in (Outcome.NO_ANSWER, Outcome.LEFT_VOICEMAIL):
            back = day + timedelta(rnd.randint(2, 4))
            if call.forced_outcome:
                back = self.today
            account.next_action = back
            if call.attempt < 2:
                self._schedule_call(
                    account,
                    _Call(day, call.notice_id, call.attempt + 1),
                    (back - day).days,
                )
        elif promise is not None:
            account.next_action = promise.promised_date

    def _promise(self, account, day, invoices, promised_date) -> _Promise | None:
        rnd = self.random
        if not invoices:
            return None
        currency = invoices[0].currency
        # Money arriving on the day of the call is not part of the promise.
        invoices = [
            invoice
            for invoice in invoices
            if invoice.currency == currency and not invoice.paid_between(day, day)
        ]
        if not invoices:
            return None
        if promised_date is None:
            promised_date = day + timedelta(rnd.randint(4, 12))
            paying = [
                invoice
                for invoice in invoices
                if invoice.settled_date and (invoice.settled_date - day).days <= 30
            ]
            if paying and rnd.random() < 0.75:
                # Most who promise pay what they promised, about when they said.
                invoices = paying
                last = max(invoice.settled_date for invoice in paying)
                promised_date = max(
                    day + timedelta(1), last - timedelta(rnd.randint(0, 2))
                )
        amount = quantize(
            sum((i.balance_before(day + timedelta(1)) for i in invoices), Decimal(0)),
            currency,
        )
        if amount <= 0:
            return None
        promise = _Promise(
            id=self.writer.new_id(PromiseToPay),
            customer_id=account.customer.pk,
            currency=currency,
            invoices=invoices,
            amount=amount,
            made_on=day,
            promised_date=promised_date,
            collector_id=account.collector_id,
        )
        account.promises.append(promise)
        last = min(promise.deadline + timedelta(1), self.yesterday)
        judge_day = day + timedelta(1)
        while judge_day <= last:
            heapq.heappush(account.days, judge_day)
            judge_day += timedelta(1)
        self.counts["promises"] += 1
        return promise

    def _judge_promises(self, account: _Account, day: date) -> None:
        """The run's rule: kept as soon as the amount is paid (or every invoice is
        settled); after the date plus grace, partially kept or broken."""
        for promise in account.promises:
            if promise.status != PromiseToPay.Status.ACTIVE or promise.made_on >= day:
                continue
            paid = sum(
                (i.paid_between(promise.made_on, day) for i in promise.invoices),
                Decimal(0),
            )
            promise.paid = paid
            if paid >= promise.amount or all(
                invoice.settled_by(day) for invoice in promise.invoices
            ):
                outcome = PromiseToPay.Status.KEPT
            elif day <= promise.deadline:
                continue
            elif paid > 0:
                outcome = PromiseToPay.Status.PARTIALLY_KEPT
            else:
                outcome = PromiseToPay.Status.BROKEN
            promise.status, promise.judged_on = outcome, day
            if outcome != PromiseToPay.Status.KEPT:
                account.next_action = day

    # --- holds ---------------------------------------------------------------------
    def _hold(self, account: _Account, day: date, invoices: list[_Invoice]) -> None:
        if account.seeded_hold or account.on_hold:
            return
        account.on_hold = True
        self._audit(
            SENDER_ACTOR, "orders.customer", account.customer.pk, "credit_hold",
            self._moment(day, 6) + timedelta(minutes=1), "", "hold",
            {"reason": "Dunning step Credit hold (+60 days)"},
        )  # fmt: skip
        if all(invoice.settled_date for invoice in invoices):
            released = max(invoice.settled_date for invoice in invoices)
            account.hold_until = released + timedelta(self.random.randint(0, 2))
            heapq.heappush(account.days, account.hold_until)

    def _release_hold(self, account: _Account, day: date) -> None:
        account.on_hold, account.hold_until = False, None
        self._audit(
            self._actor(self.finance.pk if self.finance else None),
            "orders.customer", account.customer.pk, "credit_release",
            self._moment(day, 10), "hold", "",
            {"reason": "Overdue invoices paid"},
        )  # fmt: skip

    # --- writing one customer's results -----------------------------------------------
    def _finish(self, account: _Account) -> None:
        org_id, customer_id = self.organization.pk, account.customer.pk
        for promise in account.promises:
            self._write_promise(promise)
        if account.on_hold:
            Customer.objects.filter(pk=customer_id).update(on_credit_hold=True)
        agency = any(
            invoice.id in account.agency_invoices and invoice.open_on(self.today)
            for invoice in account.invoices
        )
        if not (
            account.next_action
            or account.last_contact
            or account.call_requested
            or agency
        ):
            return
        self.writer.add(
            CustomerCollectionProfile,
            {
                "id": self.writer.new_id(CustomerCollectionProfile),
                "organization_id": org_id,
                "customer_id": customer_id,
                "policy_id": None,
                "next_action_date": account.next_action,
                "on_hold": False,
                "hold_reason": "",
                "agency_review": agency,
                "call_requested": account.call_requested,
                "last_contact_at": account.last_contact,
            },
        )

    def _write_promise(self, promise: _Promise) -> None:
        org_id = self.organization.pk
        made_at = self._moment(promise.made_on, 15)
        judged_at = self._moment(promise.judged_on, 6) if promise.judged_on else None
        self.writer.add(
            PromiseToPay,
            {
                "id": promise.id,
                "organization_id": org_id,
                "customer_id": promise.customer_id,
                "currency": promise.currency,
                "amount": promise.amount,
                "promised_date": promise.promised_date,
                "grace_days": PROMISE_GRACE_DAYS,
                "made_on": promise.made_on,
                "status": promise.status,
                "paid_amount": promise.paid if promise.judged_on else Decimal(0),
                "note": "Promised on the phone.",
                "created_by_id": promise.collector_id,
                "created_at": made_at,
                "evaluated_at": judged_at,
            },
        )
        for invoice in promise.invoices:
            self.writer.add(
                PromiseInvoice,
                {
                    "id": self.writer.new_id(PromiseInvoice),
                    "organization_id": org_id,
                    "promise_id": promise.id,
                    "invoice_id": invoice.id,
                },
            )
        self._audit(
            self._actor(promise.collector_id), "collecting.promisetopay", promise.id,
            "created", made_at, "", PromiseToPay.Status.ACTIVE,
        )  # fmt: skip
        if promise.judged_on:
            self._audit(
                RUN_ACTOR, "collecting.promisetopay", promise.id, "transition",
                judged_at, PromiseToPay.Status.ACTIVE, promise.status,
                {"paid_amount": str(promise.paid),
                 "as_of": promise.judged_on.isoformat()},
            )  # fmt: skip

    def _note(self, account, at, outcome, note, *, notice_id=None, kind=None):
        user = self.users.get(account.collector_id)
        if kind == Activity.Kind.NOTE and self.finance is not None:
            user = self.finance
        self.writer.add(
            Activity,
            {
                "id": self.writer.new_id(Activity),
                "organization_id": self.organization.pk,
                "customer_id": account.customer.pk,
                "kind": kind or Activity.Kind.CALL,
                "outcome": outcome,
                "note": note,
                "notice_id": notice_id,
                "user_id": user.pk if user else None,
                "actor_label": user.username if user else "system",
                "occurred_at": at,
            },
        )

    def _actor(self, user_id: int | None) -> Actor:
        user = self.users.get(user_id)
        if user is None:
            return SEED_ACTOR
        return Actor(label=user.username, role="", user=user)

    def _audit(
        self, actor, object_type, object_id, action, at, from_status="",
        to_status="", data=None,
    ) -> None:  # fmt: skip
        self.writer.add(
            AuditEvent,
            {
                "id": self.writer.new_id(AuditEvent),
                "organization_id": self.organization.pk,
                "created_at": at,
                "actor_user_id": actor.user.pk if actor.user else None,
                "actor_label": actor.label,
                "object_type": object_type,
                "object_id": str(object_id),
                "action": action,
                "from_status": from_status,
                "to_status": to_status,
                "data": data or {},
            },
        )

    def _moment(self, day: date, hour: int) -> datetime:
        return datetime.combine(day, time(hour), tzinfo=self.tz)


def _draw_outcome(rnd: random.Random, soon_paid: bool) -> str:
    if soon_paid and rnd.random() < 0.7:
        return Outcome.PAID
    return rnd.choices(
        [Outcome.NO_ANSWER, Outcome.LEFT_VOICEMAIL, Outcome.PROMISED,
         Outcome.WRONG_CONTACT],
        weights=[25, 15, 55, 5],
    )[0]  # fmt: skip


def _call_note(outcome: str, promise: _Promise | None, organization) -> str:
    if promise is not None:
        amount = rendering.format_money(promise.amount, promise.currency, organization)
        day = rendering.format_date(promise.promised_date, organization)
        return f"Promised {amount} {promise.currency} by {day}."
    return {
        Outcome.PAID: "Says the payment is on its way; watch the bank account.",
        Outcome.NO_ANSWER: "No answer; try again.",
        Outcome.LEFT_VOICEMAIL: "Left a voicemail asking for a call back.",
        Outcome.WRONG_CONTACT: "Reached the switchboard; asked for AP's number.",
    }.get(outcome, "")
