"""The mail server down, refusing, or hanging up: a notice the server never got is
sent again by the product alone, once; only one it may have got waits for a
person ("unknown — check")."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.test import Client

from collecting.models import Notice
from collecting.services.sending import MAX_SEND_ATTEMPTS
from collecting.tasks import run_dunning, schedule_runs
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.collecting.conftest import make_policy
from tests.factories import CustomerFactory, issued_invoice, member
from tests.smtp import SmtpSink, free_port

BERLIN = ZoneInfo("Europe/Berlin")
RUN_AT = datetime(2026, 2, 8, 7, tzinfo=BERLIN)


def two_customers(org):
    """Alpha and Bravo each reach Reminder 1 (+7) on 8 Feb."""
    with tenant_context(org):
        make_policy()
        for name in ("Alpha", "Bravo"):
            customer = CustomerFactory(name=name, email=f"{name.lower()}@example.com")
            issued_invoice(
                customer,
                "100.00",
                invoice_date=date(2026, 1, 2),
                due_date=date(2026, 2, 1),
            )


def statuses(org):
    with tenant_context(org):
        return sorted(
            Notice.objects.values_list("customer__name", "status", "attempts")
        )


@pytest.fixture
def server_down(settings, smtp_sink):
    """Django points at a port where nothing listens; ``back()`` restores the
    sink's."""
    settings.EMAIL_PORT = free_port()

    class Switch:
        @staticmethod
        def back():
            settings.EMAIL_PORT = smtp_sink.port

    return Switch


@pytest.mark.django_db
def test_notices_wait_while_the_server_is_down_and_go_once_when_it_is_back(
    org, smtp_sink, server_down, django_capture_on_commit_callbacks
):
    two_customers(org)
    with time_machine.travel(RUN_AT, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            run_dunning(org.pk)
        # Nothing was handed over: pending, to be retried, none "unknown — check".
        assert statuses(org) == [("Alpha", "pending", 1), ("Bravo", "pending", 1)]
        with tenant_context(org):
            notice = Notice.objects.get(customer__name="Alpha")
            assert notice.retry_at == RUN_AT + timedelta(minutes=1)
            assert "could not be reached" in notice.error
        # The runs page shows them waiting, with the reason.
        admin = member(org, Role.ADMIN)
        client = Client()
        client.force_login(admin)
        page = client.get("/collections/runs/").text
        assert "Waiting to be sent again (2)" in page
        assert "could not be reached" in page

        # Still down at the first retry: the next wait is twice as long.
        clock.shift(timedelta(minutes=1, seconds=5))
        with django_capture_on_commit_callbacks(execute=True):
            schedule_runs()
        assert statuses(org) == [("Alpha", "pending", 2), ("Bravo", "pending", 2)]
        with tenant_context(org):
            retry_at = Notice.objects.get(customer__name="Alpha").retry_at
            assert retry_at == RUN_AT + timedelta(minutes=3, seconds=5)

        # The server is back; beat's next tick after the wait sends each once.
        server_down.back()
        clock.shift(timedelta(minutes=3))
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                schedule_runs()
            clock.shift(timedelta(minutes=15))
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        "alpha@example.com",
        "bravo@example.com",
    ]
    assert [name for name, status, _ in statuses(org) if status == "sent"] == [
        "Alpha",
        "Bravo",
    ]


@pytest.mark.django_db
def test_a_server_down_for_good_fails_the_notice_with_the_reason(
    org, smtp_sink, server_down, django_capture_on_commit_callbacks
):
    two_customers(org)
    with time_machine.travel(RUN_AT, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=True):
            run_dunning(org.pk)
        for _ in range(MAX_SEND_ATTEMPTS + 2):
            clock.shift(timedelta(hours=1, minutes=1))
            with django_capture_on_commit_callbacks(execute=True):
                schedule_runs()
    assert statuses(org) == [
        ("Alpha", "failed", MAX_SEND_ATTEMPTS),
        ("Bravo", "failed", MAX_SEND_ATTEMPTS),
    ]
    with tenant_context(org):
        error = Notice.objects.get(customer__name="Alpha").error
    assert error.startswith(f"Not sent after {MAX_SEND_ATTEMPTS} attempts.")
    assert smtp_sink.messages == []


@pytest.mark.django_db
def test_a_recipient_refused_for_good_fails_at_once(
    org, smtp_sink, django_capture_on_commit_callbacks
):
    two_customers(org)
    smtp_sink.refuse.add("alpha@example.com")
    with (
        time_machine.travel(RUN_AT, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run_dunning(org.pk)
    assert statuses(org) == [("Alpha", "failed", 0), ("Bravo", "sent", 0)]
    with tenant_context(org):
        error = Notice.objects.get(customer__name="Alpha").error
    assert "alpha@example.com: 550" in error
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["bravo@example.com"]]


class BusyThenHangingUp(SmtpSink):
    """Answers 451 to the first DATA, then hangs up in the middle of the next."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.data_calls = 0

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.data_calls == 1:
            return "451 4.3.0 Try again later"
        if self.data_calls == 2:
            server.transport.close()
            return None
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.django_db
def test_a_temporary_refusal_is_retried_and_a_broken_transfer_goes_to_a_person(
    org, settings, django_capture_on_commit_callbacks
):
    sink = BusyThenHangingUp(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    try:
        two_customers(org)
        with (
            time_machine.travel(RUN_AT, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            run_dunning(org.pk)
    finally:
        controller.stop()
    # Alpha's message was refused with 451: not handed over, waiting to retry.
    # Bravo's connection broke during DATA: it may have arrived, so a person
    # checks; it is never sent again by itself.
    assert statuses(org) == [("Alpha", "pending", 1), ("Bravo", "unknown_check", 0)]
    with tenant_context(org):
        assert "451" in Notice.objects.get(customer__name="Alpha").error
        assert "may have it" in Notice.objects.get(customer__name="Bravo").error
