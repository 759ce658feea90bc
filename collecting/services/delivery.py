"""Delivery tracking: what the email providers tell us after a message left.

Every email we send carries a Message-ID (a notice's is fixed when the sender
claims it, an invoice email's when its delivery row is claimed). A provider's
event names it, and :func:`email_event_record` applies the event once:

* **hard bounce** — the notice becomes ``bounced``, the address is suppressed
  (no email is sent to it again until a person releases it, or the contact gets
  another address), and the customer's accounts get "email bounced" in their
  queue score;
* **spam complaint** — the notice becomes ``complained`` and the address is
  suppressed the same way;
* **soft bounce, delivery** — recorded, shown on the timeline, nothing else.

An event whose Message-ID names none of our emails is recorded (for audit) and
otherwise ignored. The same provider event twice is recorded once and applied
once. Which organization an event belongs to comes from the endpoint it was
posted to, never from the payload.
"""

from __future__ import annotations

import logging
import secrets

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from collecting.inbound import (
    NotAuthentic,
    ProviderEvent,
    normalize_message_id,
    sendgrid_public_key,
)
from collecting.models import (
    EmailEvent,
    EmailProviderEndpoint,
    Notice,
    SuppressedAddress,
)
from invoicing.models import InvoiceDelivery
from o2c.errors import ConflictError, DomainError
from o2c.services import Actor, audit_record, transition
from o2c.tenancy import current_organization

logger = logging.getLogger(__name__)

PROVIDER_EVENTS = Actor.system("email provider")
Kind = EmailEvent.Kind
Provider = EmailProviderEndpoint.Provider

#: Providers that sign with a key kept on the endpoint.
_KEYED = {Provider.SENDGRID, Provider.MAILGUN}
_EFFECTS = {
    Kind.HARD_BOUNCE: (Notice.Status.BOUNCED, SuppressedAddress.Reason.HARD_BOUNCE),
    Kind.COMPLAINT: (Notice.Status.COMPLAINED, SuppressedAddress.Reason.COMPLAINT),
}


# --- endpoints ----------------------------------------------------------------------


@transaction.atomic
def email_provider_endpoint_create(
    *,
    provider: str,
    actor: Actor,
    signing_key: str = "",
    topic_arn: str = "",
    basic_auth_username: str = "",
) -> tuple[EmailProviderEndpoint, str]:
    """A new inbound endpoint for ``provider``; returns it and, for Postmark, the
    basic-auth password (shown once, kept hashed)."""
    if provider not in Provider.values:
        raise DomainError(
            "invalid_provider", f"Unknown provider {provider!r}.", field="provider"
        )
    if EmailProviderEndpoint.objects.filter(provider=provider).exists():
        raise ConflictError(
            "endpoint_exists",
            "This provider already has an endpoint; rotate it instead.",
            field="provider",
        )
    endpoint = EmailProviderEndpoint(
        organization=current_organization(),
        provider=provider,
        token=_new_token(),
        topic_arn=topic_arn.strip(),
    )
    password = _set_credentials(
        endpoint,
        signing_key=signing_key,
        basic_auth_username=basic_auth_username,
    )
    endpoint.save()
    audit_record(
        actor=actor, obj=endpoint, action="created", data={"provider": provider}
    )
    return endpoint, password


@transaction.atomic
def email_provider_endpoint_rotate(
    *,
    endpoint: EmailProviderEndpoint,
    actor: Actor,
    signing_key: str | None = None,
    topic_arn: str | None = None,
    basic_auth_username: str | None = None,
) -> tuple[EmailProviderEndpoint, str]:
    """A new URL token (the old URL stops working at once), a new Postmark
    password, and the provider key or topic if given."""
    endpoint = EmailProviderEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.token = _new_token()
    endpoint.rotated_at = timezone.now()
    if topic_arn is not None:
        endpoint.topic_arn = topic_arn.strip()
    password = _set_credentials(
        endpoint,
        signing_key=endpoint.signing_key if signing_key is None else signing_key,
        basic_auth_username=(
            endpoint.basic_auth_username
            if basic_auth_username is None
            else basic_auth_username
        ),
    )
    endpoint.save()
    audit_record(actor=actor, obj=endpoint, action="rotated")
    return endpoint, password


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _set_credentials(endpoint, *, signing_key: str, basic_auth_username: str) -> str:
    """Check and set what the provider proves itself with; returns a new
    Postmark password ("" for the other providers)."""
    signing_key = signing_key.strip()
    provider = endpoint.provider
    if provider == Provider.SENDGRID:
        try:
            sendgrid_public_key(signing_key)
        except NotAuthentic:
            raise DomainError(
                "invalid_key",
                "Paste the verification key SendGrid shows for the signed Event "
                "Webhook (base64 or PEM).",
                field="signing_key",
            ) from None
    if provider == Provider.MAILGUN and not signing_key:
        raise DomainError(
            "invalid_key",
            "Paste Mailgun's HTTP webhook signing key.",
            field="signing_key",
        )
    endpoint.signing_key = signing_key if provider in _KEYED else ""
    if provider != Provider.POSTMARK:
        return ""
    username = basic_auth_username.strip()
    if not username:
        raise DomainError(
            "invalid_username",
            "Postmark posts with HTTP basic auth: choose a user name.",
            field="basic_auth_username",
        )
    endpoint.basic_auth_username = username
    password = secrets.token_urlsafe(24)
    endpoint.basic_auth_password = make_password(password)
    return password


# --- events -------------------------------------------------------------------------


def email_events_record(
    *, endpoint: EmailProviderEndpoint, events: list[ProviderEvent]
) -> list[EmailEvent]:
    """Record and apply each event of one request; returns the new ones."""
    recorded = []
    for event in events:
        row = email_event_record(endpoint=endpoint, event=event)
        if row is not None:
            recorded.append(row)
    return recorded


@transaction.atomic
def email_event_record(
    *, endpoint: EmailProviderEndpoint, event: ProviderEvent
) -> EmailEvent | None:
    """Record ``event`` and apply its effect; ``None`` when it was recorded
    before (a provider's retry or a replay)."""
    if EmailEvent.objects.filter(
        provider=endpoint.provider, event_id=event.event_id
    ).exists():
        return None
    notice, invoice_delivery = _email_named(event.message_id)
    customer_id = notice.customer_id if notice else None
    if invoice_delivery is not None:
        document = invoice_delivery.invoice or invoice_delivery.credit_note
        customer_id = document.customer_id
    try:
        with transaction.atomic():
            row = EmailEvent.objects.create(
                organization=current_organization(),
                endpoint=endpoint,
                provider=endpoint.provider,
                event_id=event.event_id[:200],
                kind=event.kind,
                recipient=event.recipient[:254],
                message_id=event.message_id[:300],
                description=event.description,
                occurred_at=event.occurred_at,
                notice=notice,
                invoice_delivery=invoice_delivery,
                customer_id=customer_id,
                raw=event.raw,
            )
    except IntegrityError:
        return None  # the same event, recorded meanwhile by a concurrent request
    if notice is None and invoice_delivery is None:
        logger.info(
            "%s event %s names no email of ours (Message-ID %r): recorded, ignored",
            endpoint.provider,
            event.event_id,
            event.message_id,
        )
        return row
    if row.kind in _EFFECTS:
        _apply(row)
    return row


def _email_named(message_id: str):
    """The notice or invoice email whose Message-ID is ``message_id``."""
    message_id = normalize_message_id(message_id)
    if not message_id:
        return None, None
    spellings = [f"<{message_id}>", message_id]
    notice = (
        Notice.objects.filter(message_id__in=spellings)
        .select_related("customer")
        .first()
    )
    if notice is not None:
        return notice, None
    delivery = (
        InvoiceDelivery.objects.filter(message_id__in=spellings)
        .select_related("invoice", "credit_note")
        .first()
    )
    return None, delivery


def _apply(row: EmailEvent) -> None:
    """Hard bounce or complaint: mark the notice, suppress the address, requeue."""
    from collecting.services.worklist import worklist_refresh

    notice_status, reason = _EFFECTS[row.kind]
    detail = f"{row.get_kind_display()} from {row.recipient}"
    if row.description:
        detail += f": {row.description}"
    notice = row.notice
    if notice is not None:
        if notice_status in Notice.TRANSITIONS.get(notice.status, ()):
            transition(
                obj=notice,
                to_status=notice_status,
                actor=PROVIDER_EVENTS,
                action=notice_status,
                data={"event": row.pk, "recipient": row.recipient},
                extra_fields={"error": detail[:2000]},
            )
        else:
            logger.warning(
                "notice %s is %s; %s recorded without changing it",
                notice.pk,
                notice.status,
                row.kind,
            )
    _suppress(row, reason, detail)
    if row.customer is not None:
        worklist_refresh(customer=row.customer)


def _suppress(row: EmailEvent, reason: str, detail: str) -> None:
    address = row.recipient.strip().lower()
    if not address:
        return
    if SuppressedAddress.objects.filter(
        address=address, released_at__isnull=True
    ).exists():
        return
    suppression = SuppressedAddress.objects.create(
        organization=current_organization(),
        address=address,
        reason=reason,
        detail=detail[:2000],
        customer_id=row.customer_id,
        event=row,
        suppressed_at=timezone.now(),
    )
    audit_record(
        actor=PROVIDER_EVENTS,
        obj=suppression,
        action="suppressed",
        data={"address": address, "reason": reason, "event": row.pk},
    )


# --- suppression --------------------------------------------------------------------


def suppressed_among(addresses: list[str]) -> set[str]:
    """The lower-cased addresses of ``addresses`` no email may go to."""
    wanted = {address.strip().lower() for address in addresses if address}
    if not wanted:
        return set()
    return set(
        SuppressedAddress.objects.filter(
            address__in=wanted, released_at__isnull=True
        ).values_list("address", flat=True)
    )


@transaction.atomic
def suppression_release(
    *, suppression: SuppressedAddress, actor: Actor, note: str = ""
) -> SuppressedAddress:
    """A person vouches for the address again (the mailbox was fixed)."""
    suppression = SuppressedAddress.objects.select_for_update().get(pk=suppression.pk)
    if suppression.released_at is not None:
        raise ConflictError("already_released", "This address is already released.")
    suppression.released_at = timezone.now()
    suppression.save(update_fields=["released_at"])
    audit_record(
        actor=actor,
        obj=suppression,
        action="released",
        data={"address": suppression.address, "note": note},
    )
    if suppression.customer is not None:
        from collecting.services.worklist import worklist_refresh

        worklist_refresh(customer=suppression.customer)
    return suppression
