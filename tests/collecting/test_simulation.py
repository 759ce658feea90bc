"""120 days of a test company, day by day, with a real SMTP sink: every customer
receives exactly the notices its policy prescribes, as readable text and HTML,
never twice inside its policy's interval, and one notice after an outage."""

import html.parser
import io
import itertools
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pypdf
import pytest
import time_machine

from collecting.models import Notice, PassedOverStep, PromiseToPay, WorklistEntry
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
# Beat and workers are down these mornings; the run of 10 April catches up.
OUTAGE = {date(2026, 4, 7), date(2026, 4, 8), date(2026, 4, 9)}
MARKUP = ("<", ">", "&lt;", "&gt;", "&amp;", "<p>", "<br")


class _Text(html.parser.HTMLParser):
    """The text a mail client shows for an HTML part."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def shown_text(html_part: str) -> str:
    parser = _Text()
    parser.feed(html_part)
    return " ".join(" ".join(parser.parts).split())


def assert_readable(text: str, where: str) -> None:
    found = [mark for mark in MARKUP if mark in text]
    assert not found, f"{where} shows markup {found}: {text[:300]!r}"


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
            # Around the outage: India reaches Reminder 2 and Reminder 1 on
            # missed days; Juliet's courtesy reminder falls on a missed day and
            # her invoice is due on the day of the catching-up run.
            i = customer("India")
            i2 = issued_invoice(
                i, "80.00", invoice_date=date(2026, 3, 1), due_date=date(2026, 3, 17)
            )
            i1 = issued_invoice(
                i, "60.00", invoice_date=date(2026, 3, 2), due_date=date(2026, 4, 1)
            )
            j = customer("Juliet")
            j1 = issued_invoice(
                j, "90.00", invoice_date=date(2026, 3, 2), due_date=date(2026, 4, 10)
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
            if day not in OUTAGE:
                with django_capture_on_commit_callbacks(execute=True):
                    run_dunning(org.pk)
            for message in smtp_sink.messages[before:]:
                assert_readable(
                    shown_text(message.message.get_body(("html",)).get_content()),
                    f"HTML part of {message.subject!r}",
                )
                assert_readable(message.text, f"text part of {message.subject!r}")
                received.append(
                    (day, message.rcpt_tos[0].split("@")[1].split(".")[0],
                     message.subject, message.invoice_rows())
                )  # fmt: skip
            clock.move_to(at(day, 12))
            with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
                noon(day)

    n = {x.pk: x.number for x in (a1, a2, b1, c1, d1, g1, h1, i1, i2, j1)}
    A1, A2, B1, C1, D1, G1, H1, I1, I2, J1 = (
        n[x.pk] for x in (a1, a2, b1, c1, d1, g1, h1, i1, i2, j1)
    )
    expected = [
        (date(2026, 1, 29), "alpha", "Courtesy for Alpha", [(A1, -3, "100.00")]),
        (date(2026, 1, 29), "bravo", "Courtesy for Bravo", [(B1, -3, "200.00")]),
        (date(2026, 1, 29), "charlie", "Courtesy for Charlie", [(C1, -3, "300.00")]),
        (date(2026, 1, 29), "delta", "Courtesy for Delta", [(D1, -3, "400.00")]),
        (date(2026, 1, 29), "hotel", "Courtesy for Hotel", [(H1, -3, "150.00")]),
        (date(2026, 2, 8), "alpha", "Reminder 1 for Alpha", [(A1, 7, "100.00")]),
        (date(2026, 2, 8), "bravo", "Reminder 1 for Bravo", [(B1, 7, "200.00")]),
        (date(2026, 2, 8), "delta", "Reminder 1 for Delta", [(D1, 7, "400.00")]),
        # Alpha's courtesy reminder for A2 (12 Feb) comes 4 days after Reminder 1:
        # it waits for the 7-day interval, and by then A2 is due: not sent.
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
            [(G1, -3, "100,00")],  # a German customer reads German amounts
        ),
        # Charlie's dispute was resolved in our favour on 1 March.
        (date(2026, 3, 2), "charlie", "Reminder 2 for Charlie", [(C1, 29, "300.00")]),
        (date(2026, 3, 14), "india", "Courtesy for India", [(I2, -3, "80.00")]),
        (date(2026, 3, 24), "india", "Reminder 1 for India", [(I2, 7, "80.00")]),
        # I1's courtesy (29 March) waits for the interval after 24 March.
        (date(2026, 3, 31), "india", "Courtesy for India", [(I1, -1, "60.00")]),
        # After the outage of 7-9 April: one notice, at the highest step reached
        # (I2's Reminder 2 of 7 April), days overdue counted to 10 April.
        (
            date(2026, 4, 10),
            "india",
            "Reminder 2 for India",
            [(I2, 24, "80.00"), (I1, 9, "60.00")],
        ),
        (date(2026, 4, 17), "juliet", "Reminder 1 for Juliet", [(J1, 7, "90.00")]),
        # I1 reached Reminder 2 on 22 April, a day after India's letter: it
        # waits for the interval; no second Reminder 2 fee within 30 days.
        (date(2026, 4, 28), "india", "Reminder 2 for India", [(I1, 27, "60.00")]),
        (date(2026, 5, 1), "juliet", "Reminder 2 for Juliet", [(J1, 21, "90.00")]),
    ]
    assert received == expected

    # The cadence: no customer had two emails from the dunning within 7 days.
    by_customer: dict[str, list[date]] = {}
    for day, who, _subject, _rows in received:
        by_customer.setdefault(who, []).append(day)
    for who, days in by_customer.items():
        gaps = [(b - a).days for a, b in itertools.pairwise(days)]
        assert all(gap >= 7 for gap in gaps), (who, days)

    with tenant_context(org):
        # Letters, call tasks and credit holds followed for the unpaid accounts.
        letters = Notice.objects.filter(channel="letter", status="sent")
        assert sorted((x.customer.name, x.notice_date) for x in letters) == [
            ("Alpha", date(2026, 3, 8)),
            ("Alpha", date(2026, 3, 22)),
            # Charlie's final notice fell 6 days after its Reminder 2: a day later.
            ("Charlie", date(2026, 3, 9)),
            ("Delta", date(2026, 3, 8)),
            ("India", date(2026, 4, 21)),
            ("India", date(2026, 5, 6)),
            ("Juliet", date(2026, 5, 15)),
        ]
        # Letters and emails together keep the interval too.
        sent: dict[str, list[date]] = {}
        for notice in Notice.objects.filter(
            channel__in=["email", "letter"], step__isnull=False
        ).order_by("notice_date"):
            sent.setdefault(notice.customer.name, []).append(notice.notice_date)
        for who, days in sent.items():
            assert all((b - a).days >= 7 for a, b in itertools.pairwise(days)), who
        assert all(x.document.name.endswith(".pdf") for x in letters)
        for letter in letters:
            with letter.document.open("rb") as pdf:
                text = "\n".join(
                    page.extract_text()
                    for page in pypdf.PdfReader(io.BytesIO(pdf.read())).pages
                )
            assert_readable(text, f"letter {letter.pk}")
            assert "Dear" in text and letter.customer.name in text
        # Juliet's courtesy reminder fell on a missed day and her invoice is due
        # on the day of the catch-up: recorded as passed over, never sent.
        assert Notice.objects.filter(customer=j).order_by("pk").first().step.name == (
            "Reminder 1"
        )
        assert list(
            PassedOverStep.objects.values_list(
                "invoice_id", "step__name", "fell_due_on"
            )
        ) == [(j1.pk, "Courtesy", date(2026, 4, 7))]
        assert set(
            Customer.objects.filter(on_credit_hold=True).values_list("name", flat=True)
        ) == {"Alpha", "Charlie", "Delta", "India"}
        assert not Notice.objects.filter(customer__in=[e, f]).exists()
        assert not Notice.objects.exclude(status__in=["sent"]).exists()
        # One 5.00 fee per second reminder, on the most overdue invoice; India's
        # second Reminder 2 (28 April) came within 30 days of its first: no fee.
        fees = LedgerEntry.objects.filter(kind="fee").order_by("posting_date")
        assert [(x.invoice_id, x.amount, x.posting_date) for x in fees] == [
            (a1.pk, Decimal("5.00"), date(2026, 2, 22)),
            (d1.pk, Decimal("5.00"), date(2026, 2, 24)),
            (c1.pk, Decimal("5.00"), date(2026, 3, 2)),
            (i2.pk, Decimal("5.00"), date(2026, 4, 10)),
            (j1.pk, Decimal("5.00"), date(2026, 5, 1)),
        ]
        assert PromiseToPay.objects.get(customer=d).status == "broken"
        assert PromiseToPay.objects.get(customer=h).status == "kept"
        entry = WorklistEntry.objects.get(customer=d)
        assert entry.broken_promises == 1
