"""Random sequences of receivables operations never break the ledger's invariants.

A hypothesis state machine issues invoices in EUR, JPY and KWD, credits them, takes
payments with and without allocations, allocates, reverses, writes off and charges
fees, on random (often back-dated) days. The services may refuse an operation with
a DomainError; a refusal must leave nothing behind, and an operation a finance
clerk would expect to go through must not be refused. After every step the cached
amounts, the ledger, the as-of balances of every earlier day and the registered
``verify_ledger`` checks must all agree with a plain model of what happened.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from invoicing.models import CreditNote, Invoice, LedgerEntry
from invoicing.selectors import customer_balances
from invoicing.services.invoices import (
    LineInput,
    credit_note_create,
    fee_post,
    invoice_void,
)
from invoicing.status import payment_status
from o2c.checks import run_ledger_checks
from o2c.errors import DomainError
from o2c.money import minor_units, quantize
from o2c.tenancy import activate, deactivate
from reconciliation.models import Allocation, Payment, WriteOff
from reconciliation.services.payments import (
    AllocationInput,
    allocation_create,
    allocation_reverse,
    payment_create,
    payment_reverse,
    write_off_create,
)
from tests.factories import SYSTEM, CustomerFactory, OrganizationFactory, issued_invoice

BASE = date(2026, 1, 1)
CURRENCIES = ("EUR", "JPY", "KWD")
# How many days before the machine's "today" an operation is dated: mostly today,
# often a little back-dated, sometimes weeks back.
days_back = st.one_of(
    st.just(0), st.integers(min_value=0, max_value=3), st.integers(0, 30)
)
currencies = st.sampled_from(CURRENCIES)
minor_amounts = st.integers(min_value=1, max_value=2_000_000)


def money(minor: int, currency: str) -> Decimal:
    return quantize(Decimal(minor).scaleb(-minor_units(currency)), currency)


def minor(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(minor_units(currency)))


REFUSED = object()  # what ``attempt`` returns when the service said no


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.organization = OrganizationFactory()
        self.token = activate(self.organization)
        self.customer = CustomerFactory()
        # The model: what a clerk with a spreadsheet would expect.
        self.open = {}  # invoice id -> open amount
        self.fees = defaultdict(Decimal)  # invoice id -> fees charged on it
        self.currency_of = {}  # invoice id -> currency
        self.invoice_date = {}
        self.void = set()
        self.unapplied = {}  # payment id -> unapplied cash
        self.payment = {}  # payment id -> (amount, currency, received date)
        self.reversed_payments = set()
        self.allocation = {}  # id -> [payment, invoice, amount, date, active]
        self.allocation_reversed_on = {}
        self.last_posting = defaultdict(lambda: BASE)  # invoice/payment key -> day
        # As-of balances of the customer per day, as recorded after each step.
        self.history: dict[date, list] = {}
        self.entries: list[tuple] = []
        self.steps = 0
        self.today = BASE
        self.changed = True
        self.last_snapshot = self.snapshot()

    def teardown(self):
        deactivate(self.token)

    # --- helpers -------------------------------------------------------------

    def attempt(self, operation, *, must_refuse=False, must_accept=False):
        """Run ``operation``; a refusal must leave every row as it was."""
        try:
            result = operation()
        except DomainError as refusal:
            event(f"refused: {refusal.code}")
            assert not must_accept, f"refused unexpectedly: {refusal.message}"
            assert self.snapshot() == self.last_snapshot, "a refusal wrote something"
            return REFUSED
        assert not must_refuse, "an operation that must be refused went through"
        event(f"accepted: {operation.__qualname__.split('.')[1]}")
        self.changed = True
        return result

    def snapshot(self):
        return (
            LedgerEntry.objects.count(),
            Allocation.objects.count(),
            Payment.objects.count(),
            CreditNote.objects.count(),
            WriteOff.objects.count(),
            list(
                Invoice.objects.order_by("pk").values_list(
                    "open_amount", "status", "settled_date"
                )
            ),
            list(
                Payment.objects.order_by("pk").values_list("unapplied_amount", "status")
            ),
            list(Allocation.objects.order_by("pk").values_list("status")),
        )

    def draw_invoice(self, data, *, currency=None):
        """Mostly one with something open; sometimes any (settled, void) one."""
        every = [pk for pk, c in self.currency_of.items() if currency in (None, c)]
        return self.draw_from(data, every, lambda pk: self.open[pk] > 0, Invoice)

    def draw_from(self, data, pks, preferred, model):
        if not pks:
            return None
        likely = [pk for pk in pks if preferred(pk)] or pks
        pool = data.draw(st.sampled_from([likely, likely, likely, pks]))
        return model.objects.get(pk=data.draw(st.sampled_from(sorted(pool))))

    def draw_amount(self, data, around: Decimal, currency: str) -> Decimal:
        """Often exactly ``around``, often a part of it, sometimes too much."""
        limit = max(minor(around, currency), 1)
        return money(
            data.draw(
                st.one_of(
                    st.just(limit),
                    st.integers(min_value=1, max_value=limit),
                    st.integers(min_value=limit + 1, max_value=limit + 1000),
                )
            ),
            currency,
        )

    def draw_payment(self, data):
        return self.draw_from(
            data, list(self.payment), lambda p: self.unapplied[p] > 0, Payment
        )

    def on(self, back: int) -> date:
        return max(BASE, self.today - timedelta(days=back))

    def credit_like(self, invoice, amount, day):
        """Whether a credit of ``amount`` on ``day`` must be refused / accepted."""
        pk = invoice.pk
        must_refuse = amount > self.open[pk] or day < self.invoice_date[pk]
        must_accept = not must_refuse and day >= self.last_posting[("i", pk)]
        return must_refuse, must_accept

    def posted(self, key, day):
        self.last_posting[key] = max(self.last_posting[key], day)

    # --- operations ------------------------------------------------------------

    @rule(days=st.integers(min_value=1, max_value=3))
    def next_day(self, days):
        self.today += timedelta(days=days)

    @initialize(
        invoices=st.lists(st.tuples(currencies, minor_amounts), min_size=1, max_size=3)
    )
    def opening_invoices(self, invoices):
        for currency, amount in invoices:
            self.issue_invoice(currency=currency, amount=amount, back=0)

    @rule(currency=currencies, amount=minor_amounts, back=days_back)
    def issue_invoice(self, currency, amount, back):
        day = self.on(back)
        total = money(amount, currency)
        invoice = self.attempt(
            lambda: issued_invoice(
                self.customer, str(total), invoice_date=day, currency=currency
            ),
            must_accept=True,
        )
        assert invoice.total == total
        self.open[invoice.pk] = total
        self.currency_of[invoice.pk] = currency
        self.invoice_date[invoice.pk] = day
        self.posted(("i", invoice.pk), day)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), back=days_back)
    def credit_note(self, data, back):
        day = self.on(back)
        invoice = self.draw_invoice(data)
        amount = self.draw_amount(data, self.open[invoice.pk], invoice.currency)
        must_refuse, must_accept = self.credit_like(invoice, amount, day)
        outcome = self.attempt(
            lambda: credit_note_create(
                invoice=invoice,
                credit_date=day,
                reason="Goodwill",
                lines=[LineInput("Credit", Decimal(1), amount)],
                actor=SYSTEM,
            ),
            must_refuse=must_refuse,
            must_accept=must_accept,
        )
        if outcome is REFUSED:
            return
        self.open[invoice.pk] -= amount
        self.posted(("i", invoice.pk), day)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), back=days_back)
    def write_off(self, data, back):
        day = self.on(back)
        invoice = self.draw_invoice(data)
        amount = self.draw_amount(data, self.open[invoice.pk], invoice.currency)
        must_refuse, must_accept = self.credit_like(invoice, amount, day)
        outcome = self.attempt(
            lambda: write_off_create(
                invoice=invoice,
                amount=amount,
                write_off_date=day,
                reason="Small difference",
                actor=SYSTEM,
            ),
            must_refuse=must_refuse,
            must_accept=must_accept,
        )
        if outcome is REFUSED:
            return
        self.open[invoice.pk] -= amount
        self.posted(("i", invoice.pk), day)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), back=days_back, amount=st.integers(1, 5000))
    def fee(self, data, back, amount):
        day = self.on(back)
        invoice = self.draw_invoice(data)
        fee = money(amount, invoice.currency)
        refuse = invoice.pk in self.void or day < self.invoice_date[invoice.pk]
        outcome = self.attempt(
            lambda: fee_post(
                invoice=invoice,
                amount=fee,
                posting_date=day,
                memo="Reminder fee",
                document_type="tests.fee",
                document_id=self.steps,
                actor=SYSTEM,
            ),
            must_refuse=refuse,
            must_accept=not refuse,
        )
        if outcome is REFUSED:
            return
        self.open[invoice.pk] += fee
        self.fees[invoice.pk] += fee
        self.posted(("i", invoice.pk), day)

    @precondition(lambda self: self.open)
    @rule(data=st.data(), back=days_back)
    def void_invoice(self, data, back):
        day = self.on(back)
        invoice = self.draw_invoice(data)
        applied = LedgerEntry.objects.filter(invoice=invoice).exclude(
            kind=LedgerEntry.Kind.INVOICE
        )
        refuse = (
            invoice.pk in self.void
            or applied.exists()
            or day < self.invoice_date[invoice.pk]
        )
        outcome = self.attempt(
            lambda: invoice_void(invoice=invoice, actor=SYSTEM, void_date=day),
            must_refuse=refuse,
            must_accept=not refuse,
        )
        if outcome is REFUSED:
            return
        self.open[invoice.pk] = Decimal(0)
        self.void.add(invoice.pk)
        self.posted(("i", invoice.pk), day)

    @rule(
        data=st.data(),
        currency=currencies,
        amount=minor_amounts,
        back=days_back,
        allocation_count=st.integers(min_value=0, max_value=2),
    )
    def receive_payment(self, data, currency, amount, back, allocation_count):
        day = self.on(back)
        settling = self.draw_invoice(data) if allocation_count else None
        if settling is not None:
            currency = settling.currency
        wanted = []
        for _ in range(allocation_count):
            invoice = self.draw_invoice(data, currency=currency)
            if invoice is None:
                break
            wanted.append(
                (invoice, self.draw_amount(data, self.open[invoice.pk], currency))
            )
        per_invoice = defaultdict(Decimal)
        for invoice, part in wanted:
            per_invoice[invoice.pk] += part
        allocated = sum(per_invoice.values(), Decimal(0))
        # Remittances often match the invoices exactly, or overpay a little.
        cash = data.draw(
            st.sampled_from(
                [
                    money(amount, currency),
                    allocated or money(amount, currency),
                    allocated + money(amount % 1000 + 1, currency),
                ]
            )
        )
        must_refuse = allocated > cash or any(
            part > self.open[pk] for pk, part in per_invoice.items()
        )
        must_accept = not must_refuse and all(
            max(day, self.invoice_date[pk]) >= self.last_posting[("i", pk)]
            for pk in per_invoice
        )
        payment = self.attempt(
            lambda: payment_create(
                customer=self.customer,
                amount=cash,
                currency=currency,
                received_date=day,
                allocations=[AllocationInput(i, part) for i, part in wanted],
                actor=SYSTEM,
            ),
            must_refuse=must_refuse,
            must_accept=must_accept,
        )
        if payment is REFUSED:
            return
        self.payment[payment.pk] = (cash, currency, day)
        self.unapplied[payment.pk] = cash - allocated
        self.posted(("p", payment.pk), day)
        for allocation in payment.allocations.order_by("pk"):
            self.record_allocation(allocation)

    def record_allocation(self, allocation):
        payment, invoice = allocation.payment_id, allocation.invoice_id
        self.allocation[allocation.pk] = [
            payment,
            invoice,
            allocation.amount,
            allocation.allocation_date,
            True,
        ]
        self.open[invoice] -= allocation.amount
        self.posted(("i", invoice), allocation.allocation_date)
        self.posted(("p", payment), allocation.allocation_date)

    @precondition(lambda self: self.payment and self.open)
    @rule(data=st.data(), back=st.one_of(st.none(), days_back))
    def allocate(self, data, back):
        day = None if back is None else self.on(back)
        payment = self.draw_payment(data)
        currency = data.draw(st.sampled_from([payment.currency] * 3 + [None]))
        invoice = self.draw_invoice(data, currency=currency) or self.draw_invoice(data)
        amount = self.draw_amount(
            data,
            min(self.open[invoice.pk], self.unapplied[payment.pk]) or Decimal(1),
            invoice.currency,
        )
        if invoice.currency != payment.currency:
            amount = quantize(1, payment.currency)
        effective = day or max(payment.received_date, self.invoice_date[invoice.pk])
        must_refuse = (
            payment.pk in self.reversed_payments
            or invoice.currency != payment.currency
            or amount > self.unapplied[payment.pk]
            or amount > self.open[invoice.pk]
            or effective < max(payment.received_date, self.invoice_date[invoice.pk])
        )
        must_accept = (
            not must_refuse
            and effective >= self.last_posting[("i", invoice.pk)]
            and effective >= self.last_posting[("p", payment.pk)]
        )
        allocation = self.attempt(
            lambda: allocation_create(
                payment=payment,
                invoice=invoice,
                amount=amount,
                allocation_date=day,
                actor=SYSTEM,
            ),
            must_refuse=must_refuse,
            must_accept=must_accept,
        )
        if allocation is REFUSED:
            return
        assert allocation.allocation_date == effective
        self.unapplied[payment.pk] -= amount
        self.record_allocation(allocation)

    @precondition(lambda self: self.allocation)
    @rule(data=st.data(), back=days_back)
    def reverse_allocation(self, data, back):
        day = self.on(back)
        pk = self.draw_from(
            data, list(self.allocation), lambda a: self.allocation[a][4], Allocation
        ).pk
        *_, allocated_on, active = self.allocation[pk]
        refuse = not active or day < allocated_on
        outcome = self.attempt(
            lambda: allocation_reverse(
                allocation=Allocation.objects.get(pk=pk),
                reversal_date=day,
                actor=SYSTEM,
            ),
            must_refuse=refuse,
            must_accept=not refuse,
        )
        if outcome is REFUSED:
            return
        self.unreverse_allocation(pk, day)

    def unreverse_allocation(self, pk, day):
        payment, invoice, amount, _, _ = self.allocation[pk]
        self.allocation[pk][4] = False
        self.allocation_reversed_on[pk] = day
        self.open[invoice] += amount
        self.unapplied[payment] += amount
        self.posted(("i", invoice), day)
        self.posted(("p", payment), day)

    @precondition(lambda self: self.payment)
    @rule(data=st.data(), back=days_back)
    def reverse_payment(self, data, back):
        day = self.on(back)
        pk = self.draw_payment(data).pk
        mine = [a for a, row in self.allocation.items() if row[0] == pk]
        latest = max(
            [self.payment[pk][2]]
            + [self.allocation_reversed_on.get(a, self.allocation[a][3]) for a in mine]
        )
        refuse = pk in self.reversed_payments or day < latest
        outcome = self.attempt(
            lambda: payment_reverse(
                payment=Payment.objects.get(pk=pk), reversal_date=day, actor=SYSTEM
            ),
            must_refuse=refuse,
            must_accept=not refuse,
        )
        if outcome is REFUSED:
            return
        for allocation in mine:
            if self.allocation[allocation][4]:
                self.unreverse_allocation(allocation, day)
        self.reversed_payments.add(pk)
        self.unapplied[pk] = Decimal(0)
        self.posted(("p", pk), day)

    # --- invariants ------------------------------------------------------------

    @invariant()
    def cached_amounts_agree_with_the_ledger_and_the_model(self):
        self.steps += 1
        if not self.changed:
            return  # a refusal was already checked to have written nothing
        self.changed = False
        entries = list(
            LedgerEntry.objects.order_by("pk").values_list(
                "pk", "invoice_id", "payment_id", "amount", "currency", "posting_date"
            )
        )
        # Append-only: whatever was there before this step is still there as it was.
        assert entries[: len(self.entries)] == self.entries
        new_entries = entries[len(self.entries) :]
        per_invoice, on_account, per_currency = (defaultdict(Decimal) for _ in "abc")
        for _, invoice, payment, amount, currency, _ in entries:
            assert amount != 0
            assert amount == quantize(amount, currency), (amount, currency)
            per_currency[currency] += amount
            if invoice:
                assert currency == self.currency_of[invoice]
                per_invoice[invoice] += amount
            else:
                on_account[payment] += amount
        for invoice in Invoice.objects.all():
            assert (
                invoice.open_amount == per_invoice[invoice.pk] == self.open[invoice.pk]
            ), invoice.number
            assert invoice.open_amount >= 0
            if invoice.pk in self.void:
                assert invoice.status == Invoice.Status.VOID
            else:
                # What was charged (total and fees) against what is still open.
                assert invoice.status == payment_status(
                    total=invoice.total,
                    fees=self.fees[invoice.pk],
                    open_amount=self.open[invoice.pk],
                ), invoice.number
        for payment in Payment.objects.all():
            assert payment.unapplied_amount == -on_account[payment.pk]
            assert payment.unapplied_amount == self.unapplied[payment.pk]
            assert 0 <= payment.unapplied_amount <= payment.amount
        today = {
            row.currency: row.balance
            for row in customer_balances(
                customer=self.customer, as_of=BASE + timedelta(days=365)
            )
        }
        assert today == {c: t for c, t in per_currency.items() if c in today}
        assert all(per_currency[c] == 0 for c in per_currency if c not in today)
        self.check_history(new_entries)
        self.entries = entries
        self.last_snapshot = self.snapshot()
        assert run_ledger_checks() == []

    def check_history(self, new_entries):
        """Balances of days before this step's earliest posting did not move."""
        earliest = min((e[5] for e in new_entries), default=date.max)
        for day, balances in self.history.items():
            if day < earliest:
                assert self.balances(day) == balances, day
        # Balances only change on posting days: those are the days to watch.
        for day in {e[5] for e in self.entries + new_entries}:
            if day >= earliest or day not in self.history:
                self.history[day] = self.balances(day)

    def balances(self, day):
        return customer_balances(customer=self.customer, as_of=day)


LedgerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.django_db
def test_ledger_invariants_hold_under_random_operations():
    run_state_machine_as_test(LedgerMachine, settings=LedgerMachine.TestCase.settings)
