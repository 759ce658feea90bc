"""The receivables summary stays equal to the ledger under any sequence of postings.

A hypothesis state machine issues invoices (in two currencies, to two customers,
due from today to weeks ahead), takes payments with and without allocations,
allocates cash on account, reverses payments, voids invoices and lets the clock
run, days at a time, so that invoices fall overdue with no posting at all. After
every step each summary row must equal what the ledger and the invoices' due dates
say (after the readers' refresh; before it, every row that has not expired), and
``verify_ledger``'s checks must pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest
import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from invoicing.models import Invoice, LedgerEntry, ReceivablesSummary
from invoicing.services.invoices import invoice_void
from invoicing.services.summary import summary_refresh
from o2c.checks import run_ledger_checks
from o2c.errors import DomainError
from o2c.money import minor_units, quantize
from o2c.tenancy import activate, deactivate
from reconciliation.models import Payment
from reconciliation.services.payments import (
    allocation_create,
    payment_reverse,
)
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    OrganizationFactory,
    issued_invoice,
    received_payment,
)

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CURRENCIES = ("EUR", "JPY")
amounts = st.integers(min_value=1, max_value=500_000)


def money(minor: int, currency: str) -> Decimal:
    return quantize(Decimal(minor).scaleb(-minor_units(currency)), currency)


class SummaryMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.organization = OrganizationFactory()
        self.token = activate(self.organization)
        self.customers = [CustomerFactory(), CustomerFactory()]

    def teardown(self):
        deactivate(self.token)
        self.clock.stop()

    @property
    def today(self) -> dt.date:
        return self.organization.today()

    def open_invoices(self):
        return list(Invoice.objects.filter(open_amount__gt=0).order_by("pk"))

    # --- operations ------------------------------------------------------------

    @initialize(customer=st.integers(0, 1), amount=amounts, due_in=st.integers(0, 20))
    def first_invoice(self, customer, amount, due_in):
        self.issue_invoice(customer, "EUR", amount, 0, due_in)

    @rule(
        customer=st.integers(0, 1),
        currency=st.sampled_from(CURRENCIES),
        amount=amounts,
        back=st.integers(0, 3),
        due_in=st.integers(0, 40),
    )
    def issue_invoice(self, customer, currency, amount, back, due_in):
        invoice_date = self.today - dt.timedelta(days=back)
        issued_invoice(
            self.customers[customer],
            str(money(amount, currency)),
            invoice_date=invoice_date,
            currency=currency,
            due_date=invoice_date + dt.timedelta(days=due_in),
        )

    @rule(days=st.integers(1, 20))
    def time_passes(self, days):
        self.traveller.shift(dt.timedelta(days=days))

    @precondition(lambda self: Invoice.objects.filter(open_amount__gt=0).exists())
    @rule(data=st.data(), extra=st.sampled_from([0, 0, 0, 500]))
    def pay_an_invoice(self, data, extra):
        """Part or all of an open invoice, sometimes with more cash than it needs
        (the rest stays on account)."""
        invoice = data.draw(st.sampled_from(self.open_invoices()))
        scale = minor_units(invoice.currency)
        open_minor = int(invoice.open_amount.scaleb(scale))
        allocated = money(data.draw(st.integers(1, open_minor)), invoice.currency)
        received_payment(
            invoice.customer,
            allocated + money(extra, invoice.currency),
            received_date=self.today,
            currency=invoice.currency,
            allocations=[(invoice, allocated)],
        )

    @rule(
        customer=st.integers(0, 1),
        currency=st.sampled_from(CURRENCIES),
        amount=amounts,
    )
    def cash_on_account(self, customer, currency, amount):
        received_payment(
            self.customers[customer],
            money(amount, currency),
            received_date=self.today,
            currency=currency,
        )

    @precondition(
        lambda self: (
            Payment.objects.filter(unapplied_amount__gt=0).exists()
            and Invoice.objects.filter(open_amount__gt=0).exists()
        )
    )
    @rule(data=st.data())
    def apply_cash_on_account(self, data):
        payment = data.draw(
            st.sampled_from(
                list(Payment.objects.filter(unapplied_amount__gt=0).order_by("pk"))
            )
        )
        candidates = [
            invoice
            for invoice in self.open_invoices()
            if (invoice.customer_id, invoice.currency)
            == (payment.customer_id, payment.currency)
        ]
        if not candidates:
            return
        invoice = data.draw(st.sampled_from(candidates))
        amount = min(invoice.open_amount, payment.unapplied_amount)
        allocation_create(
            payment=payment,
            invoice=invoice,
            amount=amount,
            allocation_date=self.today,
            actor=SYSTEM,
        )

    @precondition(
        lambda self: Payment.objects.exclude(status=Payment.Status.REVERSED).exists()
    )
    @rule(data=st.data())
    def reverse_a_payment(self, data):
        payment = data.draw(
            st.sampled_from(
                list(
                    Payment.objects.exclude(status=Payment.Status.REVERSED).order_by(
                        "pk"
                    )
                )
            )
        )
        # A refusal is fine here (the ledger's own machine tests which); it
        # must leave the summary as it was.
        with contextlib.suppress(DomainError):
            payment_reverse(payment=payment, reversal_date=self.today, actor=SYSTEM)

    @precondition(lambda self: Invoice.objects.filter(open_amount__gt=0).exists())
    @rule(data=st.data())
    def void_an_invoice(self, data):
        invoice = data.draw(st.sampled_from(self.open_invoices()))
        # Only an invoice with nothing settled on it can be voided.
        with contextlib.suppress(DomainError):
            invoice_void(invoice=invoice, actor=SYSTEM)

    # --- what must hold ------------------------------------------------------

    def expected(self) -> dict[tuple[int, str], tuple]:
        """Per (customer, currency) with entries: balance, open on invoices,
        unapplied cash, overdue, oldest due date, next due date — from the
        ledger's entries and the invoices' due dates, in Python."""
        sums = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
        per_invoice = defaultdict(Decimal)
        for customer, currency, invoice, amount in LedgerEntry.objects.values_list(
            "customer_id", "currency", "invoice_id", "amount"
        ):
            figures = sums[(customer, currency)]
            figures[0] += amount
            if invoice:
                figures[1] += amount
                per_invoice[invoice] += amount
            else:
                figures[2] -= amount
        due = defaultdict(list)  # (customer, currency) -> [(due date, open)]
        for invoice in Invoice.objects.filter(pk__in=list(per_invoice)):
            if per_invoice[invoice.pk] > 0:
                key = (invoice.customer_id, invoice.currency)
                due[key].append((invoice.due_date, per_invoice[invoice.pk]))
        today = self.today
        result = {}
        for key, (balance, invoices_open, unapplied) in sums.items():
            dates = [day for day, _ in due[key]]
            result[key] = (
                balance,
                invoices_open,
                unapplied,
                sum((amount for day, amount in due[key] if day < today), Decimal(0)),
                min(dates, default=None),
                min((day for day in dates if day >= today), default=None),
            )
        return result

    def kept(self) -> dict[tuple[int, str], tuple]:
        return {
            (row.customer_id, row.currency): (
                row.balance,
                row.invoices_open,
                row.unapplied_cash,
                row.overdue,
                row.oldest_due_date,
                row.next_due_date,
            )
            for row in ReceivablesSummary.objects.all()
        }

    @invariant()
    def summary_equals_the_ledger(self):
        expected, today = self.expected(), self.today
        before = self.kept()
        assert set(before) == set(expected)
        for key, row in before.items():
            # The sums and the oldest due date always; the overdue figure unless
            # it has expired (a reader refreshes it first).
            assert row[:3] == expected[key][:3], key
            assert row[4] == expected[key][4], key
            if row[5] is None or row[5] >= today:
                assert row == expected[key], key
        assert run_ledger_checks() == []
        summary_refresh()
        assert self.kept() == expected
        assert summary_refresh() == 0  # nothing left expired


SummaryMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.django_db
def test_summary_equals_the_ledger_under_random_postings_and_days():
    run_state_machine_as_test(SummaryMachine, settings=SummaryMachine.TestCase.settings)
