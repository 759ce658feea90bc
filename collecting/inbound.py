"""Bounces and complaints from email providers: proof of origin, then parsing.

Each provider posts to ``/hooks/email/<provider>/<token>/``. The token picks the
organization's :class:`~collecting.models.EmailProviderEndpoint`; nothing in the
payload is trusted to say whose mail it is. Then each provider's documented
proof is checked before anything is parsed:

* **Amazon SES through SNS.** The SNS message's ``Signature`` (base64) is an RSA
  signature over the canonical "name\\nvalue\\n" string of its fields, SHA1 for
  ``SignatureVersion`` 1 and SHA256 for 2, by the certificate at
  ``SigningCertURL``. That URL must be ``https://sns.<region>.amazonaws.com/…pem``;
  the certificate is fetched once and cached. A ``SubscriptionConfirmation`` is
  verified the same way, then its ``SubscribeURL`` (same host rule) is visited.
  With ``topic_arn`` set on the endpoint, other topics are refused.
* **SendGrid.** ``X-Twilio-Email-Event-Webhook-Signature`` is an ECDSA (P-256,
  SHA256) signature over ``X-Twilio-Email-Event-Webhook-Timestamp`` + the raw
  body, checked with the public key shown in SendGrid's settings.
* **Mailgun.** The body's ``signature`` object: ``signature`` is the hex
  HMAC-SHA256 of ``timestamp + token`` with the webhook signing key.
* **Postmark** signs nothing: the endpoint's HTTP basic-auth credentials (set in
  Postmark's webhook URL) and the secret token in the path are the proof.

A replayed request is harmless: events are recorded once per provider event id
(:func:`collecting.services.delivery.email_event_record`).

:data:`fetch_url` is the one place that reaches the internet (SNS certificates
and subscription confirmations); tests replace it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.contrib.auth.hashers import check_password
from django.core.cache import cache
from django.http import JsonResponse
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from collecting.models import EmailEvent, EmailProviderEndpoint
from o2c.tenancy import all_tenants, tenant_context

logger = logging.getLogger(__name__)

Provider = EmailProviderEndpoint.Provider
Kind = EmailEvent.Kind

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SNS_CERT_CACHE_SECONDS = 24 * 3600
FETCH_TIMEOUT_SECONDS = 10
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


class NotAuthentic(Exception):
    """The request does not prove it comes from the provider (answered 403)."""


class NotAuthenticated(NotAuthentic):
    """Credentials missing or wrong for basic auth (answered 401)."""


class Malformed(Exception):
    """Authentic or not, the body cannot be read (answered 400)."""


@dataclass(frozen=True)
class ProviderEvent:
    """One event as the provider reported it, in our words."""

    event_id: str
    kind: str
    recipient: str
    message_id: str
    description: str
    occurred_at: datetime | None
    raw: dict


def _fetch(url: str) -> bytes:
    # Only called with URLs that passed _sns_check_url (https, an SNS host).
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return response.read()


#: ``fetch_url(url) -> bytes``: the network edge, replaced in tests.
fetch_url = _fetch


def parse(
    *, endpoint: EmailProviderEndpoint, body: bytes, headers
) -> list[ProviderEvent]:
    """Verify the request for ``endpoint`` and return the delivery events in it.

    Raises :class:`NotAuthentic` (or :class:`NotAuthenticated`) when the proof
    fails and :class:`Malformed` when the body cannot be read.
    """
    parser = {
        Provider.SES: _ses,
        Provider.SENDGRID: _sendgrid,
        Provider.MAILGUN: _mailgun,
        Provider.POSTMARK: _postmark,
    }[endpoint.provider]
    return parser(endpoint, body, headers)


def normalize_message_id(value: str) -> str:
    """``<abc@host>`` and ``abc@host`` are the same Message-ID."""
    return (value or "").strip().strip("<>").strip()


def _json(body: bytes):
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise Malformed(f"The body is not JSON: {error}") from None


# --- Amazon SES through SNS ---------------------------------------------------------

_SNS_CONFIRMATION_FIELDS = (
    "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type",
)  # fmt: skip
#: The fields an SNS signature covers, per message type, in this order.
_SNS_SIGNED_FIELDS = {
    "Notification": (
        "Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type",
    ),
    "SubscriptionConfirmation": _SNS_CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _SNS_CONFIRMATION_FIELDS,
}  # fmt: skip


def _ses(endpoint, body, headers) -> list[ProviderEvent]:
    message = _json(body)
    if not isinstance(message, dict):
        raise Malformed("An SNS message is a JSON object.")
    sns_verify(message)
    if endpoint.topic_arn and message.get("TopicArn") != endpoint.topic_arn:
        raise NotAuthentic("The message comes from another SNS topic.")
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        _sns_check_url(message.get("SubscribeURL", ""), suffix="")
        fetch_url(message["SubscribeURL"])
        logger.info("SNS subscription to %s confirmed", message.get("TopicArn"))
        return []
    if kind != "Notification":
        return []
    notification = _json(message.get("Message", "").encode())
    if not isinstance(notification, dict):
        raise Malformed("The SNS message does not carry an SES notification.")
    return _ses_events(message["MessageId"], notification)


def sns_verify(message: dict) -> None:
    """Check an SNS message's signature with the certificate it names."""
    kind = message.get("Type")
    fields = _SNS_SIGNED_FIELDS.get(kind)
    if fields is None:
        raise Malformed(f"Unknown SNS message type {kind!r}.")
    version = str(message.get("SignatureVersion", ""))
    algorithm = {"1": hashes.SHA1, "2": hashes.SHA256}.get(version)
    if algorithm is None:
        raise NotAuthentic(f"Unsupported SNS SignatureVersion {version!r}.")
    try:
        signature = base64.b64decode(message.get("Signature", ""), validate=True)
    except (binascii.Error, ValueError):
        raise NotAuthentic("The SNS signature is not base64.") from None
    signed = "".join(
        f"{name}\n{message[name]}\n"
        for name in fields
        if name in message and not (name == "Subject" and message[name] is None)
    ).encode()
    certificate = _sns_certificate(message.get("SigningCertURL", ""))
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise NotAuthentic("The SNS signing certificate is not valid now.")
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise NotAuthentic("The SNS signing certificate has no RSA key.")
    try:
        public_key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise NotAuthentic("The SNS signature does not match.") from None


def _sns_check_url(url: str, *, suffix: str) -> None:
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or not SNS_HOST.match(parts.hostname or "")
        or parts.port not in (None, 443)
        or parts.username
        or not parts.path.endswith(suffix)
    ):
        raise NotAuthentic(f"{url!r} is not an https URL of Amazon SNS.")


def _sns_certificate(url: str) -> x509.Certificate:
    _sns_check_url(url, suffix=".pem")
    # The certificate is Amazon's, public and the same for every organization.
    key = "sns-cert:" + hashlib.sha256(url.encode()).hexdigest()
    pem = cache.get(key)
    if pem is None:
        try:
            pem = fetch_url(url)
        except OSError as error:
            raise NotAuthentic(
                f"The SNS certificate could not be fetched: {error}"
            ) from None
        cache.set(key, pem, SNS_CERT_CACHE_SECONDS)
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        cache.delete(key)
        raise NotAuthentic("The SNS certificate cannot be read.") from None


def _ses_events(sns_message_id: str, notification: dict) -> list[ProviderEvent]:
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = notification.get("mail") or {}
    message_id = _ses_message_id(mail)
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        hard = bounce.get("bounceType") == "Permanent"
        recipients = [
            (
                item.get("emailAddress", ""),
                item.get("diagnosticCode")
                or f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}",
            )
            for item in bounce.get("bouncedRecipients") or []
        ]
        event_kind = Kind.HARD_BOUNCE if hard else Kind.SOFT_BOUNCE
        at = bounce.get("timestamp")
    elif kind == "Complaint":
        complaint = notification.get("complaint") or {}
        recipients = [
            (item.get("emailAddress", ""), complaint.get("complaintFeedbackType", ""))
            for item in complaint.get("complainedRecipients") or []
        ]
        event_kind, at = Kind.COMPLAINT, complaint.get("timestamp")
    elif kind == "Delivery":
        delivery = notification.get("delivery") or {}
        recipients = [
            (address, delivery.get("smtpResponse", ""))
            for address in delivery.get("recipients") or []
        ]
        event_kind, at = Kind.DELIVERED, delivery.get("timestamp")
    else:
        return []
    # One SNS message may name several recipients: one event each.
    return [
        ProviderEvent(
            event_id=f"{sns_message_id}/{address.lower()}",
            kind=event_kind,
            recipient=address,
            message_id=message_id,
            description=description or "",
            occurred_at=_timestamp(at),
            raw=notification,
        )
        for address, description in recipients
        if address
    ]


def _ses_message_id(mail: dict) -> str:
    """The Message-ID we set (SES replaces the header and reports its own id in
    ``mail.messageId``; the original is in ``commonHeaders`` or ``headers``)."""
    common = (mail.get("commonHeaders") or {}).get("messageId")
    if common:
        return normalize_message_id(common)
    for header in mail.get("headers") or []:
        if str(header.get("name", "")).lower() == "message-id":
            return normalize_message_id(header.get("value", ""))
    return normalize_message_id(mail.get("messageId", ""))


# --- SendGrid -----------------------------------------------------------------------

_SENDGRID_KINDS = {
    "bounce": Kind.HARD_BOUNCE,
    "blocked": Kind.SOFT_BOUNCE,
    "deferred": Kind.SOFT_BOUNCE,
    "dropped": Kind.SOFT_BOUNCE,
    "spamreport": Kind.COMPLAINT,
    "delivered": Kind.DELIVERED,
}


def _sendgrid(endpoint, body, headers) -> list[ProviderEvent]:
    signature = headers.get(SENDGRID_SIGNATURE, "")
    timestamp = headers.get(SENDGRID_TIMESTAMP, "")
    if not signature or not timestamp:
        raise NotAuthentic("The SendGrid signature headers are missing.")
    public_key = sendgrid_public_key(endpoint.signing_key)
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        raise NotAuthentic("The SendGrid signature does not match.") from None
    events = _json(body)
    if not isinstance(events, list):
        raise Malformed("A SendGrid event post is a JSON array.")
    result = []
    for event in events:
        if not isinstance(event, dict):
            raise Malformed("Each SendGrid event is a JSON object.")
        name = event.get("event")
        kind = _SENDGRID_KINDS.get(name)
        if name == "bounce" and event.get("type") == "blocked":
            kind = Kind.SOFT_BOUNCE  # a block is the receiver's temporary refusal
        if kind is None or not event.get("sg_event_id"):
            continue  # opens, clicks… are not delivery
        result.append(
            ProviderEvent(
                event_id=str(event["sg_event_id"]),
                kind=kind,
                recipient=str(event.get("email", "")),
                message_id=normalize_message_id(str(event.get("smtp-id", ""))),
                description=" ".join(
                    str(event[key])
                    for key in ("status", "reason", "response")
                    if event.get(key)
                ),
                occurred_at=_unix(event.get("timestamp")),
                raw=event,
            )
        )
    return result


def sendgrid_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid shows its verification key as base64 DER; PEM is accepted too."""
    text = (text or "").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error):
        raise NotAuthentic("The configured SendGrid key cannot be read.") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise NotAuthentic("The configured SendGrid key is not an ECDSA key.")
    return key


# --- Mailgun ------------------------------------------------------------------------


def _mailgun(endpoint, body, headers) -> list[ProviderEvent]:
    payload = _json(body)
    if not isinstance(payload, dict):
        raise Malformed("A Mailgun webhook is a JSON object.")
    signature = payload.get("signature") or {}
    timestamp = str(signature.get("timestamp", ""))
    token = str(signature.get("token", ""))
    expected = hmac.new(
        endpoint.signing_key.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    if not (timestamp and token and endpoint.signing_key) or not hmac.compare_digest(
        expected, str(signature.get("signature", ""))
    ):
        raise NotAuthentic("The Mailgun signature does not match.")
    data = payload.get("event-data") or {}
    name = data.get("event")
    if name == "failed":
        hard = data.get("severity") == "permanent"
        kind = Kind.HARD_BOUNCE if hard else Kind.SOFT_BOUNCE
    else:
        kind = {"complained": Kind.COMPLAINT, "delivered": Kind.DELIVERED}.get(name)
    if kind is None or not data.get("id"):
        return []
    status = data.get("delivery-status") or {}
    message = data.get("message") or {}
    return [
        ProviderEvent(
            event_id=str(data["id"]),
            kind=kind,
            recipient=str(data.get("recipient", "")),
            message_id=normalize_message_id(
                str((message.get("headers") or {}).get("message-id", ""))
            ),
            description=" ".join(
                str(part)
                for part in (
                    status.get("code"),
                    status.get("description") or status.get("message"),
                    data.get("reason"),
                )
                if part
            ),
            occurred_at=_unix(data.get("timestamp")),
            raw=payload,
        )
    ]


# --- Postmark -----------------------------------------------------------------------

_POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}


def _postmark(endpoint, body, headers) -> list[ProviderEvent]:
    _basic_auth(endpoint, headers.get("Authorization", ""))
    event = _json(body)
    if not isinstance(event, dict):
        raise Malformed("A Postmark webhook is a JSON object.")
    record = event.get("RecordType")
    if record == "Bounce":
        kind = event.get("Type")
        if kind == "SpamComplaint":
            kind = Kind.COMPLAINT
        else:
            kind = Kind.HARD_BOUNCE if kind in _POSTMARK_HARD else Kind.SOFT_BOUNCE
        recipient, at = event.get("Email", ""), event.get("BouncedAt")
    elif record == "SpamComplaint":
        kind, recipient, at = (
            Kind.COMPLAINT,
            event.get("Email", ""),
            event.get("BouncedAt"),
        )
    elif record == "Delivery":
        kind, recipient, at = (
            Kind.DELIVERED,
            event.get("Recipient", ""),
            event.get("DeliveredAt"),
        )
    else:
        return []
    # Postmark reports its own MessageID; ours travels as metadata
    # (an ``X-PM-Metadata-message-id`` header) when the sender adds it.
    metadata = event.get("Metadata") or {}
    message_id = metadata.get("message-id") or event.get("MessageID", "")
    event_id = event.get("ID") or f"{event.get('MessageID')}/{recipient}"
    return [
        ProviderEvent(
            event_id=f"{record}:{event_id}",
            kind=kind,
            recipient=str(recipient),
            message_id=normalize_message_id(str(message_id)),
            description=" ".join(
                str(event[key]) for key in ("Description", "Details") if event.get(key)
            ),
            occurred_at=_timestamp(at),
            raw=event,
        )
    ]


def _basic_auth(endpoint, header: str) -> None:
    scheme, _, encoded = header.partition(" ")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    username, _, password = decoded.partition(":")
    if (
        scheme.lower() != "basic"
        or not endpoint.basic_auth_password
        or not hmac.compare_digest(username, endpoint.basic_auth_username)
        or not check_password(password, endpoint.basic_auth_password)
    ):
        raise NotAuthenticated("Wrong or missing credentials.")


# --- shared -------------------------------------------------------------------------


def _timestamp(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(str(value))
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _unix(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


# --- the HTTP edge ------------------------------------------------------------------


@csrf_exempt
@require_POST
def email_events_view(request, provider: str, token: str) -> JsonResponse:
    """``POST /hooks/email/<provider>/<token>/``: no session, no CSRF token; the
    URL's token and the provider's proof are the authentication."""
    from collecting.services.delivery import email_events_record

    with all_tenants():  # the token names the organization
        endpoint = (
            EmailProviderEndpoint.unscoped.select_related("organization")
            .filter(provider=provider, token=token)
            .first()
        )
    if endpoint is None:
        return JsonResponse({"detail": "Unknown endpoint."}, status=404)
    with tenant_context(endpoint.organization):
        try:
            events = parse(
                endpoint=endpoint, body=request.body, headers=request.headers
            )
        except NotAuthenticated as error:
            response = JsonResponse({"detail": str(error)}, status=401)
            response["WWW-Authenticate"] = 'Basic realm="o2c email events"'
            return response
        except NotAuthentic as error:
            logger.warning("%s webhook refused: %s", provider, error)
            return JsonResponse({"detail": str(error)}, status=403)
        except Malformed as error:
            return JsonResponse({"detail": str(error)}, status=400)
        recorded = email_events_record(endpoint=endpoint, events=events)
    return JsonResponse({"events": len(events), "recorded": len(recorded)})
