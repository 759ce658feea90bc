"""Fault tests: no duplicate message, no skipped step, whatever breaks."""

import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connections

from collecting.models import DunningRun, Notice, NoticeItem, PassedOverStep
from collecting.selectors import customer_timeline
from collecting.services import dunning, sending
from collecting.services.dunning import dunning_run
from collecting.services.sending import notice_reconcile, notices_send, notices_sweep
from collecting.tasks import run_dunning, schedule_runs, send_notices
from invoicing.models import LedgerEntry
from o2c.errors import ConflictError
from o2c.tenancy import tenant_context
from tests.collecting.conftest import make_policy
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

BERLIN = ZoneInfo("Europe/Berlin")


def at(day: date, hour: int = 7) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)


def setup_company(org):
    """Two customers; their invoices reach steps on 29 Jan (-3), 8 Feb (+7) and
    22 Feb (+21, fee 5.00)."""
    with tenant_context(org):
        make_policy()
        invoices = []
        for name in ("Alpha", "Bravo"):
            customer = CustomerFactory(name=name, email=f"{name.lower()}@example.com")
            invoices.append(
                issued_invoice(
                    customer,
                    "100.00",
                    invoice_date=date(2026, 1, 2),
                    due_date=date(2026, 2, 1),
                )
            )
        return invoices


def subjects(sink):
    """Dunning messages at the sink, leaving out the emails of issued invoices
    (sent when a test commits for real)."""
    return sorted(
        message.subject
        for message in sink.messages
        if not message.subject.startswith("Invoice ")
    )


@pytest.mark.django_db
def test_the_same_run_task_delivered_twice_sends_once(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    setup_company(org)
    with time_machine.travel(at(date(2026, 2, 8)), tick=False):
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                run_dunning(org.pk, "2026-02-08")
    assert subjects(smtp_sink) == ["Reminder 1 for Alpha", "Reminder 1 for Bravo"]
    with tenant_context(org):
        assert DunningRun.objects.get().status == "completed"
        assert Notice.objects.filter(status="sent").count() == 2


@pytest.mark.django_db
def test_a_send_task_delivered_twice_sends_once(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    setup_company(org)
    with time_machine.travel(at(date(2026, 2, 8)), tick=False), tenant_context(org):
        dunning_run()  # written, not sent: on_commit callbacks are not run here
        ids = list(Notice.objects.values_list("pk", flat=True))
        send_notices(org.pk, ids)
        send_notices(org.pk, ids)
    assert len(smtp_sink.messages) == 2


@pytest.mark.django_db
def test_a_worker_killed_mid_run_leaves_nothing_half_done(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    setup_company(org)
    with time_machine.travel(at(date(2026, 2, 8)), tick=False):
        real_write = dunning._write

        def die_after_writing(*args, **kwargs):
            real_write(*args, **kwargs)
            raise SystemExit("worker killed")

        with (
            mock.patch.object(dunning, "_write", die_after_writing),
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(SystemExit),
        ):
            run_dunning(org.pk, "2026-02-08")
        with tenant_context(org):
            assert not Notice.objects.exists()
            assert not NoticeItem.objects.exists()
            assert DunningRun.objects.get().status == "running"
        assert smtp_sink.messages == []
        # The task is delivered again (acks_late) and does the day once.
        with django_capture_on_commit_callbacks(execute=True):
            run_dunning(org.pk, "2026-02-08")
    assert subjects(smtp_sink) == ["Reminder 1 for Alpha", "Reminder 1 for Bravo"]


@pytest.mark.django_db
def test_a_crash_after_smtp_leaves_unknown_check_and_never_resends(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    alpha_invoice, _ = setup_company(org)
    with time_machine.travel(at(date(2026, 2, 22)), tick=False) as clock:
        with tenant_context(org):
            dunning_run()
            ids = list(Notice.objects.order_by("pk").values_list("pk", flat=True))
        real_record = sending.notice_record_sent

        def killed_for_alpha(*, notice, **kwargs):
            if notice.customer.name == "Alpha":
                raise SystemExit("worker killed after the SMTP hand-off")
            return real_record(notice=notice, **kwargs)

        with (
            mock.patch.object(sending, "notice_record_sent", killed_for_alpha),
            pytest.raises(SystemExit),
        ):
            send_notices(org.pk, ids)
        assert subjects(smtp_sink) == ["Reminder 2 for Alpha"]
        with tenant_context(org):
            alpha = Notice.objects.get(customer__name="Alpha")
            assert alpha.status == "sending"
            assert Notice.objects.get(customer__name="Bravo").status == "pending"
            # The task is redelivered: Bravo's notice goes, Alpha's is not resent;
            # nor by a new run, the sweep, or another redelivery.
            send_notices(org.pk, ids)
            assert subjects(smtp_sink) == [
                "Reminder 2 for Alpha",
                "Reminder 2 for Bravo",
            ]
            dunning_run()
            clock.shift(timedelta(minutes=31))
            assert notices_sweep() == {"unknown_check": 1, "requeued": 0}
            send_notices(org.pk, ids)
            alpha.refresh_from_db()
            assert alpha.status == "unknown_check"
            assert alpha.message_id == f"<notice-{alpha.pk}.{org.pk}@o2c.localhost>"
            # The Message-ID a person looks up in the mail server's log.
            assert smtp_sink.messages[0].message["Message-ID"] == alpha.message_id
            # No fee until a person confirms it left.
            assert not LedgerEntry.objects.filter(invoice=alpha_invoice, kind="fee")
            notice_reconcile(notice=alpha, sent=True, actor=SYSTEM, note="in mail log")
            with pytest.raises(ConflictError):
                notice_reconcile(notice=alpha, sent=True, actor=SYSTEM)
            fees = LedgerEntry.objects.filter(invoice=alpha_invoice, kind="fee")
            assert [fee.amount for fee in fees] == [Decimal("5.00")]
    assert len(smtp_sink.messages) == 2


@pytest.mark.django_db
def test_after_five_missed_days_each_customer_gets_one_notice_as_of_today(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    """Beat runs every morning up to 3 Feb, is down 4-8 Feb, back on 9 Feb.

    Alpha's invoices reached Reminder 2 (7 Feb) and Reminder 1 (8 Feb) while no
    run ran: one notice at Reminder 2 listing both, days overdue counted to
    9 Feb, one fee. Bravo's courtesy reminder fell due on 4 Feb about an invoice
    due on 7 Feb: it is not sent two days after the due date, and it is recorded
    as passed over.
    """
    with tenant_context(org):
        policy = make_policy()
        policy.min_days_between_notices = 0  # the cadence is tested on its own
        policy.save()
        alpha = CustomerFactory(name="Alpha", email="alpha@example.com")
        bravo = CustomerFactory(name="Bravo", email="bravo@example.com")
        issue = date(2026, 1, 2)
        a_late = issued_invoice(
            alpha, "100.00", invoice_date=issue, due_date=date(2026, 1, 17)
        )
        a_new = issued_invoice(
            alpha, "40.00", invoice_date=issue, due_date=date(2026, 2, 1)
        )
        b_due = issued_invoice(
            bravo, "70.00", invoice_date=issue, due_date=date(2026, 2, 7)
        )
    with time_machine.travel(at(date(2026, 1, 20)), tick=False) as clock:
        day = date(2026, 1, 20)
        while day <= date(2026, 2, 3):
            clock.move_to(at(day))
            with django_capture_on_commit_callbacks(execute=True):
                schedule_runs()
            day += timedelta(days=1)
        before = len(smtp_sink.messages)
        clock.move_to(at(date(2026, 2, 9)))
        with django_capture_on_commit_callbacks(execute=True):
            schedule_runs()
        with django_capture_on_commit_callbacks(execute=True):
            schedule_runs()  # the next tick changes nothing
    after = smtp_sink.messages[before:]
    assert [(m.rcpt_tos, m.subject) for m in after] == [
        (["alpha@example.com"], "Reminder 2 for Alpha")
    ]
    (message,) = after
    assert message.invoice_rows() == [
        (a_late.number, 23, "100.00"),
        (a_new.number, 8, "40.00"),
    ]
    assert "Fee: 5.00" in message.text
    with tenant_context(org):
        run = DunningRun.objects.get(run_date=date(2026, 2, 9))
        assert (run.caught_up_from, run.notices_created) == (date(2026, 2, 4), 1)
        assert (
            DunningRun.objects.filter(
                run_date__range=(date(2026, 2, 4), date(2026, 2, 8))
            ).count()
            == 0
        )
        assert [
            (n.customer.name, n.notice_date) for n in Notice.objects.filter(run=run)
        ] == [("Alpha", date(2026, 2, 9))]
        assert list(
            PassedOverStep.objects.values_list(
                "invoice_id", "step__name", "fell_due_on"
            )
        ) == [(b_due.pk, "Courtesy", date(2026, 2, 4))]
        fees = LedgerEntry.objects.filter(kind="fee")
        assert [(f.invoice_id, f.amount) for f in fees] == [
            (a_late.pk, Decimal("5.00"))
        ]
        timeline = customer_timeline(customer=bravo)
        assert any(
            "passed over during catch-up" in event.title for event in timeline
        ), [event.title for event in timeline]


@pytest.mark.django_db
def test_the_run_waits_for_the_local_dunning_hour(
    org, django_capture_on_commit_callbacks
):
    setup_company(org)
    # 04:30 UTC is 05:30 in Berlin: before the default 06:00.
    utc = ZoneInfo("UTC")
    for hour, enqueued in ((4, 0), (5, 1)):
        with (
            time_machine.travel(datetime(2026, 2, 8, hour, 30, tzinfo=utc)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert schedule_runs() == enqueued
    with tenant_context(org):
        assert DunningRun.objects.get().run_date == date(2026, 2, 8)


@pytest.mark.django_db
def test_an_invoice_paid_before_sending_is_left_off(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    alpha_invoice, _bravo_invoice = setup_company(org)
    with time_machine.travel(at(date(2026, 2, 8)), tick=False), tenant_context(org):
        dunning_run()
        received_payment(
            alpha_invoice.customer, "100.00", received_date=date(2026, 2, 8),
            allocations=[(alpha_invoice, "100.00")],
        )  # fmt: skip
        notices_send(notice_ids=list(Notice.objects.values_list("pk", flat=True)))
        alpha = Notice.objects.get(customer__name="Alpha")
        assert alpha.status == "skipped"
        assert alpha.items.get().left_off_reason == "paid"
    assert subjects(smtp_sink) == ["Reminder 1 for Bravo"]


def run_together(*calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            outcomes[index] = call()
        except Exception as error:
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_started_at_once_write_each_notice_once(org, smtp_sink):
    setup_company(org)

    def start():
        return run_dunning(org.pk, "2026-02-08")

    with time_machine.travel(at(date(2026, 2, 8)), tick=False):
        outcomes = run_together(start, start)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    with tenant_context(org):
        assert DunningRun.objects.count() == 1
        assert Notice.objects.count() == 2
        assert Notice.objects.filter(status="sent").count() == 2
    assert subjects(smtp_sink) == ["Reminder 1 for Alpha", "Reminder 1 for Bravo"]


@pytest.mark.django_db
def test_the_catch_up_looks_back_31_days_at_most(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    """Last run on 1 Jan, next on 20 Feb (50 days later): the steps that fell
    due from 20 Jan (31 days back) are recorded as passed over, older ones not."""
    with tenant_context(org):
        policy = make_policy()
        policy.min_days_between_notices = 0
        policy.save()
        customer = CustomerFactory(name="Alpha", email="alpha@example.com")
        # Courtesy 7 Jan, Reminder 1 17 Jan (before the window), Reminder 2
        # 31 Jan (inside), Final notice (letter) 14 Feb (inside), Call 24 Feb.
        invoice = issued_invoice(
            customer,
            "100.00",
            invoice_date=date(2025, 12, 1),
            due_date=date(2026, 1, 10),
        )
    for day in (date(2026, 1, 1), date(2026, 2, 20)):
        with (
            time_machine.travel(at(day), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            run_dunning(org.pk)
    with tenant_context(org):
        run = DunningRun.objects.get(run_date=date(2026, 2, 20))
        assert run.caught_up_from == date(2026, 1, 20)
        assert list(
            PassedOverStep.objects.order_by("fell_due_on").values_list(
                "step__name", "fell_due_on"
            )
        ) == [("Reminder 2", date(2026, 1, 31))]
        # The letter step (14 Feb) is the one reached: it is what goes out.
        notice = Notice.objects.get(run=run)
        assert (notice.step.name, notice.items.get().invoice_id) == (
            "Final notice",
            invoice.pk,
        )
