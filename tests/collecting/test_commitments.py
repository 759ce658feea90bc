"""Promises, disputes, payment plans, the queue and the timeline."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from collecting.models import Notice, PaymentPlan, PromiseToPay, WorklistEntry
from collecting.selectors import QueueFilters, customer_timeline, queue
from collecting.services.accounts import activity_log, collector_assign, hold_set
from collecting.services.commitments import (
    dispute_open,
    dispute_resolve,
    payment_plan_create,
    promise_create,
    promises_evaluate,
)
from collecting.services.dunning import dunning_run, plan_notices
from collecting.services.worklist import worklist_rebuild
from invoicing.services.invoices import LineInput, credit_note_create
from o2c.errors import ConflictError, DomainError
from o2c.models import Role
from tests.collecting.conftest import make_policy
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    issued_invoice,
    member,
    received_payment,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(day, hour=9):
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)


def overdue(customer, amount, due=date(2026, 2, 1)):
    return issued_invoice(customer, amount, invoice_date=date(2026, 1, 2), due_date=due)


@pytest.fixture
def collector(org):
    return member(org, Role.COLLECTOR)


@pytest.mark.django_db
def test_a_broken_promise_puts_the_account_on_top_and_resumes_dunning(
    tenant, collector
):
    make_policy()
    with time_machine.travel(at(date(2026, 2, 10)), tick=False) as clock:
        big = CustomerFactory(name="Big", collector=collector, risk_class="high")
        overdue(big, "20000.00", due=date(2026, 1, 5))
        other = CustomerFactory(name="Other", collector=collector)
        overdue(other, "3000.00")
        promiser = CustomerFactory(name="Promiser", collector=collector)
        invoice = overdue(promiser, "800.00")
        promise = promise_create(
            customer=promiser, invoices=[invoice], amount="800.00",
            promised_date=date(2026, 2, 20), actor=SYSTEM,
        )  # fmt: skip
        worklist_rebuild()
        mine = QueueFilters(collector_id=collector.pk)
        # Off the queue until the promise date, and no dunning meanwhile.
        assert [e.customer.name for e in queue(filters=mine)] == ["Big", "Other"]
        assert invoice.pk not in {
            item.invoice_id
            for n in plan_notices(day=date(2026, 2, 22)).notices
            for item in n.items
        }
        # 200.00 paid only: partly kept is judged after the grace (3 days).
        received_payment(
            promiser, "200.00", received_date=date(2026, 2, 18),
            allocations=[(invoice, "200.00")],
        )  # fmt: skip
        assert promises_evaluate(as_of=date(2026, 2, 23), actor=SYSTEM) == {}
        clock.move_to(at(date(2026, 2, 24)))
        assert promises_evaluate(as_of=date(2026, 2, 24), actor=SYSTEM) == {
            "partially_kept": 1
        }
        promise.refresh_from_db()
        assert promise.paid_amount == Decimal("200.00")
        worklist_rebuild()
        rows = list(queue(filters=mine))
        assert [e.customer.name for e in rows] == ["Promiser", "Big", "Other"]
        top = rows[0]
        assert top.score_parts["broken_promise"] == 60
        assert top.amount_overdue == Decimal("600.00")
        # Dunning resumes at the step reached meanwhile (+21 on 22 Feb).
        planned = plan_notices(day=date(2026, 2, 24)).notices
        mine_planned = [n for n in planned if n.customer_id == promiser.pk]
        assert [(n.step.name, n.total) for n in mine_planned] == [
            ("Reminder 2", Decimal("600.00"))
        ]


@pytest.mark.django_db
def test_a_promise_is_kept_as_soon_as_it_is_paid(tenant):
    with time_machine.travel(at(date(2026, 2, 10)), tick=False):
        customer = CustomerFactory()
        first, second = overdue(customer, "100.00"), overdue(customer, "50.00")
        promise = promise_create(
            customer=customer, invoices=[first, second], amount="150.00",
            promised_date=date(2026, 3, 1), actor=SYSTEM,
        )  # fmt: skip
        with pytest.raises(ConflictError):
            promise_create(
                customer=customer, invoices=[first], amount="10.00",
                promised_date=date(2026, 3, 1), actor=SYSTEM,
            )  # fmt: skip
        received_payment(
            customer, "150.00", received_date=date(2026, 2, 12),
            allocations=[(first, "100.00"), (second, "50.00")],
        )  # fmt: skip
        assert promises_evaluate(as_of=date(2026, 2, 12), actor=SYSTEM) == {"kept": 1}
        promise.refresh_from_db()
        assert promise.status == PromiseToPay.Status.KEPT


@pytest.mark.django_db
def test_disputes_pause_dunning_and_end_by_credit_note(tenant):
    make_policy()
    owner = member(tenant, Role.FINANCE)
    with time_machine.travel(at(date(2026, 2, 10)), tick=False):
        customer = CustomerFactory()
        invoice = overdue(customer, "100.00")
        dispute = dispute_open(
            customer=customer, invoices=[invoice], reason_code="pricing",
            owner=owner, description="Price list of 2025 applies", actor=SYSTEM,
        )  # fmt: skip
        assert plan_notices(day=date(2026, 2, 10)).notices == []
        with pytest.raises(DomainError):
            dispute_resolve(
                dispute=dispute, resolution="resolved_credit_note", actor=SYSTEM
            )
        credit = credit_note_create(
            invoice=invoice, credit_date=date(2026, 2, 10), reason="Price",
            lines=[LineInput("Price correction", Decimal(1), Decimal("30.00"))],
            actor=SYSTEM,
        )  # fmt: skip
        dispute_resolve(
            dispute=dispute, resolution="resolved_credit_note",
            credit_note=credit, actor=SYSTEM,
        )  # fmt: skip
        # The rest (70.00) is chased again from the next run.
        (notice,) = plan_notices(day=date(2026, 2, 10)).notices
        assert notice.total == Decimal("70.00")
        with pytest.raises(ConflictError):
            dispute_resolve(dispute=dispute, resolution="withdrawn", actor=SYSTEM)


@pytest.mark.django_db
def test_a_payment_plan_is_chased_by_its_own_dates(
    tenant, smtp_sink, django_capture_on_commit_callbacks
):
    make_policy()
    with time_machine.travel(at(date(2026, 2, 10)), tick=False) as clock:
        customer = CustomerFactory(name="Planned", email="planned@example.com")
        invoice = overdue(customer, "300.00")
        plan = payment_plan_create(
            customer=customer, invoices=[invoice], count=3,
            first_date=date(2026, 2, 15), interval_days=30, actor=SYSTEM,
        )  # fmt: skip
        assert [(i.due_date, i.amount) for i in plan.instalments.all()] == [
            (date(2026, 2, 15), Decimal("100.00")),
            (date(2026, 3, 17), Decimal("100.00")),
            (date(2026, 4, 16), Decimal("100.00")),
        ]
        received_payment(
            customer, "100.00", received_date=date(2026, 2, 14),
            allocations=[(invoice, "100.00")],
        )  # fmt: skip
        for day in (date(2026, 2, 16), date(2026, 3, 21), date(2026, 3, 22)):
            clock.move_to(at(day, 7))
            with django_capture_on_commit_callbacks(execute=True):
                dunning_run()
        # No dunning step while the plan runs; one reminder for instalment 2,
        # three days' grace after its date.
        subjects = [m.subject for m in smtp_sink.messages]
        assert subjects == ["Payment plan: instalment 2 of 100.00 EUR is overdue"]
        assert [i.status for i in plan.instalments.all()] == [
            "paid", "overdue", "pending",
        ]  # fmt: skip
        # 30 days past the instalment the plan breaks and dunning resumes.
        clock.move_to(at(date(2026, 4, 17), 7))
        with django_capture_on_commit_callbacks(execute=True):
            dunning_run()
        plan.refresh_from_db()
        assert plan.status == PaymentPlan.Status.BROKEN
        assert Notice.objects.filter(step__name="Credit hold").exists()


@pytest.mark.django_db
def test_a_call_ending_in_a_promise_takes_the_row_off_until_the_promise_date(
    tenant, collector
):
    with time_machine.travel(at(date(2026, 2, 10)), tick=False) as clock:
        customer = CustomerFactory(name="Caller", collector=collector)
        invoice = overdue(customer, "500.00")
        worklist_rebuild()
        mine = QueueFilters(collector_id=collector.pk)
        assert queue(filters=mine).count() == 1
        activity_log(
            customer=customer, kind="call", outcome="promised",
            note="Pays Friday", actor=SYSTEM,
        )  # fmt: skip
        promise_create(
            customer=customer, invoices=[invoice], amount="500.00",
            promised_date=date(2026, 2, 13), actor=SYSTEM,
        )  # fmt: skip
        assert queue(filters=mine).count() == 0
        clock.move_to(at(date(2026, 2, 13)))
        worklist_rebuild()
        (row,) = queue(filters=mine)
        assert row.score_parts["follow_up_due"] == 10
        hold_set(customer=customer, on_hold=True, reason="Insolvency", actor=SYSTEM)
        assert queue(filters=mine).count() == 0


@pytest.mark.django_db
def test_a_manager_reassigns_accounts(tenant, collector):
    other = member(tenant, Role.COLLECTOR)
    with time_machine.travel(at(date(2026, 2, 10)), tick=False):
        customer = CustomerFactory(collector=collector)
        overdue(customer, "100.00")
        worklist_rebuild()
        assert collector_assign(customers=[customer], collector=other, actor=SYSTEM)
        assert WorklistEntry.objects.get(customer=customer).collector == other
        outsider = member(CustomerFactory().organization, Role.VIEWER)
        outsider.memberships.all().delete()
        with pytest.raises(DomainError):
            collector_assign(customers=[customer], collector=outsider, actor=SYSTEM)


@pytest.mark.django_db
def test_the_timeline_has_everything_in_order(
    tenant, smtp_sink, django_capture_on_commit_callbacks
):
    make_policy()
    with time_machine.travel(at(date(2026, 2, 8), 7), tick=False) as clock:
        customer = CustomerFactory(name="Timeline", email="t@example.com")
        invoice = overdue(customer, "100.00")
        with django_capture_on_commit_callbacks(execute=True):
            dunning_run()
        clock.move_to(at(date(2026, 2, 9), 10))
        activity_log(customer=customer, kind="call", outcome="no_answer", actor=SYSTEM)
        clock.move_to(at(date(2026, 2, 9), 11))
        promise = promise_create(
            customer=customer, invoices=[invoice], amount="100.00",
            promised_date=date(2026, 2, 12), grace_days=0, actor=SYSTEM,
        )  # fmt: skip
        clock.move_to(at(date(2026, 2, 14), 8))
        promises_evaluate(as_of=date(2026, 2, 13), actor=SYSTEM)
        assert PromiseToPay.objects.get(pk=promise.pk).status == "broken"
        received_payment(
            customer, "100.00", received_date=date(2026, 2, 14),
            allocations=[(invoice, "100.00")],
        )  # fmt: skip
        events = customer_timeline(customer=customer)
    kinds = [(e.kind, e.status) for e in events]
    assert kinds == [
        ("payment", ""),
        ("status", "broken"),
        ("promise", "broken"),
        ("activity", "no_answer"),
        ("notice", "sent"),
        ("invoice", ""),
    ]
