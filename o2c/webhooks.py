"""Outbound webhooks: signed events for the integrations of an organization.

:func:`webhook_emit` writes one :class:`~o2c.models.WebhookDelivery` per subscribed
endpoint in the caller's transaction and enqueues its delivery once that commits,
so an event is sent only for work that really happened.

Each POST carries the JSON body ``{"id", "event", "created", "organization",
"data"}`` and the header ``X-O2C-Signature: t=<unix time>,v1=<hex>`` where ``v1``
is HMAC-SHA256 with the endpoint's secret over ``"<t>." + body``. Receivers
recompute it, compare in constant time and refuse old timestamps (replays).
``X-O2C-Event`` and ``X-O2C-Delivery`` name the event and the delivery (the event
id is stable across retries: receivers de-duplicate on it).

A 2xx answer is delivered; anything else (or a network error) is retried by
Celery with exponential backoff (30 s, 1 min, 2 min … about 4 h in total over
``MAX_ATTEMPTS``) and then marked failed, kept in the delivery log.

Endpoints on loopback, private or link-local addresses are refused unless the
setting ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is true (default: ``DEBUG``), so a
tenant cannot make the platform call into its own network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from o2c.errors import DomainError
from o2c.models import WebhookDelivery, WebhookEndpoint
from o2c.tenancy import current_organization

SIGNATURE_HEADER = "X-O2C-Signature"
MAX_ATTEMPTS = 10
TIMEOUT_SECONDS = 10

#: Events an endpoint may subscribe to, with what their ``data`` holds.
EVENTS = {
    "notice.sent": "A dunning notice left (email) or was produced (letter).",
    "promise.made": "A promise to pay was recorded.",
    "promise.kept": "A promise to pay was kept.",
    "promise.broken": "A promise to pay was broken (or only partly kept).",
    "dispute.opened": "A dispute was opened.",
    "dispute.resolved": "A dispute was resolved or withdrawn.",
    "payment.received": "Cash came in on a bank statement and was recorded.",
    "payment.applied": "Received cash was applied to invoices.",
}


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (and the tests): check the signature and its age."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=")[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def check_endpoint_url(url: str) -> str:
    """Refuse URLs that are not http(s) or that point into a private network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DomainError("invalid_url", "Use an http(s) URL.", field="url")
    if _allow_private():
        return url
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, None)}
    except socket.gaierror:
        raise DomainError(
            "invalid_url", f"Cannot resolve {parts.hostname}.", field="url"
        ) from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global:
            raise DomainError(
                "invalid_url",
                "Webhook URLs must point to a public address.",
                field="url",
            )
    return url


def _allow_private() -> bool:
    return getattr(settings, "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", settings.DEBUG)


def subscribers(event: str) -> list[WebhookEndpoint]:
    """Active endpoints of the organization that receive ``event``."""
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}")
    return [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(active=True)
        if not endpoint.events or event in endpoint.events
    ]


def subscribers_by_event(*events: str) -> dict[str, list[WebhookEndpoint]]:
    """:func:`subscribers` of several events, read in one query."""
    if unknown := set(events) - set(EVENTS):
        raise ValueError(f"Unknown webhook events {sorted(unknown)!r}")
    active = list(WebhookEndpoint.objects.filter(active=True))
    return {
        event: [e for e in active if not e.events or event in e.events]
        for event in events
    }


def webhook_emit(
    event: str, data: dict, *, endpoints: list[WebhookEndpoint] | None = None
) -> list[WebhookDelivery]:
    """Queue ``event`` for every active endpoint subscribed to it (call inside the
    transaction that did the work). A caller emitting many events may pass the
    ``subscribers(event)`` it looked up once."""
    organization = current_organization()
    if endpoints is None:
        endpoints = subscribers(event)
    if not endpoints:
        return []
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = json.loads(
        json.dumps(
            {
                "id": event_id,
                "event": event,
                "created": timezone.now().isoformat(),
                "organization": organization.slug,
                "data": data,
            },
            cls=DjangoJSONEncoder,
        )
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            organization=organization,
            endpoint=endpoint,
            event=event,
            event_id=event_id,
            payload=payload,
        )
        for endpoint in endpoints
    )
    organization_id = organization.pk
    delivery_ids = [delivery.pk for delivery in deliveries]

    def enqueue():
        for delivery_id in delivery_ids:
            deliver_webhook.delay(organization_id, delivery_id)

    transaction.on_commit(enqueue, robust=True)
    return deliveries


class DeliveryFailed(Exception):
    pass


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """POST the delivery once; raise :class:`DeliveryFailed` to ask for a retry."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return delivery
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    request = urllib.request.Request(
        delivery.endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "O2C-Webhooks/1",
            SIGNATURE_HEADER: sign(delivery.endpoint.secret, body, int(time.time())),
            "X-O2C-Event": delivery.event,
            "X-O2C-Delivery": delivery.event_id,
        },
    )
    attempts = delivery.attempts + 1
    try:
        check_endpoint_url(delivery.endpoint.url)
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status_code = response.status
    except urllib.error.HTTPError as error:
        status_code, problem = error.code, f"HTTP {error.code}"
    except (OSError, DomainError) as error:
        status_code, problem = None, f"{type(error).__name__}: {error}"
    else:
        problem = ""
    fields = {"attempts": attempts, "response_status": status_code}
    if status_code is not None and 200 <= status_code < 300:
        fields |= {
            "status": WebhookDelivery.Status.DELIVERED,
            "delivered_at": timezone.now(),
            "last_error": "",
        }
    else:
        fields["last_error"] = problem[:2000]
        if attempts >= MAX_ATTEMPTS:
            fields["status"] = WebhookDelivery.Status.FAILED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    delivery.refresh_from_db()
    if delivery.status == WebhookDelivery.Status.PENDING:
        raise DeliveryFailed(problem)
    return delivery


def backoff_seconds(attempts: int) -> int:
    return 30 * 2 ** max(attempts - 1, 0)


@shared_task(
    name="o2c.deliver_webhook", bind=True, acks_late=True, max_retries=MAX_ATTEMPTS
)
def deliver_webhook(self, organization_id: int, delivery_id: int):
    """Deliver one webhook; retried with exponential backoff while it fails."""
    from o2c.models import Organization
    from o2c.tenancy import tenant_context

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    with tenant_context(organization):
        try:
            delivery_attempt(delivery_id=delivery_id)
        except DeliveryFailed:
            if self.request.is_eager:
                return None  # tests and eager mode: no sleeping retry loop
            attempts = WebhookDelivery.objects.get(pk=delivery_id).attempts
            raise self.retry(countdown=backoff_seconds(attempts)) from None
    return None
