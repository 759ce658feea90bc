"""Events for every money movement, and the webhooks that deliver them.

The receiver is a real HTTP server on loopback; Celery runs eagerly, each API
call's deliveries going out when its transaction commits (as a worker would pick
them up), and the retries a worker would run later are run by the test.
"""

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from o2c.models import Event, WebhookDelivery, WebhookEndpoint
from o2c.tenancy import tenant_context
from o2c.webhooks import (
    SIGNATURE_HEADER,
    deliver_webhook,
    new_secret,
    verify,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENVELOPE_KEYS = {"id", "type", "created", "api_version", "organization", "data"}


class Receiver(ThreadingHTTPServer):
    """Keeps every request; answers 500 to the first arrival of the event types
    in ``fail_once`` (after keeping it, as a receiver that crashes late would)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.arrivals: list[dict] = []
        self.fail_once: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def unique(self) -> list[dict]:
        """What a receiver that de-duplicates on the event id processes."""
        seen, kept = set(), []
        for arrival in self.arrivals:
            if arrival["body"]["id"] not in seen:
                seen.add(arrival["body"]["id"])
                kept.append(arrival)
        return kept

    def types(self) -> list[str]:
        return [arrival["body"]["type"] for arrival in self.arrivals]


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        self.server.arrivals.append(
            {"raw": raw, "body": body, "signature": self.headers[SIGNATURE_HEADER]}
        )
        failing = body["type"] in self.server.fail_once
        self.server.fail_once.discard(body["type"])
        self.send_response(500 if failing else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(tenant, receiver):
    return WebhookEndpoint.objects.create(
        organization=tenant, url=receiver.url, secret=new_secret()
    )


def call(client, method, url, body=None, status=201):
    response = getattr(client, method)(url, body or {}, format="json")
    assert response.status_code == status, response.content
    return response.json()


def run_pending(organization):
    """What the worker's retries do later: each pending delivery, oldest first."""
    with tenant_context(organization):
        pending = list(
            WebhookDelivery.objects.filter(status="pending")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    for delivery_id in pending:
        deliver_webhook.delay(organization.pk, delivery_id)


def test_an_invoice_from_creation_to_paid_reaches_the_receiver_in_order_signed_once(
    org, api, admin_api, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    registered = call(
        admin_api, "post", "/api/v1/webhook-endpoints/", {"url": receiver.url}
    )
    secret = registered["secret"]
    with tenant_context(org):
        customer = CustomerFactory(currency="EUR")

    def step(method, url, body=None, status=201):
        with django_capture_on_commit_callbacks(execute=True):
            return call(api, method, url, body, status)

    invoice = step(
        "post",
        "/api/v1/invoices/",
        {
            "customer": customer.pk,
            "invoice_date": "2026-03-02",
            "lines": [
                {"description": "Racking", "quantity": "1", "unit_price": "100.00",
                 "tax_rate": "19"}
            ],
        },
    )  # fmt: skip
    (created,) = receiver.arrivals
    # The receiver fails (500) on the issue event's first arrival.
    receiver.fail_once.add("invoice.issued")
    step("post", f"/api/v1/invoices/{invoice['id']}/issue/", status=200)
    payment = step(
        "post",
        "/api/v1/payments/",
        {"customer": customer.pk, "amount": "119.00", "currency": "EUR",
         "received_date": "2026-03-20"},
    )  # fmt: skip
    step(
        "post",
        f"/api/v1/payments/{payment['id']}/allocate/",
        {"invoice": invoice["id"], "amount": "119.00"},
    )
    # The issue event failed once; the paid event of the same invoice waits for
    # it, while the payment's own events went out.
    assert receiver.types() == [
        "invoice.created", "invoice.issued", "payment.received", "payment.applied",
    ]  # fmt: skip

    run_pending(org)  # the worker's retry

    assert receiver.types() == [
        "invoice.created", "invoice.issued", "payment.received", "payment.applied",
        "invoice.issued", "invoice.paid",
    ]  # fmt: skip
    retried = [a for a in receiver.arrivals if a["body"]["type"] == "invoice.issued"]
    # The retry is the same event, byte for byte: the receiver de-duplicates it.
    assert retried[0]["raw"] == retried[1]["raw"]
    processed = receiver.unique()
    assert [a["body"]["type"] for a in processed] == [
        "invoice.created", "invoice.issued", "payment.received", "payment.applied",
        "invoice.paid",
    ]  # fmt: skip
    for arrival in receiver.arrivals:
        assert verify(secret, arrival["raw"], arrival["signature"])
        assert not verify(new_secret(), arrival["raw"], arrival["signature"])
        assert set(arrival["body"]) == ENVELOPE_KEYS
        assert arrival["body"]["api_version"] == "v1"
        assert arrival["body"]["organization"] == org.slug
    created_object = created["body"]["data"]["object"]
    assert (created_object["id"], created_object["status"]) == (invoice["id"], "draft")
    assert created_object["total"] == "119.00"
    paid = processed[-1]["body"]["data"]["object"]
    assert (paid["status"], paid["open_amount"], paid["settled_date"]) == (
        "paid", "0.00", "2026-03-20",
    )  # fmt: skip
    # The invoice as the REST API shows it.
    detail = api.get(f"/api/v1/invoices/{invoice['id']}/").json()
    assert paid == {key: detail[key] for key in paid}
    # The payment as POST /payments/ answered, before it was applied.
    assert processed[2]["body"]["data"]["object"] == payment
    applied = processed[3]["body"]["data"]["object"]
    assert (applied["invoice"], applied["amount"]) == (invoice["id"], "119.00")
    with tenant_context(org):
        deliveries = WebhookDelivery.objects.all()
        assert {d.status for d in deliveries} == {"delivered"}
        # One delivery per event: the retry reused the failed one.
        assert deliveries.count() == Event.objects.count() == 5
