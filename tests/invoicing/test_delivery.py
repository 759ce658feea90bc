"""Emailing issued invoices, over a real SMTP conversation with a local sink."""

from datetime import date
from decimal import Decimal

import pytest

from invoicing.models import Invoice, InvoiceDelivery
from invoicing.services.batch import BatchInvoice, invoice_batch_create
from invoicing.services.delivery import (
    credit_note_delivery_schedule,
    delivery_reconcile,
    delivery_resend,
    invoice_delivery_schedule,
)
from invoicing.services.invoices import (
    LineInput,
    credit_note_create,
    invoice_create,
    invoice_issue,
)
from invoicing.tasks import send_invoice_delivery
from o2c.errors import ConflictError
from o2c.models import AuditEvent
from orders.models import Contact
from tests.factories import SYSTEM, CustomerFactory, issued_invoice
from tests.smtp import free_port

Status = InvoiceDelivery.Status


@pytest.fixture
def seller(tenant):
    tenant.name = "Acme Tools"
    tenant.email = "ar@acme.example"
    tenant.date_format = "d.m.Y"
    tenant.payment_instructions = "IBAN DE89 3704 0044 0532 0130 00"
    tenant.save()
    return tenant


@pytest.fixture
def issue(django_capture_on_commit_callbacks):
    """Issue an invoice and run what its commit triggers (the eager email task)."""

    def issue(customer, amount="548.40", **fields):
        invoice = invoice_create(
            customer=customer,
            invoice_date=date(2026, 3, 2),
            due_date=date(2026, 4, 1),
            lines=[LineInput("Cordless drill", Decimal(1), Decimal(amount))],
            actor=SYSTEM,
            **fields,
        )
        with django_capture_on_commit_callbacks(execute=True):
            return invoice_issue(invoice=invoice, actor=SYSTEM)

    return issue


def billing_contact(customer, email, **fields):
    return Contact.objects.create(
        organization=customer.organization,
        customer=customer,
        name=email.split("@")[0],
        email=email,
        **fields,
    )


def test_issuing_emails_the_invoice_with_its_pdf_to_the_billing_contacts(
    seller, smtp_sink, issue
):
    customer = CustomerFactory(name="Globex", email="info@globex.example")
    billing_contact(customer, "ap@globex.example", is_primary=True)
    billing_contact(customer, "controller@globex.example")
    billing_contact(customer, "clerk@globex.example", role=Contact.Role.AP_CLERK)
    Contact.objects.create(
        organization=seller, customer=customer, name="Nobody", email=""
    )

    invoice = issue(customer)

    assert len(smtp_sink.messages) == 1
    received = smtp_sink.messages[0]
    assert received.rcpt_tos == ["ap@globex.example", "controller@globex.example"]
    message = received.message
    assert message["To"] == "ap@globex.example, controller@globex.example"
    assert message["Subject"] == "Invoice INV-000001 from Acme Tools"
    assert message["Reply-To"] == "ar@acme.example"
    text = message.get_body(("plain",)).get_content()
    assert "invoice INV-000001 of 02.03.2026 for €548.40" in text
    assert "It is due on 01.04.2026." in text
    assert "IBAN DE89 3704 0044 0532 0130 00" in text
    assert "Please quote INV-000001 as the payment reference" in text
    html = message.get_body(("html",)).get_content()
    assert "<strong>€548.40</strong>" in html
    (attachment,) = received.attachments()
    assert attachment.get_filename() == "INV-000001.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content().startswith(b"%PDF-")

    delivery = InvoiceDelivery.objects.get(invoice=invoice)
    assert delivery.status == Status.SENT
    assert delivery.sent_at is not None
    assert delivery.recipients == ["ap@globex.example", "controller@globex.example"]
    # a long Message-ID header may be folded onto its own line: compare unfolded
    assert delivery.message_id == str(message["Message-ID"]).strip()
    assert delivery.error == ""
    assert list(
        AuditEvent.objects.filter(object_id=str(delivery.pk))
        .filter(object_type="invoicing.invoicedelivery")
        .values_list("to_status", flat=True)
        .order_by("pk")
    ) == ["pending", "sending", "sent"]


@pytest.mark.django_db(transaction=True)
def test_a_real_commit_sends_the_invoice(seller, smtp_sink):
    customer = CustomerFactory(email="ap@globex.example")

    invoice = issued_invoice(customer, "100.00")

    (received,) = smtp_sink.messages
    assert received.rcpt_tos == ["ap@globex.example"]
    assert InvoiceDelivery.objects.get(invoice=invoice).status == Status.SENT


def test_a_batch_emails_each_invoice_once_after_its_commit(
    seller, smtp_sink, django_capture_on_commit_callbacks
):
    customers = [CustomerFactory(email=f"ap{n}@globex.example") for n in range(3)]
    with django_capture_on_commit_callbacks() as callbacks:
        created = invoice_batch_create(
            invoices=[
                BatchInvoice(
                    customer=customer,
                    invoice_date=date(2026, 3, 2),
                    lines=[LineInput("Cordless drill", Decimal(1), Decimal(n + 10))],
                )
                for n, customer in enumerate(customers)
            ],
            issue=True,
            actor=SYSTEM,
        )
    assert smtp_sink.messages == []  # nothing before the commit
    assert len(callbacks) == 1  # one task for the batch, not one per invoice

    for callback in callbacks:
        callback()

    received = sorted(
        (message.rcpt_tos[0], message.subject, message.attachments())
        for message in smtp_sink.messages
    )
    assert [to for to, _, _ in received] == [c.email for c in customers]
    for (_, subject, attachments), invoice in zip(received, created, strict=True):
        assert invoice.number in subject
        assert [a.get_filename() for a in attachments] == [f"{invoice.number}.pdf"]
    deliveries = InvoiceDelivery.objects.filter(invoice__in=created)
    assert sorted(d.status for d in deliveries) == [Status.SENT] * 3
    assert (
        AuditEvent.objects.filter(
            object_type="invoicing.invoicedelivery",
            object_id__in=[str(d.pk) for d in deliveries],
            action="requested",
            to_status="pending",
        ).count()
        == 3
    )


def test_the_row_is_written_with_the_invoice_and_sent_only_after_commit(
    seller, smtp_sink
):
    customer = CustomerFactory(email="ap@globex.example")

    invoice = issued_invoice(customer, "100.00")  # the test transaction never commits

    delivery = InvoiceDelivery.objects.get(invoice=invoice)
    assert delivery.status == Status.PENDING
    assert smtp_sink.messages == []


def test_running_the_task_again_sends_nothing_more(seller, smtp_sink, issue):
    customer = CustomerFactory(email="ap@globex.example")
    invoice = issue(customer)
    delivery = InvoiceDelivery.objects.get(invoice=invoice)

    send_invoice_delivery.delay(seller.pk, delivery.pk)
    send_invoice_delivery.delay(seller.pk, delivery.pk)

    assert len(smtp_sink.messages) == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.SENT


def test_a_delivery_left_sending_is_never_sent_again_automatically(
    seller, smtp_sink, issue
):
    customer = CustomerFactory(email="ap@globex.example")
    invoice = issue(customer)
    delivery = InvoiceDelivery.objects.get(invoice=invoice)
    # The worker died after handing the message to SMTP, before recording it.
    InvoiceDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.SENDING, sent_at=None
    )

    send_invoice_delivery.delay(seller.pk, delivery.pk)
    with pytest.raises(ConflictError):
        delivery_resend(delivery=delivery, actor=SYSTEM)

    assert len(smtp_sink.messages) == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.SENDING
    # A person found the Message-ID in the mail server's log.
    delivery = delivery_reconcile(delivery=delivery, sent=True, actor=SYSTEM)
    assert delivery.status == Status.SENT
    assert delivery.sent_at is not None


def test_customer_email_is_used_when_there_is_no_billing_contact(
    seller, smtp_sink, issue
):
    customer = CustomerFactory(email="info@globex.example")
    billing_contact(customer, "clerk@globex.example", role=Contact.Role.AP_CLERK)

    issue(customer)

    assert [m.rcpt_tos for m in smtp_sink.messages] == [["info@globex.example"]]


def test_no_billing_address_is_recorded_and_sent_once_someone_adds_one(
    seller, smtp_sink, issue, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="")
    invoice = issue(customer)

    delivery = InvoiceDelivery.objects.get(invoice=invoice)
    assert delivery.status == Status.NO_RECIPIENT
    assert "no billing contact" in delivery.error
    assert smtp_sink.messages == []

    billing_contact(customer, "ap@globex.example")
    with django_capture_on_commit_callbacks(execute=True):
        delivery_resend(delivery=delivery, actor=SYSTEM)

    delivery.refresh_from_db()
    assert delivery.status == Status.SENT
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["ap@globex.example"]]


def test_a_refused_message_is_failed_with_the_reason_and_can_be_resent(
    seller, smtp_sink, issue, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="ap@globex.example")
    smtp_sink.refuse.add("ap@globex.example")

    invoice = issue(customer)

    delivery = InvoiceDelivery.objects.get(invoice=invoice)
    assert delivery.status == Status.FAILED
    assert "SMTPRecipientsRefused" in delivery.error
    assert "Mailbox unavailable" in delivery.error
    assert smtp_sink.messages == []

    smtp_sink.refuse.clear()
    with django_capture_on_commit_callbacks(execute=True):
        delivery_resend(delivery=delivery, actor=SYSTEM)

    delivery.refresh_from_db()
    assert delivery.status == Status.SENT
    assert delivery.error == ""
    assert len(smtp_sink.messages) == 1
    with pytest.raises(ConflictError):
        delivery_resend(delivery=delivery, actor=SYSTEM)


def test_an_unreachable_mail_server_fails_the_delivery(
    seller, smtp_sink, settings, issue
):
    customer = CustomerFactory(email="ap@globex.example")
    settings.EMAIL_PORT = free_port()  # nothing listens there

    invoice = issue(customer)

    delivery = InvoiceDelivery.objects.get(invoice=invoice)
    assert delivery.status == Status.FAILED
    assert "ConnectionRefusedError" in delivery.error


def test_imported_history_is_not_emailed(seller, smtp_sink, issue):
    customer = CustomerFactory(email="ap@globex.example")

    invoice = issue(customer, source=Invoice.Source.IMPORT, number="OLD-17")

    assert not InvoiceDelivery.objects.filter(invoice=invoice).exists()
    assert smtp_sink.messages == []


def test_a_person_can_send_an_invoice_again(
    seller, smtp_sink, issue, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="ap@globex.example")
    invoice = issue(customer)

    with django_capture_on_commit_callbacks(execute=True):
        invoice_delivery_schedule(invoice=invoice, actor=SYSTEM)

    assert len(smtp_sink.messages) == 2
    assert InvoiceDelivery.objects.filter(invoice=invoice).count() == 2


def test_credit_note_is_emailed_with_its_pdf(
    seller, smtp_sink, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="ap@globex.example")
    invoice = issued_invoice(customer, "500.00")
    credit_note = credit_note_create(
        invoice=invoice,
        credit_date=date(2026, 1, 10),
        reason="Damaged in transit",
        lines=[LineInput("Damaged unit", Decimal(1), Decimal("100.00"))],
        actor=SYSTEM,
    )

    with django_capture_on_commit_callbacks(execute=True):
        delivery = credit_note_delivery_schedule(credit_note=credit_note, actor=SYSTEM)

    (received,) = smtp_sink.messages
    assert received.message["Subject"] == "Credit note CN-000001 from Acme Tools"
    text = received.message.get_body(("plain",)).get_content()
    assert "credit note CN-000001 of 10.01.2026 for €100.00" in text
    assert "credited against invoice INV-000001" in text
    (attachment,) = received.attachments()
    assert attachment.get_filename() == "CN-000001.pdf"
    delivery.refresh_from_db()
    assert delivery.status == Status.SENT
