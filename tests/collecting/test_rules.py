"""Rules of the collections stage, checked where a finance person sees them: the
ledger, the message at the SMTP sink, the collectors' queue."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from collecting.models import CustomerCollectionProfile, Notice, WorklistEntry
from collecting.services.dunning import dunning_run
from collecting.services.sending import FEE_DOCUMENT, notices_send
from collecting.services.worklist import explain, worklist_rebuild
from invoicing.models import LedgerEntry
from reconciliation.services.payments import allocation_create
from tests.collecting.conftest import make_policy
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

BERLIN = ZoneInfo("Europe/Berlin")
EIGHT_PERCENT = Decimal("8")
INTEREST_STEPS = [
    {
        "name": "Reminder 1",
        "offset_days": 7,
        "channel": "email",
        "interest_rate": EIGHT_PERCENT,
    },
    {
        "name": "Reminder 2",
        "offset_days": 45,
        "channel": "email",
        "interest_rate": EIGHT_PERCENT,
        "fee_amount": Decimal("5.00"),
    },
]


def morning(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 7, tzinfo=BERLIN)


def run_and_send(day: date) -> list[Notice]:
    """The day's dunning run and the sending of what it wrote."""
    before = set(Notice.objects.values_list("pk", flat=True))
    with time_machine.travel(morning(day), tick=False):
        dunning_run()
        new = sorted(set(Notice.objects.values_list("pk", flat=True)) - before)
        notices_send(notice_ids=new)
    return list(Notice.objects.filter(pk__in=new).order_by("pk"))


def fees_posted(notice: Notice) -> dict[str, tuple[Decimal, date]]:
    """Invoice number → (fee amount, posting date) the notice put on the ledger."""
    return {
        entry.invoice.number: (entry.amount, entry.posting_date)
        for entry in LedgerEntry.objects.filter(
            document_type=FEE_DOCUMENT,
            document_id=notice.pk,
            kind=LedgerEntry.Kind.FEE,
        ).select_related("invoice")
    }


@pytest.fixture
def staggered(tenant):
    """Two invoices of one customer, due fifteen days apart."""
    make_policy(steps=INTEREST_STEPS)
    customer = CustomerFactory(name="Acme", email="ap@acme.example")
    early = issued_invoice(
        customer,
        "1000.00",
        invoice_date=date(2025, 12, 2),
        due_date=date(2026, 1, 1),
    )
    late = issued_invoice(
        customer, "500.00", invoice_date=date(2025, 12, 17), due_date=date(2026, 1, 16)
    )
    return customer, early, late


@pytest.mark.django_db
def test_interest_is_charged_per_invoice_for_the_days_not_yet_charged(
    tenant, smtp_sink, staggered
):
    customer, early, late = staggered

    # 31 January: 30 and 15 days overdue, both at Reminder 1.
    (first,) = run_and_send(date(2026, 1, 31))
    # 8 % a year: 1,000.00 for 30 days = 6.58; 500.00 for 15 days = 1.64.
    assert fees_posted(first) == {
        early.number: (Decimal("6.58"), date(2026, 1, 31)),
        late.number: (Decimal("1.64"), date(2026, 1, 31)),
    }
    (message,) = smtp_sink.messages
    assert message.subject == "Reminder 1 for Acme"
    assert [row[:2] for row in message.invoice_rows()] == [
        (early.number, 30),
        (late.number, 15),
    ]
    assert "Fee: 8.22" in message.text

    # The customer pays the interest, so each invoice is back to its amount.
    received_payment(
        customer,
        "8.22",
        received_date=date(2026, 2, 5),
        allocations=[(early, "6.58"), (late, "1.64")],
    )

    # 15 February: the early invoice reaches Reminder 2 at 45 days; 30 of them
    # were charged, so 15 are: 1,000.00 x 8 % x 15/365 = 3.29, plus the 5.00 fee.
    # The late invoice (30 days) has had its Reminder 1 and is left out.
    (second,) = run_and_send(date(2026, 2, 15))
    assert fees_posted(second) == {early.number: (Decimal("8.29"), date(2026, 2, 15))}
    assert [row[:2] for row in smtp_sink.messages[1].invoice_rows()] == [
        (early.number, 45),
    ]
    assert "Fee: 8.29" in smtp_sink.messages[1].text

    # 2 March: the late invoice reaches Reminder 2 at 45 days, 15 of them charged:
    # 500.00 x 8 % x 30/365 = 3.29. Reminder 2's fixed fee was charged to this
    # customer 15 days ago, inside the policy's 30-day fee period, so only the
    # interest is; the early invoice is not charged again.
    (third,) = run_and_send(date(2026, 3, 2))
    assert fees_posted(third) == {late.number: (Decimal("3.29"), date(2026, 3, 2))}
    assert [row[:2] for row in smtp_sink.messages[2].invoice_rows()] == [
        (late.number, 45),
    ]
    assert "Fee: 3.29" in smtp_sink.messages[2].text
    assert len(smtp_sink.messages) == 3


@pytest.mark.django_db
def test_interest_of_a_later_step_is_not_charged_on_earlier_interest_and_fees(
    tenant, smtp_sink, staggered
):
    _, early, _ = staggered
    run_and_send(date(2026, 1, 31))  # 6.58 interest on the early invoice

    (second,) = run_and_send(date(2026, 2, 15))

    # Simple interest: 1,000.00 x 8 % x 15/365 = 3.29 (+ 5.00), not 3.31 on the
    # 1,006.58 that includes the first step's interest.
    assert fees_posted(second) == {early.number: (Decimal("8.29"), date(2026, 2, 15))}


AGENCY_STEPS = [
    {"name": "Reminder 1", "offset_days": 7, "channel": "email"},
    {"name": "Agency review", "offset_days": 90, "channel": "agency_review"},
]


@pytest.mark.django_db
def test_an_agency_review_step_flags_the_account_and_queues_it_with_that_reason(
    tenant, smtp_sink
):
    make_policy(steps=AGENCY_STEPS)
    customer = CustomerFactory(name="Slow Payer", email="ap@slow.example")
    calm = CustomerFactory(name="Calm", email="ap@calm.example")
    issued_invoice(
        customer, "800.00", invoice_date=date(2025, 12, 2), due_date=date(2026, 1, 1)
    )
    issued_invoice(
        calm, "800.00", invoice_date=date(2026, 3, 1), due_date=date(2026, 3, 21)
    )

    # 1 April: 90 days overdue, the agency-review step; Calm is 11 days overdue.
    notices = run_and_send(date(2026, 4, 1))

    assert sorted((n.customer.name, n.step.name, n.status) for n in notices) == [
        ("Calm", "Reminder 1", "sent"),
        ("Slow Payer", "Agency review", "sent"),
    ]
    # A flag for the collectors, not a message to the customer.
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["ap@calm.example"]]
    flagged = CustomerCollectionProfile.objects.get(customer=customer)
    assert flagged.agency_review is True
    assert not CustomerCollectionProfile.objects.filter(
        customer=calm, agency_review=True
    ).exists()
    entry = WorklistEntry.objects.get(customer=customer)
    assert entry.needs_action
    assert entry.amount_overdue == Decimal("800.00")
    assert ("agency review", 10) in explain(entry)

    with time_machine.travel(morning(date(2026, 4, 1)), tick=False):
        worklist_rebuild()
    calm_entry = WorklistEntry.objects.get(customer=calm)
    assert "agency review" not in dict(explain(calm_entry))
    assert "agency review" in dict(
        explain(WorklistEntry.objects.get(customer=customer))
    )


@pytest.mark.django_db
def test_allocating_a_payment_refreshes_the_customers_queue_entry_after_commit(
    tenant, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(name="Acme")
    older = issued_invoice(
        customer, "1000.00", invoice_date=date(2026, 1, 1), due_date=date(2026, 1, 31)
    )
    issued_invoice(
        customer, "500.00", invoice_date=date(2026, 2, 1), due_date=date(2026, 3, 3)
    )
    with time_machine.travel(morning(date(2026, 3, 12)), tick=False):
        # Part paid already, so the next allocation does not change its status:
        # only the allocation's own signal can refresh the queue.
        payment = received_payment(
            customer,
            "1000.00",
            received_date=date(2026, 3, 10),
            allocations=[(older, "100.00")],
        )
        worklist_rebuild()
        entry = WorklistEntry.objects.get(customer=customer)
        assert entry.amount_overdue == Decimal("1400.00")
        assert entry.days_overdue == 40
        score_before = entry.score

        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            allocation_create(
                payment=payment, invoice=older, amount="600.00", actor=SYSTEM
            )
            entry.refresh_from_db()
            assert entry.amount_overdue == Decimal("1400.00")  # not before commit
        assert callbacks, "nothing was enqueued for after the commit"

        entry.refresh_from_db()
        assert entry.amount_overdue == Decimal("800.00")
        assert entry.days_overdue == 40
        assert entry.score < score_before
        older.refresh_from_db()
        assert (older.status, older.open_amount) == ("partially_paid", Decimal("300"))

        # Paying the older invoice off leaves only the newer one, 9 days overdue.
        with django_capture_on_commit_callbacks(execute=True):
            allocation_create(
                payment=payment, invoice=older, amount="300.00", actor=SYSTEM
            )
        entry.refresh_from_db()
        assert entry.amount_overdue == Decimal("500.00")
        assert entry.days_overdue == 9
