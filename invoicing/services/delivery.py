"""Emailing issued invoices and credit notes to the customer's billing contacts.

Every email is an :class:`~invoicing.models.InvoiceDelivery` row written before
anything is sent, in the transaction that issues the document, so none is lost
silently:

1. :func:`invoice_delivery_on_issue` (called by ``invoice_issue``) and the
   ``*_delivery_schedule`` services write the row ``pending`` and, once that
   transaction commits, enqueue the task ``invoicing.send_invoice_delivery``
   (a batch of invoices, :func:`invoice_deliveries_on_issue`, enqueues one task
   that enqueues it for each).
2. :func:`delivery_send` (the task's body) claims the row ``pending → sending``
   under a row lock. A second run of the task finds it claimed and does nothing.
   With no billing address the row becomes ``no_recipient`` instead, for a person
   to see.
3. It renders the PDF and the email in the customer's language (the subject,
   in that language too, was chosen at the claim), hands the message to Django's
   email backend and records ``sent`` (with ``sent_at``) or ``failed`` (with the
   error).

The Message-ID is chosen and stored at the claim. A row left ``sending`` means the
worker stopped after the claim and before recording the outcome: the message may
or may not have gone out, so nothing resends it automatically; a person looks the
Message-ID up in the mail server's log and records the outcome with
:func:`delivery_reconcile`. :func:`delivery_resend` is a person's request to try a
``failed`` or ``no_recipient`` delivery again.
"""

from __future__ import annotations

from email.utils import formataddr, make_msgid, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from invoicing.models import CreditNote, Invoice, InvoiceDelivery, PortalAccess
from invoicing.portal import portal_link_issue
from invoicing.services.email_text import invoice_email_render
from o2c import celery
from o2c.document_language import speaking
from o2c.errors import ConflictError, DomainError
from o2c.rows import insert_instances, insert_rows
from o2c.services import Actor, audit_record, audit_records, lock, transition
from o2c.tenancy import current_organization
from orders.models import Contact, Customer

SENDER = Actor.system("invoice email")
Status = InvoiceDelivery.Status


def invoice_delivery_on_issue(
    *, invoice: Invoice, actor: Actor
) -> InvoiceDelivery | None:
    """Email an invoice that is being issued, unless it is imported history.

    Call inside the issuing transaction: the row commits (or rolls back) with the
    invoice. Invoices imported from a previous system were sent by that system.
    """
    if invoice.source == Invoice.Source.IMPORT:
        return None
    return _schedule(invoice=invoice, actor=actor)


def invoice_deliveries_on_issue(*, invoices: list[Invoice], actor: Actor) -> None:
    """:func:`invoice_delivery_on_issue` for many invoices issued together (a
    batch, inside its ``audit_batch``): their rows in one INSERT and, once the
    transaction commits, one task (``invoicing.send_invoice_deliveries``) that
    enqueues each one's sending, instead of the request enqueueing a thousand."""
    invoices = [i for i in invoices if i.source != Invoice.Source.IMPORT]
    if not invoices:
        return
    organization_id = current_organization().pk
    delivery_ids = insert_rows(
        InvoiceDelivery,
        [{"organization_id": organization_id, "invoice_id": i.pk} for i in invoices],
    )
    audit_records(
        actor=actor,
        model=InvoiceDelivery,
        ids=delivery_ids,
        action="requested",
        to_status=Status.PENDING,
    )

    _enqueue_on_commit(
        "invoicing.send_invoice_deliveries", organization_id, delivery_ids
    )


@transaction.atomic
def invoice_delivery_schedule(*, invoice: Invoice, actor: Actor) -> InvoiceDelivery:
    """Email an issued invoice (again) at a person's request."""
    if not invoice.is_issued:
        raise ConflictError(
            "invalid_status",
            _("Invoice %(invoice)s is %(status)s; only issued invoices are sent.")
            % {"invoice": invoice, "status": invoice.status},
            field="invoice",
        )
    return _schedule(invoice=invoice, actor=actor)


@transaction.atomic
def credit_note_delivery_schedule(
    *, credit_note: CreditNote, actor: Actor
) -> InvoiceDelivery:
    """Email a credit note to the customer's billing contacts."""
    if credit_note.status != CreditNote.Status.ISSUED:
        raise ConflictError(
            "invalid_status",
            _("Credit note %(credit_note)s is %(status)s; it is not sent.")
            % {"credit_note": credit_note, "status": credit_note.status},
            field="credit_note",
        )
    return _schedule(credit_note=credit_note, actor=actor)


def delivery_send(*, delivery_id: int) -> InvoiceDelivery | None:
    """Claim a pending delivery and send it; a no-op for any other status.

    Deliberately not one transaction: the claim commits before the message
    leaves, and the outcome is recorded in a transaction of its own.
    """
    delivery = _claim(delivery_id)
    if delivery is None or delivery.status != Status.SENDING:
        return delivery
    try:
        _build_message(delivery).send()
    except Exception as error:  # whatever failed, a person must see it
        return transition(
            obj=delivery,
            to_status=Status.FAILED,
            actor=SENDER,
            extra_fields={"error": f"{type(error).__name__}: {error}"[:2000]},
        )
    return transition(
        obj=delivery,
        to_status=Status.SENT,
        actor=SENDER,
        extra_fields={"sent_at": timezone.now()},
    )


@transaction.atomic
def delivery_resend(*, delivery: InvoiceDelivery, actor: Actor) -> InvoiceDelivery:
    """Try a ``failed`` or ``no_recipient`` delivery again, at a person's request.

    Recipients are looked up afresh when the task claims it, so a billing contact
    added in the meantime receives it.
    """
    delivery = lock(delivery)
    if delivery.status not in (Status.FAILED, Status.NO_RECIPIENT):
        raise ConflictError(
            "invalid_transition",
            _(
                "This delivery is %(status)s; only failed deliveries and those "
                "without a recipient are sent again."
            )
            % {"status": delivery.get_status_display().lower()},
        )
    delivery = transition(
        obj=delivery,
        to_status=Status.PENDING,
        actor=actor,
        action="resend_requested",
        data={"previous_error": delivery.error},
        extra_fields={"error": ""},
    )
    enqueue_on_commit(delivery)
    return delivery


@transaction.atomic
def delivery_reconcile(
    *, delivery: InvoiceDelivery, sent: bool, actor: Actor, note: str = ""
) -> InvoiceDelivery:
    """Record what a person found out about a delivery left ``sending``.

    ``sent`` is whether the mail server's log shows the Message-ID as accepted.
    """
    delivery = lock(delivery)
    if delivery.status != Status.SENDING:
        raise ConflictError(
            "invalid_transition",
            _("This delivery is %(status)s; only one stuck in sending is reconciled.")
            % {"status": delivery.get_status_display().lower()},
        )
    if not sent and not note.strip():
        raise DomainError("required", _("Say what happened to it."), field="note")
    outcome = {"sent_at": timezone.now()} if sent else {"error": note.strip()}
    return transition(
        obj=delivery,
        to_status=Status.SENT if sent else Status.FAILED,
        actor=actor,
        action="reconciled",
        data={"note": note.strip()},
        extra_fields=outcome,
    )


def _schedule(*, actor: Actor, invoice=None, credit_note=None) -> InvoiceDelivery:
    (delivery,) = insert_instances(
        [
            InvoiceDelivery(
                organization=current_organization(),
                invoice=invoice,
                credit_note=credit_note,
            )
        ]
    )
    audit_record(actor=actor, obj=delivery, action="requested", to_status="pending")
    enqueue_on_commit(delivery)
    return delivery


def enqueue_on_commit(delivery: InvoiceDelivery) -> None:
    _enqueue_on_commit(
        "invoicing.send_invoice_delivery", delivery.organization_id, delivery.pk
    )


def _enqueue_on_commit(task: str, organization_id: int, deliveries) -> None:
    """Enqueue ``task`` for the organization's ``deliveries`` (an id or a list
    of them) once the transaction commits."""

    def enqueue():
        celery.enqueue(task, organization_id, deliveries)

    # robust: a broker outage must not fail a request whose transaction has
    # already committed; the rows stay pending, visible to a person. (A named
    # function, not a partial: Django logs the failure by ``__qualname__``.)
    transaction.on_commit(enqueue, robust=True)


@transaction.atomic
def _claim(delivery_id: int) -> InvoiceDelivery | None:
    """Move a pending delivery to ``sending`` (or ``no_recipient``) under a lock."""
    delivery = (
        InvoiceDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != Status.PENDING:
        return None
    document = _document(delivery)
    recipients = _billing_recipients(document.customer)
    if not recipients:
        return transition(
            obj=delivery,
            to_status=Status.NO_RECIPIENT,
            actor=SENDER,
            extra_fields={
                "recipients": [],
                "error": f"Customer {document.customer} has no billing contact "
                "with an email address and no email of its own.",
            },
        )
    return transition(
        obj=delivery,
        to_status=Status.SENDING,
        actor=SENDER,
        extra_fields={
            "recipients": recipients,
            "subject": _subject(document),
            "message_id": make_msgid(
                idstring=f"delivery-{delivery.pk}", domain=_sender_domain()
            ),
            "error": "",
        },
    )


def _document(delivery: InvoiceDelivery) -> Invoice | CreditNote:
    return delivery.credit_note or delivery.invoice


def _billing_recipients(customer: Customer) -> list[str]:
    """Billing contacts' addresses (primary first); else the customer's own."""
    addresses = Contact.objects.filter(
        customer=customer, role=Contact.Role.BILLING
    ).exclude(email="")
    unique: dict[str, str] = {}
    for address in addresses.values_list("email", flat=True):
        unique.setdefault(address.strip().lower(), address.strip())
    if unique:
        return list(unique.values())
    return [customer.email] if customer.email else []


def _subject(document: Invoice | CreditNote) -> str:
    """The subject in the customer's language, as the email's text will be: an
    invoice's from the organization's text (:mod:`invoicing.services.email_text`)."""
    if isinstance(document, Invoice):
        return invoice_email_render(document, portal_url="").subject
    organization = current_organization()
    with speaking(document.customer.language, organization):
        values = {"number": document.number, "organization": organization.name}
        return _("Credit note %(number)s from %(organization)s") % values


def _sender_address() -> str:
    """The platform's sending address; each organization's name is shown with it.

    Customers reply to the organization's own address (Reply-To), while the
    envelope stays on a domain whose SPF/DKIM the platform controls.
    """
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def _sender_domain() -> str:
    return _sender_address().rpartition("@")[2] or "localhost"


def _build_message(delivery: InvoiceDelivery) -> EmailMultiAlternatives:
    # WeasyPrint loads Pango and fonts; only processes that render pay for it.
    from invoicing.documents import render_credit_note_pdf, render_invoice_pdf

    organization = current_organization()
    document = _document(delivery)
    if isinstance(document, CreditNote):
        text, html = _credit_note_texts(document, organization)
        pdf = render_credit_note_pdf(document)
    else:
        # The organization's wording, rendered as the editor's preview shows it.
        link = portal_link_issue(
            customer=document.customer, kind=PortalAccess.Kind.INVOICE, invoice=document
        )
        rendered = invoice_email_render(document, portal_url=link)
        text, html = rendered.text, rendered.html
        pdf = render_invoice_pdf(document)
    message = EmailMultiAlternatives(
        subject=delivery.subject,
        body=text,
        from_email=formataddr((organization.name, _sender_address())),
        to=delivery.recipients,
        reply_to=[organization.email] if organization.email else None,
        headers={
            "Message-ID": delivery.message_id,
            # Postmark reports its own id; this metadata brings ours back.
            "X-PM-Metadata-message-id": delivery.message_id,
        },
    )
    message.attach_alternative(html, "text/html")
    message.attach(_filename(document), pdf, "application/pdf")
    return message


def _credit_note_texts(credit_note, organization) -> tuple[str, str]:
    """The credit note's text and HTML in the customer's language."""
    with speaking(credit_note.customer.language, organization) as language:
        context = {
            "organization": organization,
            "customer": credit_note.customer,
            "document": credit_note,
            "invoice": credit_note.invoice,
            "total": language.money(credit_note.total, credit_note.currency),
            "instalments": [],
        }
        return (
            render_to_string("invoicing/email/credit_note.txt", context),
            render_to_string("invoicing/email/credit_note.html", context),
        )


def _filename(document: Invoice | CreditNote) -> str:
    # Numbers from other billing systems may hold "/" or spaces.
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in document.number)
    return f"{safe}.pdf"
