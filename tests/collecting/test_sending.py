"""What a notice looks like when it leaves: attachments, language, recipients,
and what happens when it cannot leave."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from collecting.models import Notice
from collecting.services.accounts import email_send
from collecting.services.dunning import dunning_run
from collecting.services.policies import template_create
from collecting.services.sending import notice_retry, notices_send
from orders.models import Contact
from tests.collecting.conftest import make_policy
from tests.factories import SYSTEM, CustomerFactory, issued_invoice

NOW = datetime(2026, 2, 8, 7, tzinfo=ZoneInfo("Europe/Berlin"))


def overdue(customer, amount):
    return issued_invoice(
        customer, amount, invoice_date=date(2026, 1, 2), due_date=date(2026, 2, 1)
    )


@pytest.mark.django_db
def test_an_email_notice_carries_each_invoice_as_pdf(tenant, smtp_sink):
    make_policy(attach=True)
    with time_machine.travel(NOW, tick=False):
        customer = CustomerFactory(name="Acme", email="office@acme.example")
        Contact.objects.create(
            organization=tenant, customer=customer, name="Ann AP",
            email="ann@acme.example", role=Contact.Role.AP_CLERK,
        )  # fmt: skip
        first, second = overdue(customer, "100.00"), overdue(customer, "20.50")
        dunning_run()
        notices_send(notice_ids=list(Notice.objects.values_list("pk", flat=True)))
    (message,) = smtp_sink.messages
    assert message.rcpt_tos == ["ann@acme.example"]
    assert message.subject == "Reminder 1 for Acme"
    assert "Dear Ann AP" in message.text
    assert "Total: 120.50 EUR" in message.text
    pdfs = message.attachments()
    assert [pdf.get_filename() for pdf in pdfs] == [
        f"{first.number}.pdf",
        f"{second.number}.pdf",
    ]
    assert all(pdf.get_content().startswith(b"%PDF") for pdf in pdfs)
    html = message.message.get_body(("html",)).get_content()
    assert first.number in html


@pytest.mark.django_db
def test_no_address_fails_visibly_and_is_sent_when_a_person_retries(
    tenant, smtp_sink, django_capture_on_commit_callbacks
):
    make_policy()
    with time_machine.travel(NOW, tick=False):
        customer = CustomerFactory(name="Mute", email="")
        overdue(customer, "100.00")
        dunning_run()
        notices_send(notice_ids=list(Notice.objects.values_list("pk", flat=True)))
        notice = Notice.objects.get()
        assert notice.status == "failed"
        assert "no billing contact" in notice.error
        customer.email = "found@mute.example"
        customer.save()
        with django_capture_on_commit_callbacks(execute=True):
            notice_retry(notice=notice, actor=SYSTEM)
        notice.refresh_from_db()
        assert notice.status == "sent"
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["found@mute.example"]]


@pytest.mark.django_db
def test_a_collector_sends_a_templated_email(
    tenant, smtp_sink, django_capture_on_commit_callbacks
):
    template = template_create(
        actor=SYSTEM,
        name="Statement",
        subject="Your open items with {{ organization.name }}",
        body="{{ invoices_table }}\nOpen: {{ total }} {{ currency }}",
        translations={"de": {"subject": "Ihre offenen Posten"}},
    )
    with time_machine.travel(NOW, tick=False):
        customer = CustomerFactory(email="buch@kunde.example", language="de")
        overdue(customer, "75.00")
        with django_capture_on_commit_callbacks(execute=True):
            notice = email_send(customer=customer, template=template, actor=SYSTEM)
        notice.refresh_from_db()
        assert notice.status == "sent"
        assert notice.fee_amount == Decimal(0)
    (message,) = smtp_sink.messages
    assert message.subject == "Ihre offenen Posten"
    # A German customer reads German amounts and table headings.
    assert "Open: 75,00 EUR" in message.text
    heading = " ".join(message.text.splitlines()[0].split())
    assert heading == "Rechnung Fällig am Tage überfällig Offen (EUR)"
