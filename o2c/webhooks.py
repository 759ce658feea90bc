"""Events and outbound webhooks: a record of every money movement, signed to the
integrations of an organization.

An :class:`~o2c.models.Event` is written once per occurrence, in the transaction
that did the work (:func:`event_emit`), with the object as the REST API shows it
then. Inside :func:`event_batch` (which every ``audit_batch`` opens) the events are
collected and written together when the batch ends: one INSERT of the events per
service call or per batch; when the organization has an endpoint
(``Organization.has_webhook_endpoints``), one SELECT of the endpoints and one
INSERT of the deliveries as well. One
:class:`~o2c.models.WebhookDelivery` per subscribed endpoint is queued once the
transaction commits, so an event is sent only for work that really happened.

Each POST carries the envelope ``{"id", "type", "created", "api_version",
"organization", "data": {"object": {...}}}`` and the header
``X-O2C-Signature: t=<unix time>,v1=<hex>`` where ``v1`` is HMAC-SHA256 with the
endpoint's secret over ``"<t>." + body``. For 24 hours after a secret is rolled the
header carries a second ``v1=`` made with the previous secret, so a receiver that
still holds the old one keeps verifying. Receivers recompute it, compare in
constant time and refuse old timestamps (replays). ``X-O2C-Event`` names the event
type and ``X-O2C-Delivery`` the event id, which is stable across retries and
resends: receivers de-duplicate on it.

A 2xx answer is delivered; anything else (or a network error) is retried by
Celery with exponential backoff (30 s, 1 min, 2 min … about 4 h in total over
``MAX_ATTEMPTS``) and then marked failed, kept in the delivery log. Deliveries to
one endpoint about one object go out in order: a delivery waits while an earlier
one of the same object to the same endpoint is still pending.

Endpoints on loopback, private or link-local addresses are refused unless the
setting ``WEBHOOK_ALLOW_PRIVATE_ADDRESSES`` is true (default: ``DEBUG``), so a
tenant cannot make the platform call into its own network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import itertools
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from datetime import timedelta
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from o2c.errors import ConflictError, DomainError
from o2c.models import Event, Organization, WebhookDelivery, WebhookEndpoint
from o2c.rows import RoundTrip, insert_instances
from o2c.tenancy import current_organization, current_organization_or_none

SIGNATURE_HEADER = "X-O2C-Signature"
MAX_ATTEMPTS = 10
TIMEOUT_SECONDS = 10
API_VERSION = "v1"
#: How long the events API keeps events (a daily task prunes older ones).
RETENTION = timedelta(days=30)
#: How long the previous secret still signs deliveries after a roll.
SECRET_OVERLAP = timedelta(hours=24)
#: How soon a delivery waiting for an earlier one of its object looks again.
ORDER_WAIT_SECONDS = 5

#: Event types an endpoint may subscribe to, with what happened.
EVENTS = {
    "invoice.created": "An invoice was created (draft, or issued directly).",
    "invoice.issued": "An invoice was issued: numbered and posted to the ledger.",
    "invoice.paid": "An invoice's open amount reached zero (payment, credit note, "
    "write-off or discount).",
    "invoice.voided": "An invoice was voided.",
    "credit_note.issued": "A credit note was issued.",
    "payment.received": "A payment was recorded (API, browser, import or bank line).",
    "payment.applied": "Received cash was applied to an invoice (one allocation).",
    "payment.reversed": "A payment was reversed.",
    "write_off.created": "An invoice's difference was written off.",
    "customer.credit_hold_changed": "A customer was put on or released from "
    "credit hold.",
    "notice.sent": "A dunning notice left (email) or was produced (letter).",
    "promise.made": "A promise to pay was recorded.",
    "promise.kept": "A promise to pay was kept.",
    "promise.broken": "A promise to pay was broken (or only partly kept).",
    "dispute.opened": "A dispute was opened.",
    "dispute.resolved": "A dispute was resolved or withdrawn.",
    "remittance.advised": "A customer sent remittance advice in the portal (which "
    "invoices a transfer paid); promises and disputes from the portal are "
    'promise.made and dispute.opened with source "portal".',
}


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()


def sign(secret: str | Iterable[str], body: bytes, timestamp: int) -> str:
    """The signature header: one ``v1=`` per secret (the current one first)."""
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    return ",".join(
        [f"t={timestamp}", *(f"v1={_mac(s, body, timestamp)}" for s in secrets_)]
    )


def verify(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does (and the tests): check the age and that one of the
    ``v1=`` signatures was made with ``secret``."""
    parts = [item.split("=", 1) for item in header.split(",") if "=" in item]
    timestamps = [value for key, value in parts if key.strip() == "t"]
    try:
        timestamp = int(timestamps[0])
    except (IndexError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = _mac(secret, body, timestamp)
    return any(
        hmac.compare_digest(expected, value)
        for key, value in parts
        if key.strip() == "v1"
    )


def signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """The endpoint's secret, and its previous one while that is still valid."""
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > timezone.now()
    ):
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


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


def active_endpoints() -> list[WebhookEndpoint]:
    """The organization's active endpoints (no query when it has none), for a
    caller emitting many events outside a batch (pass them as ``endpoints=``)."""
    if not current_organization().has_webhook_endpoints:
        return []
    return list(WebhookEndpoint.objects.filter(active=True))


def _subscribed(endpoints, event_type: str) -> list[WebhookEndpoint]:
    return [e for e in endpoints if not e.events or event_type in e.events]


# A signal, not a service step: the flag is a cache of the endpoint table and
# must follow every write to it (API, admin, tests, shell).
@receiver(post_save, sender=WebhookEndpoint)
@receiver(post_delete, sender=WebhookEndpoint)
def _flag_organization(sender, instance, **kwargs):
    """Keep ``Organization.has_webhook_endpoints`` in step with the endpoints."""
    flag = WebhookEndpoint.unscoped.filter(
        organization_id=instance.organization_id, active=True
    ).exists()
    Organization.objects.filter(pk=instance.organization_id).update(
        has_webhook_endpoints=flag
    )
    current = current_organization_or_none()
    if current is not None and current.pk == instance.organization_id:
        current.has_webhook_endpoints = flag


# --- events ---------------------------------------------------------------------------

#: model label → (object name, function serializing a list of them)
_OBJECTS: dict[str, tuple[str, Callable[[list], list[dict]]]] = {}


def register_event_object(model, name: str, serialize: Callable[[list], list]):
    """Say how the events of ``model`` show their object: ``serialize`` turns a
    list of instances into their REST API JSON (each app registers its own in
    ``AppConfig.ready``, so the kernel does not import the stages)."""
    _OBJECTS[model._meta.label_lower] = (name, serialize)


class _Pending:
    def __init__(self):
        self.events: list[Event] = []
        self.endpoints: list[WebhookEndpoint] | None = None


_pending: ContextVar[_Pending | None] = ContextVar("o2c_pending_events", default=None)


@contextmanager
def event_batch(trip: RoundTrip | None = None):
    """Write the events emitted inside the block together when it ends (same
    rules as ``o2c.services.audit_batch``, which opens one: nested batches join
    the outermost, a block that raises drops its events).

    Yields whether this batch writes its events (it is the outermost); they are
    then sent last of ``trip``'s statements, which are sent in any case."""
    outer = _pending.get()
    if outer is not None:
        mark = len(outer.events)
        try:
            yield False
        except BaseException:
            del outer.events[mark:]
            raise
        return
    pending = _Pending()
    token = _pending.set(pending)
    try:
        yield True
        _pending.reset(token)
        token = None
        _write(pending.events, pending.endpoints, trip)
    finally:
        if token is not None:
            _pending.reset(token)


def event_emit(
    event_type: str,
    obj=None,
    *,
    data: dict | None = None,
    related: dict[str, list] | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
) -> list[WebhookDelivery]:
    """Record that ``event_type`` happened to ``obj`` (a registered model) — or,
    for objects without an API serializer, to the compact ``data`` (with its
    ``"id"``). Call inside the transaction that did the work.

    ``related`` gives rows of ``obj``'s relations the caller just wrote (a
    payment's allocations), so that serializing it reads none back. A caller
    sending many may pass the :func:`active_endpoints` it read once."""
    if obj is not None:
        return events_emit(
            event_type, [obj], related=[related or {}], endpoints=endpoints
        )
    # As JSON would read it back: dates and decimals as strings.
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    events = _events(event_type, event_type.split(".")[0], [(data["id"], data)])
    return _record(events, endpoints)


def events_emit(
    event_type: str,
    objects: list,
    *,
    related: list[dict[str, list]] | None = None,
    endpoints: list[WebhookEndpoint] | None = None,
) -> list[WebhookDelivery]:
    """:func:`event_emit` for many objects of one model, serialized in one pass
    (``related``: each object's, in the same order)."""
    if not objects:
        return []
    name, serialize = _OBJECTS[objects[0]._meta.label_lower]
    with ExitStack() as stack:
        for obj, rows in zip(objects, related or (), strict=False):
            stack.enter_context(_prefetched(obj, rows))
        data = serialize(objects)
    # The API's JSON already: dates and decimals are strings
    # (tests/o2c/test_event_representations.py).
    shown = [(obj.pk, item) for obj, item in zip(objects, data, strict=True)]
    return _record(_events(event_type, name, shown), endpoints)


@contextmanager
def _prefetched(obj, related: dict[str, list]):
    """``obj`` with its relations set to the given rows, as ``prefetch_related``
    sets them, for the time of the block only: the caller goes on with an
    object whose relations are read afresh (they change after this)."""
    if not related:
        yield
        return
    cache = obj.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in related.items():
        queryset = getattr(obj, name).all()
        queryset._result_cache, queryset._prefetch_done = list(rows), True
        cache[name] = queryset
    try:
        yield
    finally:
        for name in related:
            cache.pop(name, None)


_sequence = itertools.count()


def new_event_id() -> str:
    """``evt_`` + the time in nanoseconds + a counter + randomness: ids sort in
    the order the events were made (ties of ``created`` included), yet two
    processes never make the same one."""
    counter = next(_sequence) % 0x10000
    return f"evt_{time.time_ns():016x}{counter:04x}{secrets.token_hex(6)}"


def _events(event_type: str, object_type: str, shown: list[tuple]) -> list[Event]:
    """Events of one type, made at one moment, from (object id, JSON) pairs.

    Made from positional values, as a query's rows are: the keyword constructor
    costs three times as much, and a batch of invoices makes thousands."""
    if event_type not in EVENTS:
        raise ValueError(f"Unknown event type {event_type!r}")
    values = {
        "organization_id": current_organization().pk,
        "type": event_type,
        "created": timezone.now(),
        "api_version": API_VERSION,
        "object_type": object_type,
    }
    names = [field.attname for field in Event._meta.concrete_fields]
    events = []
    for object_id, data in shown:
        values |= {"id": new_event_id(), "object_id": str(object_id), "data": data}
        events.append(Event(*[values[name] for name in names]))
    return events


def _record(events: list[Event], endpoints) -> list[WebhookDelivery]:
    pending = _pending.get()
    if pending is None:
        return _write(events, endpoints)
    pending.events.extend(events)
    if endpoints is not None and pending.endpoints is None:
        pending.endpoints = endpoints
    return []


def _write(
    events: list[Event], endpoints, trip: RoundTrip | None = None
) -> list[WebhookDelivery]:
    """One INSERT of the events (last of ``trip``'s statements); one of their
    deliveries to subscribed endpoints, sent once the transaction commits."""
    if not events:
        if trip is not None:
            trip.send()
        return []
    if endpoints is None:
        endpoints = active_endpoints()
    insert_instances(events, trip=trip)
    return queue_deliveries(
        [
            WebhookDelivery(
                organization_id=event.organization_id,
                endpoint=endpoint,
                event=event,
            )
            for event in events
            for endpoint in _subscribed(endpoints, event.type)
        ]
    )


def queue_deliveries(deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
    if not deliveries:
        return []
    deliveries = WebhookDelivery.objects.bulk_create(deliveries)
    organization_id = deliveries[0].organization_id
    delivery_ids = [delivery.pk for delivery in deliveries]

    def enqueue():
        for delivery_id in delivery_ids:
            deliver_webhook.delay(organization_id, delivery_id)

    transaction.on_commit(enqueue, robust=True)
    return deliveries


def envelope(event: Event) -> dict:
    """What a receiver gets for ``event`` (the same on every attempt and resend)."""
    return {
        "id": event.id,
        "type": event.type,
        "created": event.created.isoformat(),
        "api_version": event.api_version,
        "organization": current_organization().slug,
        "data": {"object": event.data},
    }


def body_of(event: Event) -> bytes:
    return json.dumps(envelope(event), separators=(",", ":")).encode()


# --- endpoints: resend, roll the secret, prune ---------------------------------------


@transaction.atomic
def delivery_resend(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """A new delivery of the same event (same id and envelope) to the same
    endpoint, attempted afresh."""
    from o2c.services import audit_record  # the kernel's services import this

    if not delivery.endpoint.active:
        raise ConflictError(
            "endpoint_inactive", "The endpoint is disabled; enable it to resend."
        )
    (resent,) = queue_deliveries(
        [
            WebhookDelivery(
                organization_id=delivery.organization_id,
                endpoint_id=delivery.endpoint_id,
                event_id=delivery.event_id,
            )
        ]
    )
    audit_record(
        actor=actor,
        obj=resent,
        action="resent",
        data={"event": delivery.event_id, "delivery": delivery.pk},
    )
    return resent


@transaction.atomic
def endpoint_roll_secret(*, endpoint: WebhookEndpoint, actor) -> WebhookEndpoint:
    """Give ``endpoint`` a new secret; the current one keeps signing (as a second
    ``v1=``) for :data:`SECRET_OVERLAP`, so the receiver can switch without a gap."""
    from o2c.services import audit_record  # the kernel's services import this

    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
    endpoint.secret = new_secret()
    endpoint.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at"]
    )
    audit_record(
        actor=actor,
        obj=endpoint,
        action="secret_rolled",
        data={"previous_valid_until": endpoint.previous_secret_expires_at.isoformat()},
    )
    return endpoint


def events_prune(*, now=None) -> int:
    """Delete the organization's events older than :data:`RETENTION` with their
    deliveries, except events with a delivery still pending."""
    cutoff = (now or timezone.now()) - RETENTION
    old = Event.objects.filter(created__lt=cutoff).exclude(
        pk__in=WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING
        ).values("event_id")
    )
    WebhookDelivery.objects.filter(event__in=old).delete()
    count, _ = old.delete()
    return count


# --- delivery -------------------------------------------------------------------------


class DeliveryFailed(Exception):
    pass


class DeliveryWaiting(Exception):
    """An earlier delivery of the same object to the same endpoint is pending."""


def earlier_pending(delivery: WebhookDelivery) -> bool:
    return (
        WebhookDelivery.objects.filter(
            endpoint_id=delivery.endpoint_id,
            status=WebhookDelivery.Status.PENDING,
            pk__lt=delivery.pk,
            event__object_type=delivery.event.object_type,
            event__object_id=delivery.event.object_id,
        )
        .exclude(event_id=delivery.event_id)
        .exists()
    )


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """POST the delivery once; raise :class:`DeliveryFailed` to ask for a retry,
    :class:`DeliveryWaiting` while an earlier delivery of its object is pending."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "event")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return delivery
    if earlier_pending(delivery):
        raise DeliveryWaiting
    body = body_of(delivery.event)
    signature = sign(signing_secrets(delivery.endpoint), body, int(time.time()))
    request = urllib.request.Request(
        delivery.endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "O2C-Webhooks/1",
            SIGNATURE_HEADER: signature,
            "X-O2C-Event": delivery.event.type,
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
    """Deliver one webhook; retried with exponential backoff while it fails, and
    queued again shortly while an earlier delivery of its object is pending."""
    from o2c.models import Organization
    from o2c.tenancy import tenant_context

    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    with tenant_context(organization):
        try:
            delivery_attempt(delivery_id=delivery_id)
        except DeliveryWaiting:
            if self.request.is_eager:
                return None  # eager mode: left pending, sent by a later run
            # A fresh task, not a retry: waiting spends none of the attempts.
            deliver_webhook.apply_async(
                (organization_id, delivery_id), countdown=ORDER_WAIT_SECONDS
            )
        except DeliveryFailed:
            if self.request.is_eager:
                return None  # tests and eager mode: no sleeping retry loop
            attempts = WebhookDelivery.objects.get(pk=delivery_id).attempts
            raise self.retry(countdown=backoff_seconds(attempts)) from None
    return None
