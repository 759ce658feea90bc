"""Sending notices: claim, re-check, render, hand to SMTP, record.

The dunning run has already written each notice ``pending`` (with its items) and
committed. :func:`notices_send` then, per notice:

1. **claims** it with one conditional UPDATE (``pending → sending`` where the status
   is still ``pending``; a second worker's UPDATE matches no row and it moves on)
   and fixes its Message-ID, in a transaction that commits before anything leaves;
2. **re-checks** its invoices: one paid (or paused by a dispute, promise or payment
   plan) since the run is left off; with none left the notice is ``skipped``;
3. **renders** subject and body from the step's template in the customer's
   language, with the invoices table and, for an email step with
   ``attach_invoices``, each invoice's PDF;
4. **hands it over**: an email over SMTP, one connection per batch, step by step
   (MAIL, RCPT, DATA) so that what failed is known; a letter is rendered to PDF
   and stored on the notice for the mailroom; a call task, a credit hold or an
   agency flag is applied;
5. **records** ``sent`` (a conditional UPDATE from ``sending``, with its audit
   event), applies the channel's effect and posts the step's fee to the ledger,
   in one transaction.

What the re-check reads is loaded once per batch of ``BATCH_SIZE`` notices.

When the mail server cannot be reached or refuses the message, it has not got
it: an email notice whose connection cannot be opened is not even claimed, and
one the server refused (sender, every recipient or the data with a 4xx reply) is
released ``sending → pending``. Either waits ``retry_at`` (exponential backoff)
and is sent by the product alone when the server is back: the retry is enqueued
with that countdown and :func:`notices_sweep` enqueues any that are due. After
``MAX_SEND_ATTEMPTS`` it is ``failed`` with the reason. A permanent refusal
(5xx) fails at once; a rendering error or a customer without an address too.

Only a message that may have reached the server is never sent again by
itself: the connection breaking during DATA makes it ``unknown_check`` at once,
and so does the sweep for a ``sending`` row older than the organization's
``stale_sending_minutes`` (a worker killed between 4 and 5). A person looks the
Message-ID up in the mail server's log and records the outcome
(:func:`notice_reconcile`). A ``failed`` notice is sent again only at a person's
request (:func:`notice_retry`).

Fees post once per notice (``document_type="collecting.notice"``, ``document_id``
= the notice's id): the record step looks for an existing fee entry first.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
from datetime import timedelta
from decimal import Decimal
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import sanitize_address
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from collecting.models import (
    CustomerCollectionProfile,
    DunningStep,
    Notice,
    NoticeItem,
    PaymentPlan,
)
from collecting.selectors import collecting_settings, paused_invoices
from collecting.services import rendering
from collecting.services.delivery import suppressed_among
from invoicing.models import Invoice, LedgerEntry, PortalAccess
from invoicing.portal import portal_link_issue
from invoicing.services.invoices import fee_post
from o2c import celery
from o2c.document_language import speaking
from o2c.errors import ConflictError, DomainError
from o2c.money import quantize
from o2c.services import Actor, audit_record, transition
from o2c.tenancy import current_organization
from o2c.webhooks import active_endpoints, event_emit
from orders.models import Contact
from orders.services.master import customer_set_credit_hold

logger = logging.getLogger(__name__)

SENDER = Actor.system("dunning sender")
FEE_DOCUMENT = "collecting.notice"
BATCH_SIZE = 100
MAX_SEND_ATTEMPTS = 16  # about eleven hours of backoff
Status = Notice.Status
Channel = DunningStep.Channel


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failed hand-over: 1, 2, 4 … 60 minutes."""
    return timedelta(minutes=min(2 ** (attempts - 1), 60))


def notices_enqueue(notice_ids: list[int], *, countdown: float | None = None) -> None:
    """Send ``notice_ids`` in batches once the writing transaction commits."""
    organization_id = current_organization().pk
    batches = [
        notice_ids[i : i + BATCH_SIZE] for i in range(0, len(notice_ids), BATCH_SIZE)
    ]

    def enqueue():
        for batch in batches:
            celery.enqueue(
                "collecting.send_notices", organization_id, batch, countdown=countdown
            )

    # robust: a broker outage must not undo a committed run; the sweep picks the
    # pending notices up later.
    transaction.on_commit(enqueue, robust=True)


def notices_send(*, notice_ids: list[int]) -> dict[str, int]:
    """Claim and send, one at a time, each notice of ``notice_ids`` still pending
    and due (``retry_at`` passed).

    One claim per notice, right before its hand-over: a worker killed mid-batch
    leaves at most one notice ``sending``; the rest stay ``pending`` for the task's
    redelivery. An email notice is claimed only once the mail server's
    connection is open. What the re-check needs (items, invoices, pauses, holds,
    contacts) is read once per batch, so it is at most a batch's sending time
    old. Returns counts per resulting status (``deferred``: waiting to retry).
    """
    counts: dict[str, int] = {}
    batch = _Batch.load(notice_ids)
    if not batch.notices:
        return counts
    organization = current_organization()
    cache = rendering.TemplateCache()
    mailer = _Mailer()
    deferred: list[Notice] = []
    try:
        for notice in batch.notices:
            if notice.channel == Channel.EMAIL and not mailer.ready():
                deferred.append(notice)
                continue
            if not _claim(notice, organization, batch):
                continue  # claimed by another worker meanwhile
            status = _send_one(
                notice,
                organization=organization,
                batch=batch,
                cache=cache,
                mailer=mailer,
            )
            counts[status] = counts.get(status, 0) + 1
    finally:
        mailer.close()
    for notice in deferred:
        status = _defer(notice, mailer.error, claimed=False)
        counts[status] = counts.get(status, 0) + 1
    return counts


class NotHandedOver(Exception):
    """The mail server did not take the message (it could not be reached, or it
    refused): sending it again cannot make a duplicate."""

    def __init__(self, reason: str, *, permanent: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class MayHaveReachedServer(Exception):
    """The connection broke while the message was being transferred."""


class _Mailer:
    """One SMTP connection for a batch, opened on first need. With a non-SMTP
    email backend (the test suite's in-memory one, the console) it hands the
    message to the backend as a whole."""

    def __init__(self):
        self.backend = None
        self.error = ""

    def ready(self) -> bool:
        if self.error:
            return False
        if self.backend is None:
            backend = get_connection()
            try:
                backend.open()
            except (OSError, smtplib.SMTPException) as error:
                self.error = _reason(error, "The mail server could not be reached")
                return False
            self.backend = backend
        return True

    def close(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.backend.close()

    def send(self, message: EmailMultiAlternatives) -> dict[str, str]:
        """Hand ``message`` over; returns the recipients the server refused while
        accepting it for the others."""
        if not isinstance(self.backend, SmtpBackend):
            message.connection = self.backend
            message.send()
            return {}
        encoding = message.encoding or settings.DEFAULT_CHARSET
        sender = sanitize_address(message.from_email, encoding)
        recipients = [sanitize_address(a, encoding) for a in message.recipients()]
        data = message.message().as_bytes(linesep="\r\n")
        smtp = self._envelope(sender)
        refused = {}
        for recipient in recipients:
            code, reply = self._step(smtp.rcpt, recipient)
            if code not in (250, 251):
                refused[recipient] = f"{code} {_text(reply)}"
        if len(refused) == len(recipients):
            self._reset(smtp)
            raise NotHandedOver(
                "Every recipient was refused: "
                + "; ".join(f"{r}: {why}" for r, why in refused.items()),
                permanent=all(why.startswith("5") for why in refused.values()),
            )
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as error:  # DATA itself refused: nothing sent
            self._reset(smtp)
            raise NotHandedOver(
                f"The mail server refused the message: {error.smtp_code} "
                f"{_text(error.smtp_error)}",
                permanent=error.smtp_code >= 500,
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            self.error = _reason(error, "The connection broke")
            raise MayHaveReachedServer(self.error) from None
        if code != 250:
            self._reset(smtp)
            raise NotHandedOver(
                f"The mail server refused the message: {code} {_text(reply)}",
                permanent=code >= 500,
            )
        return refused

    def _envelope(self, sender: str):
        """MAIL FROM, reconnecting once if the server dropped an idle connection."""
        try:
            code, reply = self._mail_from(sender)
        except (OSError, smtplib.SMTPException):
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.backend.close()
            try:
                self.backend.open()
                code, reply = self._mail_from(sender)
            except (OSError, smtplib.SMTPException) as error:
                self.error = _reason(error, "The mail server could not be reached")
                raise NotHandedOver(self.error) from None
        smtp = self.backend.connection
        if code != 250:
            self._reset(smtp)
            raise NotHandedOver(
                f"The mail server refused the sender: {code} {_text(reply)}",
                permanent=code >= 500,
            )
        return smtp

    def _mail_from(self, sender: str):
        smtp = self.backend.connection
        smtp.ehlo_or_helo_if_needed()
        return smtp.mail(sender)

    def _step(self, command, *args):
        try:
            return command(*args)
        except (OSError, smtplib.SMTPException) as error:
            self.error = _reason(error, "The connection broke")
            raise NotHandedOver(self.error) from None

    @staticmethod
    def _reset(smtp) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.rset()


def _text(reply) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _reason(error: Exception, what: str) -> str:
    return f"{what}: {type(error).__name__}: {error}"[:500]


def _defer(notice: Notice, reason: str, *, claimed: bool) -> str:
    """The server did not take the notice: wait and retry, or give up."""
    attempts = notice.attempts + 1
    if attempts >= MAX_SEND_ATTEMPTS:
        transition(
            obj=notice,
            to_status=Status.FAILED,
            actor=SENDER,
            data={"attempts": attempts},
            extra_fields={
                "attempts": attempts,
                "retry_at": None,
                "error": f"Not sent after {attempts} attempts. {reason}"[:2000],
            },
        )
        _queue_the_account(notice)
        return Status.FAILED
    retry_at = timezone.now() + retry_delay(attempts)
    fields = {"attempts": attempts, "retry_at": retry_at, "error": reason[:2000]}
    if claimed:
        transition(
            obj=notice,
            to_status=Status.PENDING,
            actor=SENDER,
            action="deferred",
            data={"attempts": attempts, "retry_at": retry_at.isoformat()},
            extra_fields={**fields, "claimed_at": None},
        )
    else:
        Notice.objects.filter(pk=notice.pk, status=Status.PENDING).update(**fields)
        audit_record(
            actor=SENDER,
            obj=notice,
            action="deferred",
            data={"attempts": attempts, "retry_at": retry_at.isoformat()},
        )
    notices_enqueue([notice.pk], countdown=retry_delay(attempts).total_seconds())
    return "deferred"


class _Batch:
    """The pending notices of a batch and what sending them needs to know."""

    def __init__(self, notices, items, paused, unreachable, contacts):
        self.endpoints = active_endpoints()
        self.notices = notices
        self.items = items
        self.paused = paused
        self.unreachable = unreachable
        self.contacts = contacts
        addresses = [
            address
            for notice in notices
            if notice.channel == Channel.EMAIL
            for address in self.addresses_of(notice)
        ]
        self.suppressed = suppressed_among(addresses)

    def addresses_of(self, notice: Notice) -> list[str]:
        """Where the notice would go: billing and AP contacts, else the customer."""
        contacts = self.contacts.get(notice.customer_id, [])
        return rendering.recipients_for(notice.customer, contacts)

    def recipients(self, notice: Notice) -> tuple[list[str], list[str]]:
        """The notice's addresses we may write to, and those suppressed after a
        bounce or complaint."""
        addresses = self.addresses_of(notice)
        kept = [a for a in addresses if a.lower() not in self.suppressed]
        return kept, [a for a in addresses if a.lower() in self.suppressed]

    @classmethod
    def load(cls, notice_ids: list[int]) -> _Batch:
        notices = list(
            Notice.objects.filter(pk__in=notice_ids, status=Status.PENDING)
            .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=timezone.now()))
            .select_related("customer", "step", "template", "plan_instalment__plan")
            .order_by("pk")
        )
        items: dict[int, list[NoticeItem]] = {}
        for item in (
            NoticeItem.objects.filter(notice__in=notices)
            .select_related("invoice")
            .order_by("-days_overdue", "invoice_id")
        ):
            items.setdefault(item.notice_id, []).append(item)
        invoice_ids = [item.invoice_id for group in items.values() for item in group]
        customer_ids = {notice.customer_id for notice in notices}
        unreachable = {
            notice.customer_id for notice in notices if notice.customer.do_not_contact
        } | set(
            CustomerCollectionProfile.objects.filter(
                customer_id__in=customer_ids, on_hold=True
            ).values_list("customer_id", flat=True)
        )
        return cls(
            notices=notices,
            items=items,
            paused=paused_invoices(invoice_ids=invoice_ids) if invoice_ids else {},
            unreachable=unreachable,
            contacts=_contacts(customer_ids),
        )


@transaction.atomic
def _claim(notice: Notice, organization, batch: _Batch) -> bool:
    """``pending → sending`` if still pending: the conditional UPDATE is the claim
    (a second worker's matches no row). The Message-ID and, for an email, the
    recipients are fixed here."""
    notice.claimed_at = timezone.now()
    notice.message_id = f"<notice-{notice.pk}.{organization.pk}@{_sender_domain()}>"
    if notice.channel == Channel.EMAIL:
        notice.recipients = batch.recipients(notice)[0]
    claimed = Notice.objects.filter(pk=notice.pk, status=Status.PENDING).update(
        status=Status.SENDING,
        claimed_at=notice.claimed_at,
        message_id=notice.message_id,
        recipients=notice.recipients,
    )
    if not claimed:
        return False
    notice.status = Status.SENDING
    audit_record(
        actor=SENDER,
        obj=notice,
        action="claimed",
        from_status=Status.PENDING,
        to_status=Status.SENDING,
    )
    return True


def _contacts(customer_ids: set[int]) -> dict[int, list[Contact]]:
    result: dict[int, list[Contact]] = {}
    for contact in Contact.objects.filter(customer_id__in=customer_ids):
        result.setdefault(contact.customer_id, []).append(contact)
    return result


def _send_one(notice, *, organization, batch, cache, mailer) -> str:
    contacts = batch.contacts.get(notice.customer_id, [])
    try:
        lines = _lines_still_due(notice, batch)
        if not lines:
            _record_skipped(notice, "Every invoice was settled or paused.")
            return Status.SKIPPED
        rendered = _render(notice, organization, contacts, lines, cache)
        refused = _hand_over(notice, rendered, organization, batch, lines, mailer)
    except NotHandedOver as refusal:
        if refusal.permanent:
            return _fail(notice, refusal.reason)
        return _defer(notice, refusal.reason, claimed=True)
    except MayHaveReachedServer as error:
        transition(
            obj=notice,
            to_status=Status.UNKNOWN_CHECK,
            actor=SENDER,
            action="unknown_check",
            extra_fields={
                "error": f"{error} while the message was being transferred: the "
                "mail server may have it. Check its log for the Message-ID, then "
                "record whether it was sent."
            },
        )
        return Status.UNKNOWN_CHECK
    except Exception as error:  # whatever failed, a person must see it
        logger.warning("notice %s failed: %s", notice.pk, error)
        return _fail(notice, f"{type(error).__name__}: {error}")
    try:
        notice_record_sent(
            notice=notice,
            rendered=rendered,
            actor=SENDER,
            lines=lines,
            endpoints=batch.endpoints,
        )
    except Exception:
        # Handed over but not recorded: it stays "sending" for the sweep to flag.
        logger.exception("notice %s sent but not recorded", notice.pk)
        return Status.SENDING
    if refused:
        Notice.objects.filter(pk=notice.pk).update(
            error="Refused by the mail server: "
            + "; ".join(f"{address}: {why}" for address, why in refused.items())
        )
    return Status.SENT


def _fail(notice: Notice, reason: str) -> str:
    transition(
        obj=notice,
        to_status=Status.FAILED,
        actor=SENDER,
        extra_fields={"error": reason[:2000], "retry_at": None},
    )
    _queue_the_account(notice)
    return Status.FAILED


def _queue_the_account(notice: Notice) -> None:
    """A notice that did not go out puts its account in the collector's queue."""
    from collecting.services.worklist import worklist_refresh

    worklist_refresh(customer=notice.customer)


def _lines_still_due(notice: Notice, batch: _Batch) -> list[rendering.Line]:
    """The notice's invoices still open and not paused."""
    if notice.customer_id in batch.unreachable:
        return []
    items = batch.items.get(notice.pk, [])
    paused = batch.paused
    instalment = notice.plan_instalment
    if instalment is not None:
        if (
            instalment.plan.status != PaymentPlan.Status.ACTIVE
            or instalment.status == instalment.Status.PAID
        ):
            return []
        paused = {}
    elif notice.step_id is None:
        paused = {}  # a collector's own email is a deliberate choice
    lines, left_off = [], []
    for item in items:
        invoice = item.invoice
        if invoice.status not in (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID):
            left_off.append((item, "paid" if invoice.status == "paid" else "void"))
        elif item.invoice_id in paused:
            left_off.append((item, paused[item.invoice_id]))
        else:
            lines.append(
                rendering.Line(
                    invoice_id=invoice.pk,
                    number=invoice.number or "",
                    invoice_date=invoice.invoice_date,
                    due_date=invoice.due_date,
                    days_overdue=item.days_overdue,
                    open_amount=invoice.open_amount,
                )
            )
    for item, reason in left_off:
        NoticeItem.objects.filter(pk=item.pk).update(left_off_reason=reason)
    return lines


def _render(notice, organization, contacts, lines, cache) -> rendering.Rendered:
    context = rendering.notice_context(
        organization=organization,
        customer=notice.customer,
        contacts=contacts,
        lines=lines,
        currency=notice.currency,
        fee=notice.fee_amount,
        notice_date=notice.notice_date,
        step_name=notice.step.name if notice.step else "",
        portal_url=_portal_url(notice),
    )
    language = notice.customer.language
    if notice.step is not None:
        return cache.render(notice.step, language, context)
    if notice.template is not None:
        return cache.render(notice.template, language, context)
    instalment = notice.plan_instalment
    context["instalment"] = {
        "sequence": instalment.sequence,
        "due_date": rendering.format_date(instalment.due_date, organization),
        "amount": rendering.format_money(
            instalment.amount, notice.currency, organization
        ),
    }
    return rendering.render_builtin("instalment_reminder", context)


def _portal_url(notice: Notice) -> str:
    """A new portal link for the notice's customer, for emails and letters."""
    if notice.channel not in (Channel.EMAIL, Channel.LETTER):
        return ""
    return portal_link_issue(customer=notice.customer, kind=PortalAccess.Kind.NOTICE)


def _hand_over(notice, rendered, organization, batch, lines, mailer) -> dict:
    """Hand the notice over by its channel; for an email, the recipients the
    server refused while taking it for the others."""
    channel = notice.channel
    if channel == Channel.EMAIL:
        if not notice.recipients:
            bounced = batch.recipients(notice)[1]
            if bounced:
                raise DomainError(
                    "every_address_bounced",
                    "Every address bounced or complained and is suppressed: "
                    f"{', '.join(bounced)}. Enter a new address for the customer.",
                )
            raise DomainError(
                "no_recipient",
                f"Customer {notice.customer} has no billing contact with an email "
                "address and no email of its own.",
            )
        return mailer.send(_email(notice, rendered, organization, lines))
    elif channel == Channel.LETTER:
        with speaking(notice.customer.language, organization):
            pdf = rendering.letter_pdf(rendered)
        notice.document.save(f"notice-{notice.pk}.pdf", ContentFile(pdf), save=False)
        Notice.objects.filter(pk=notice.pk).update(document=notice.document.name)
    return {}


def _email(notice, rendered, organization, lines) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.body,
        from_email=formataddr((organization.name, _sender_address())),
        to=notice.recipients,
        reply_to=[organization.email] if organization.email else None,
        headers={
            "Message-ID": notice.message_id,
            "X-O2C-Notice": str(notice.pk),
            # Postmark reports its own id; this metadata brings ours back.
            "X-PM-Metadata-message-id": notice.message_id,
        },
    )
    message.attach_alternative(rendering.email_html(rendered), "text/html")
    if notice.step is not None and notice.step.attach_invoices:
        from invoicing.documents import render_invoice_pdf

        invoices = Invoice.objects.filter(
            pk__in=[line.invoice_id for line in lines]
        ).order_by("due_date", "pk")
        for invoice in invoices:
            message.attach(
                _filename(invoice.number),
                render_invoice_pdf(invoice),
                "application/pdf",
            )
    return message


@transaction.atomic
def notice_record_sent(
    *,
    notice: Notice,
    rendered,
    actor: Actor,
    lines: list[rendering.Line],
    endpoints=None,
) -> Notice:
    """``sending`` (or ``unknown_check``) ``→ sent``, the channel's side effect, the
    fee, the webhook.

    Like the claim, a conditional UPDATE on the expected status with its audit
    event, rather than :func:`~o2c.services.transition`'s lock and re-read: this
    runs once per message of a run of tens of thousands.

    On PostgreSQL this transaction does not wait for its commit to reach the disk
    (``synchronous_commit`` off, for it alone): a database crash may lose the last
    fraction of a second of such records, and those notices are then still
    ``sending`` — flagged for a person by the sweep, exactly as after a worker
    killed before recording. The claim, which must be durable before a message
    leaves, keeps the default.
    """
    _commit_without_waiting_for_disk()
    from_status = notice.status
    if Status.SENT not in Notice.TRANSITIONS[from_status]:
        raise ConflictError(
            "invalid_transition", f"Notice {notice.pk} is {from_status}."
        )
    fields = {
        "status": Status.SENT,
        "sent_at": timezone.now(),
        "subject": rendered.subject,
        "body": rendered.body,
        "error": "",
    }
    if not Notice.objects.filter(pk=notice.pk, status=from_status).update(**fields):
        raise ConflictError(
            "invalid_transition", f"Notice {notice.pk} changed while it was sent."
        )
    for name, value in fields.items():
        setattr(notice, name, value)
    audit_record(
        actor=actor,
        obj=notice,
        action="sent",
        from_status=from_status,
        to_status=Status.SENT,
    )
    _apply_channel(notice, actor)
    try:
        if notice.fee_amount > 0:
            with transaction.atomic():
                _post_fee(notice, lines, actor)
    except DomainError as error:
        # The message is out; a fee the ledger refuses must not undo that record.
        Notice.objects.filter(pk=notice.pk).update(
            error=f"Fee not posted: {error.message}"
        )
        audit_record(
            actor=actor, obj=notice, action="fee_refused", data={"error": error.message}
        )
    event_emit(
        "notice.sent",
        data={
            "id": notice.pk,
            "notice": notice.pk,
            "customer": notice.customer_id,
            "channel": notice.channel,
            "step": notice.step_id,
            "currency": notice.currency,
            "total_amount": str(quantize(notice.total_amount, notice.currency)),
            "fee_amount": str(quantize(notice.fee_amount, notice.currency)),
            "invoices": [line.invoice_id for line in lines],
            "message_id": notice.message_id,
        },
        endpoints=endpoints,
    )
    return notice


def _commit_without_waiting_for_disk() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _apply_channel(notice: Notice, actor: Actor) -> None:
    from collecting.services.worklist import profile_for, worklist_refresh

    channel = notice.channel
    if channel == Channel.CREDIT_HOLD:
        customer_set_credit_hold(
            customer=notice.customer,
            on_hold=True,
            reason=f"Dunning step {notice.step}",
            actor=actor,
        )
    elif channel in (Channel.CALL_TASK, Channel.AGENCY_REVIEW):
        profile = profile_for(notice.customer)
        field = "call_requested" if channel == Channel.CALL_TASK else "agency_review"
        setattr(profile, field, True)
        profile.save(update_fields=[field])
        worklist_refresh(customer=notice.customer)


def _post_fee(notice: Notice, lines: list[rendering.Line], actor: Actor) -> None:
    if notice.fee_amount <= 0:
        return
    already = LedgerEntry.objects.filter(
        document_type=FEE_DOCUMENT, document_id=notice.pk, kind=LedgerEntry.Kind.FEE
    ).exists()
    if already:
        return
    interest = dict(
        NoticeItem.objects.filter(notice=notice, interest_amount__gt=0).values_list(
            "invoice_id", "interest_amount"
        )
    )
    included = {line.invoice_id for line in lines}
    interest = {k: v for k, v in interest.items() if k in included}
    fixed = notice.fee_amount - sum(interest.values(), Decimal(0))
    # The fixed fee goes on the most overdue invoice, interest on each invoice.
    charges = dict(interest)
    if fixed > 0:
        lead = lines[0].invoice_id
        charges[lead] = charges.get(lead, Decimal(0)) + fixed
    for invoice in Invoice.objects.filter(pk__in=charges).order_by("pk"):
        fee_post(
            invoice=invoice,
            amount=charges[invoice.pk],
            posting_date=max(notice.notice_date, invoice.invoice_date),
            memo=f"Dunning fee, notice {notice.pk}",
            document_type=FEE_DOCUMENT,
            document_id=notice.pk,
            actor=actor,
        )


def _record_skipped(notice: Notice, reason: str) -> None:
    transition(
        obj=notice,
        to_status=Status.SKIPPED,
        actor=SENDER,
        extra_fields={"error": reason},
    )


def notices_sweep(*, now=None) -> dict[str, int]:
    """Stale ``sending`` → ``unknown_check``; enqueue ``pending`` left behind.

    Run by beat. A notice ``pending`` for more than five minutes lost its task (a
    broker outage, a worker killed before it started), and one whose
    ``retry_at`` has passed is due again: sending either is safe because the
    claim has not happened.
    """
    now = now or timezone.now()
    stale_after = timedelta(minutes=collecting_settings().stale_sending_minutes)
    stale = Notice.objects.filter(
        status=Status.SENDING, claimed_at__lt=now - stale_after
    )
    marked = 0
    for notice in stale:
        transition(
            obj=notice,
            to_status=Status.UNKNOWN_CHECK,
            actor=SENDER,
            action="unknown_check",
            extra_fields={
                "error": "The worker stopped between handing the message over and "
                "recording it. Check the mail server log for the Message-ID, then "
                "record whether it was sent."
            },
        )
        marked += 1
    pending = list(
        Notice.objects.filter(status=Status.PENDING)
        .filter(
            Q(retry_at__isnull=True, created_at__lt=now - timedelta(minutes=5))
            | Q(retry_at__lte=now)
        )
        .values_list("pk", flat=True)
    )
    if pending:
        with transaction.atomic():
            notices_enqueue(pending)
    return {"unknown_check": marked, "requeued": len(pending)}


@transaction.atomic
def notice_reconcile(
    *, notice: Notice, sent: bool, actor: Actor, note: str = ""
) -> Notice:
    """A person's finding about an ``unknown_check`` notice: sent, or not sent.

    Sent: recorded as sent with its side effects and fee. Not sent: ``failed``
    (a person may then ask for it to be sent, :func:`notice_retry`).
    """
    notice = Notice.objects.select_for_update().get(pk=notice.pk)
    if notice.status != Status.UNKNOWN_CHECK:
        raise ConflictError(
            "invalid_transition",
            f"This notice is {notice.get_status_display().lower()}; only one in "
            "'unknown — check' is reconciled.",
        )
    if not sent:
        return transition(
            obj=notice,
            to_status=Status.FAILED,
            actor=actor,
            action="reconciled",
            data={"sent": False, "note": note},
            extra_fields={"error": note or "Not sent (checked by a person)."},
        )
    lines = [
        rendering.Line(
            invoice_id=item.invoice_id,
            number=item.invoice.number or "",
            invoice_date=item.invoice.invoice_date,
            due_date=item.invoice.due_date,
            days_overdue=item.days_overdue,
            open_amount=item.open_amount,
        )
        for item in notice.items.select_related("invoice")
        .filter(left_off_reason="")
        .order_by("-days_overdue", "invoice_id")
    ]
    audit_record(
        actor=actor, obj=notice, action="reconciled", data={"sent": True, "note": note}
    )
    rendered = rendering.Rendered(subject=notice.subject, body=notice.body, context={})
    return notice_record_sent(
        notice=notice, rendered=rendered, actor=actor, lines=lines
    )


@transaction.atomic
def notice_retry(*, notice: Notice, actor: Actor) -> Notice:
    """A person asks for a ``failed`` notice to be sent again."""
    notice = transition(
        obj=notice,
        to_status=Status.PENDING,
        actor=actor,
        action="retry_requested",
        data={"previous_error": notice.error},
        extra_fields={"error": "", "claimed_at": None, "attempts": 0, "retry_at": None},
    )
    notices_enqueue([notice.pk])
    return notice


def _sender_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def _sender_domain() -> str:
    return _sender_address().rpartition("@")[2] or "localhost"


def _filename(number: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in number)
    return f"{safe}.pdf"
