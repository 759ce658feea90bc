"""120 days of a test company, day by day, with a real SMTP sink: every customer
receives exactly the notices its policy prescribes."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from collecting.models import Notice, PromiseToPay, WorklistEntry
from collecting.services.commitments import (
    dispute_open,
    dispute_resolve,
    promise_create,
)
from collecting.tasks import run_dunning
from invoicing.models import LedgerEntry
from orders.models import Contact, Customer
from tests.collecting.conftest import make_policy
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

BERLIN = ZoneInfo("Europe/Berlin")
START = date(2026, 1, 20)
DAYS = 120


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)


def customer(name, **fields):
    found = CustomerFactory(name=name, email=f"{name.lower()}@example.com", **fields)
    Contact.objects.create(
        organization=found.organization,
        customer=found,
        name=f"{name} AP",
        email=f"ap@{name.lower()}.example.com",
        role=Contact.Role.BILLING,
    )
    return found


@pytest.mark.django_db
def test_120_days_of_dunning(org, smtp_sink, django_capture_on_commit_callbacks):
    with time_machine.travel(at(START - timedelta(days=30), 9), tick=False) as clock:
        from o2c.tenancy import tenant_context

        with tenant_context(org):
            make_policy()
            a = customer("Alpha")
            b = customer("Bravo")
            c = customer("Charlie")
            d = customer("Delta")
            e = customer("Echo", do_not_contact=True)
            f = customer("Foxtrot")
            g = customer("Golf", language="de")
            h = customer("Hotel")
            issue = date(2026, 1, 2)
            a1 = issued_invoice(
                a, "100.00", invoice_date=issue, due_date=date(2026, 2, 1)
            )
            a2 = issued_invoice(
                a, "50.00", invoice_date=issue, due_date=date(2026, 2, 15)
            )
            b1 = issued_invoice(
                b, "200.00", invoice_date=issue, due_date=date(2026, 2, 1)
            )
            c1 = issued_invoice(
                c, "300.00", invoice_date=issue, due_date=date(2026, 2, 1)
            )
            d1 = issued_invoice(
                d, "400.00", invoice_date=issue, due_date=date(2026, 2, 1)
            )
            issued_invoice(e, "500.00", invoice_date=issue, due_date=date(2026, 2, 1))
            issued_invoice(f, "5.00", invoice_date=issue, due_date=date(2026, 2, 1))
            g1 = issued_invoice(
                g, "100.00", invoice_date=issue, due_date=date(2026, 3, 1)
            )
            h1 = issued_invoice(
                h, "150.00", invoice_date=issue, due_date=date(2026, 2, 1)
            )

        # What happens at noon on some days (after that day's 07:00 run).
        def noon(day):
            if day == date(2026, 2, 10):
                received_payment(
                    b, "200.00", received_date=day, allocations=[(b1, "200.00")]
                )
                promise_create(
                    customer=d, invoices=[d1], amount="400.00",
                    promised_date=date(2026, 2, 20), grace_days=3, actor=SYSTEM,
                )  # fmt: skip
            if day == date(2026, 2, 5):
                dispute_open(
                    customer=c, invoices=[c1], reason_code="quality", actor=SYSTEM
                )
            if day == date(2026, 3, 1):
                dispute_resolve(
                    dispute=c.disputes.get(),
                    resolution="resolved_company_favour",
                    actor=SYSTEM,
                )
            if day == date(2026, 2, 3):
                promise_create(
                    customer=h, invoices=[h1], amount="150.00",
                    promised_date=date(2026, 2, 15), actor=SYSTEM,
                )  # fmt: skip
            if day == date(2026, 2, 14):
                received_payment(
                    h, "150.00", received_date=day, allocations=[(h1, "150.00")]
                )
            if day == date(2026, 3, 5):
                received_payment(
                    g, "100.00", received_date=day, allocations=[(g1, "100.00")]
                )

        received: list[tuple] = []
        for offset in range(DAYS):
            day = START + timedelta(days=offset)
            clock.move_to(at(day, 7))
            before = len(smtp_sink.messages)
            with django_capture_on_commit_callbacks(execute=True):
                run_dunning(org.pk)
            for message in smtp_sink.messages[before:]:
                received.append(
                    (day, message.rcpt_tos[0].split("@")[1].split(".")[0],
                     message.subject, message.invoice_rows())
                )  # fmt: skip
            clock.move_to(at(day, 12))
            with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
                noon(day)

    n = {inv.pk: inv.number for inv in (a1, a2, b1, c1, d1, g1, h1)}
    A1, A2, B1, C1, D1, G1, H1 = (n[i.pk] for i in (a1, a2, b1, c1, d1, g1, h1))
    expected = [
        (date(2026, 1, 29), "alpha", "Courtesy for Alpha", [(A1, -3, "100.00")]),
        (date(2026, 1, 29), "bravo", "Courtesy for Bravo", [(B1, -3, "200.00")]),
        (date(2026, 1, 29), "charlie", "Courtesy for Charlie", [(C1, -3, "300.00")]),
        (date(2026, 1, 29), "delta", "Courtesy for Delta", [(D1, -3, "400.00")]),
        (date(2026, 1, 29), "hotel", "Courtesy for Hotel", [(H1, -3, "150.00")]),
        (date(2026, 2, 8), "alpha", "Reminder 1 for Alpha", [(A1, 7, "100.00")]),
        (date(2026, 2, 8), "bravo", "Reminder 1 for Bravo", [(B1, 7, "200.00")]),
        (date(2026, 2, 8), "delta", "Reminder 1 for Delta", [(D1, 7, "400.00")]),
        (date(2026, 2, 12), "alpha", "Courtesy for Alpha", [(A2, -3, "50.00")]),
        # Alpha's two invoices reach steps on the same day: one notice at the
        # higher step, each invoice with its own days overdue.
        (
            date(2026, 2, 22),
            "alpha",
            "Reminder 2 for Alpha",
            [(A1, 21, "100.00"), (A2, 7, "50.00")],
        ),
        # Delta's promise (20 Feb + 3 days' grace) is broken: dunning resumes at
        # the step reached meanwhile.
        (date(2026, 2, 24), "delta", "Reminder 2 for Delta", [(D1, 23, "400.00")]),
        (
            date(2026, 2, 26),
            "golf",
            "Zahlungserinnerung für Golf",
            [(G1, -3, "100.00")],
        ),
        # Charlie's dispute was resolved in our favour on 1 March.
        (date(2026, 3, 2), "charlie", "Reminder 2 for Charlie", [(C1, 29, "300.00")]),
    ]
    assert received == expected

    with tenant_context(org):
        # Letters, call tasks and credit holds followed for the unpaid accounts.
        letters = Notice.objects.filter(channel="letter", status="sent")
        assert sorted((x.customer.name, x.notice_date) for x in letters) == [
            ("Alpha", date(2026, 3, 8)),
            ("Alpha", date(2026, 3, 22)),
            ("Charlie", date(2026, 3, 8)),
            ("Delta", date(2026, 3, 8)),
        ]
        assert all(x.document.name.endswith(".pdf") for x in letters)
        assert set(
            Customer.objects.filter(on_credit_hold=True).values_list("name", flat=True)
        ) == {"Alpha", "Charlie", "Delta"}
        assert not Notice.objects.filter(customer__in=[e, f]).exists()
        assert not Notice.objects.exclude(status__in=["sent"]).exists()
        # One 5.00 fee per second reminder, on the most overdue invoice.
        fees = LedgerEntry.objects.filter(kind="fee").order_by("posting_date")
        assert [(x.invoice_id, x.amount, x.posting_date) for x in fees] == [
            (a1.pk, Decimal("5.00"), date(2026, 2, 22)),
            (d1.pk, Decimal("5.00"), date(2026, 2, 24)),
            (c1.pk, Decimal("5.00"), date(2026, 3, 2)),
        ]
        assert PromiseToPay.objects.get(customer=d).status == "broken"
        assert PromiseToPay.objects.get(customer=h).status == "kept"
        entry = WorklistEntry.objects.get(customer=d)
        assert entry.broken_promises == 1
