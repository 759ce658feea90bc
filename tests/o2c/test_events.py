"""Events for every money movement, and the webhooks that deliver them.

The receiver is a real HTTP server on loopback; Celery runs eagerly, each API
call's deliveries going out when its transaction commits (as a worker would pick
them up), and the retries a worker would run later are run by the test.
"""

import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from celery.exceptions import Retry

from invoicing.services.batch import BatchInvoice, invoice_batch_create
from invoicing.services.invoices import (
    LineInput,
    credit_note_create,
    invoice_create,
    invoice_void,
)
from o2c.models import AuditEvent, Event, WebhookDelivery, WebhookEndpoint
from o2c.tasks import prune_events
from o2c.tenancy import tenant_context
from o2c.webhooks import (
    SIGNATURE_HEADER,
    DeliveryWaiting,
    deliver_webhook,
    delivery_attempt,
    new_secret,
    verify,
)
from orders.services.master import customer_set_credit_hold
from reconciliation.services.payments import payment_reverse, write_off_create
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

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


def events(*types) -> list[tuple[str, str, str]]:
    """(type, object type, object id) of the organization's events, oldest first."""
    rows = Event.objects.order_by("created", "pk")
    if types:
        rows = rows.filter(type__in=types)
    return [(e.type, e.object_type, e.object_id) for e in rows]


def test_every_money_movement_writes_its_event_with_the_object(tenant):
    customer = CustomerFactory(currency="EUR")
    draft = invoice_create(
        customer=customer,
        invoice_date=date(2026, 1, 5),
        lines=[LineInput("Void me", Decimal(1), Decimal("10.00"))],
        actor=SYSTEM,
    )
    invoice_void(invoice=draft, actor=SYSTEM)
    credited = issued_invoice(customer, "50.00")
    written_off = issued_invoice(customer, "30.00")
    paid = issued_invoice(customer, "80.00")
    Event.objects.all().delete()

    credit = credit_note_create(
        invoice=credited,
        credit_date=date(2026, 1, 6),
        reason="Returned",
        lines=[LineInput("Return", Decimal(1), Decimal("50.00"))],
        actor=SYSTEM,
    )
    write_off = write_off_create(
        invoice=written_off,
        amount="30.00",
        write_off_date=date(2026, 1, 7),
        reason="Too small to chase",
        actor=SYSTEM,
    )
    payment = received_payment(customer, "100.00", allocations=[(paid, "80.00")])
    allocation = payment.allocations.get()
    payment_reverse(payment=payment, reversal_date=date(2026, 1, 20), actor=SYSTEM)
    customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)
    customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)  # no-op

    assert events() == [
        ("credit_note.issued", "credit_note", str(credit.pk)),
        ("invoice.paid", "invoice", str(credited.pk)),
        ("write_off.created", "write_off", str(write_off.pk)),
        ("invoice.paid", "invoice", str(written_off.pk)),
        ("payment.received", "payment", str(payment.pk)),
        ("payment.applied", "allocation", str(allocation.pk)),
        ("invoice.paid", "invoice", str(paid.pk)),
        ("payment.reversed", "payment", str(payment.pk)),
        ("customer.credit_hold_changed", "customer", str(customer.pk)),
    ]
    data = {e.type: e.data for e in Event.objects.all()}
    assert data["credit_note.issued"]["total"] == "50.00"
    assert [line["net_amount"] for line in data["credit_note.issued"]["lines"]] == [
        "50.00"
    ]
    assert data["write_off.created"]["amount"] == "30.00"
    assert data["payment.received"]["allocations"][0]["amount"] == "80.00"
    assert data["payment.reversed"]["status"] == "reversed"
    assert data["customer.credit_hold_changed"]["on_credit_hold"] is True


def test_a_void_and_a_batch_write_their_events(tenant):
    customer = CustomerFactory(currency="EUR")
    draft = invoice_create(
        customer=customer,
        invoice_date=date(2026, 1, 5),
        lines=[LineInput("Void me", Decimal(1), Decimal("10.00"))],
        actor=SYSTEM,
    )
    invoice_void(invoice=draft, actor=SYSTEM)
    created = invoice_batch_create(
        invoices=[
            BatchInvoice(
                customer=customer,
                invoice_date=date(2026, 1, 5),
                lines=[LineInput("Batch", Decimal(1), Decimal(amount))],
            )
            for amount in ("10.00", "0.00")
        ],
        issue=True,
        actor=SYSTEM,
    )
    first, free = (str(invoice.pk) for invoice in created)
    assert events() == [
        ("invoice.created", "invoice", str(draft.pk)),
        ("invoice.voided", "invoice", str(draft.pk)),
        ("invoice.created", "invoice", first),
        ("invoice.created", "invoice", free),
        ("invoice.issued", "invoice", first),
        ("invoice.issued", "invoice", free),
        # Nothing to pay on a zero total: paid when issued.
        ("invoice.paid", "invoice", free),
    ]
    assert Event.objects.get(type="invoice.voided").data["status"] == "void"


def test_an_endpoint_receives_only_the_events_it_subscribed_to(tenant):
    customer = CustomerFactory(currency="EUR")
    paid_only = WebhookEndpoint.objects.create(
        organization=tenant,
        url="https://erp.example.com/hooks",
        secret="whsec_x",
        events=["invoice.paid"],
    )
    invoice = issued_invoice(customer, "80.00")
    received_payment(customer, "80.00", allocations=[(invoice, "80.00")])
    sent = WebhookDelivery.objects.filter(endpoint=paid_only)
    assert [(d.event.type, d.event.object_id) for d in sent] == [
        ("invoice.paid", str(invoice.pk))
    ]


def test_a_resend_is_a_new_delivery_of_the_same_event(
    org, admin_api, other_api, receiver, django_capture_on_commit_callbacks
):
    with tenant_context(org):
        endpoint = WebhookEndpoint.objects.create(
            organization=org, url=receiver.url, secret=new_secret()
        )
        customer = CustomerFactory(currency="EUR")
        with django_capture_on_commit_callbacks(execute=True):
            customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)
        (first,) = WebhookDelivery.objects.all()
    path = f"/api/v1/webhook-endpoints/{endpoint.pk}/deliveries/"

    log = call(admin_api, "get", path, status=200)["results"]
    assert [(d["id"], d["status"], d["event"]) for d in log] == [
        (first.pk, "delivered", "customer.credit_hold_changed")
    ]
    assert log[0]["payload"] == receiver.arrivals[0]["body"]
    with django_capture_on_commit_callbacks(execute=True):
        resent = call(admin_api, "post", f"{path}{first.pk}/resend/")

    assert resent["id"] != first.pk
    assert (resent["event_id"], resent["payload"]) == (
        first.event_id,
        log[0]["payload"],
    )
    first_raw, second_raw = (a["raw"] for a in receiver.arrivals)
    assert first_raw == second_raw
    with tenant_context(org):
        assert WebhookDelivery.objects.get(pk=resent["id"]).status == "delivered"
    # Another organization cannot see or resend it.
    assert other_api.post(f"{path}{first.pk}/resend/").status_code == 404
    assert other_api.get(path).status_code == 404


def test_a_rolled_secret_signs_alongside_the_old_one_for_a_day(
    org, admin_api, receiver, django_capture_on_commit_callbacks
):
    with tenant_context(org):
        old_secret = new_secret()
        endpoint = WebhookEndpoint.objects.create(
            organization=org, url=receiver.url, secret=old_secret
        )
        customer = CustomerFactory(currency="EUR")

    def emit(on_hold):
        with tenant_context(org), django_capture_on_commit_callbacks(execute=True):
            customer_set_credit_hold(customer=customer, on_hold=on_hold, actor=SYSTEM)
        return receiver.arrivals[-1]

    with time_machine.travel(NOW, tick=False) as clock:
        rolled = call(
            admin_api,
            "post",
            f"/api/v1/webhook-endpoints/{endpoint.pk}/roll-secret/",
            status=200,
        )
        new = rolled["secret"]
        assert new.startswith("whsec_") and new != old_secret
        assert rolled["previous_secret_expires_at"] == "2026-03-03T09:00:00Z"
        with tenant_context(org):
            audit = AuditEvent.objects.get(action="secret_rolled")
            assert audit.object_id == str(endpoint.pk)
            assert new not in json.dumps(audit.data)
        # The secret is shown once: the endpoint's detail never shows it.
        detail = admin_api.get(f"/api/v1/webhook-endpoints/{endpoint.pk}/").json()
        assert "secret" not in detail

        during = emit(True)
        assert during["signature"].count("v1=") == 2
        assert verify(new, during["raw"], during["signature"])
        assert verify(old_secret, during["raw"], during["signature"])

        clock.shift(timedelta(hours=24, seconds=1))
        after = emit(False)
        assert after["signature"].count("v1=") == 1
        assert verify(new, after["raw"], after["signature"])
        assert not verify(old_secret, after["raw"], after["signature"])


def test_a_later_event_of_an_object_waits_for_the_earlier_one(
    tenant, endpoint, receiver, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(currency="EUR")
    receiver.fail_once.add("customer.credit_hold_changed")
    with django_capture_on_commit_callbacks(execute=True):
        customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)
    with django_capture_on_commit_callbacks(execute=True):
        customer_set_credit_hold(customer=customer, on_hold=False, actor=SYSTEM)
    hold, release = WebhookDelivery.objects.order_by("pk")
    # The hold failed once; the release was not sent before it.
    assert len(receiver.arrivals) == 1
    with pytest.raises(DeliveryWaiting):
        delivery_attempt(delivery_id=release.pk)
    assert len(receiver.arrivals) == 1
    # Other objects do not wait.
    other = CustomerFactory(currency="EUR")
    with django_capture_on_commit_callbacks(execute=True):
        customer_set_credit_hold(customer=other, on_hold=True, actor=SYSTEM)
    assert len(receiver.arrivals) == 2

    delivery_attempt(delivery_id=hold.pk)
    delivery_attempt(delivery_id=release.pk)
    flags = [
        a["body"]["data"]["object"]["on_credit_hold"]
        for a in receiver.unique()
        if a["body"]["data"]["object"]["id"] == customer.pk
    ]
    assert flags == [True, False]


def test_a_worker_queues_a_waiting_delivery_again_without_spending_an_attempt(
    tenant, endpoint, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(currency="EUR")
    receiver.fail_once.add("customer.credit_hold_changed")
    with django_capture_on_commit_callbacks(execute=True):
        customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)
        customer_set_credit_hold(customer=customer, on_hold=False, actor=SYSTEM)
    release = WebhookDelivery.objects.order_by("pk").last()
    queued = []
    monkeypatch.setattr(
        deliver_webhook, "apply_async", lambda args, countdown: queued.append(countdown)
    )
    deliver_webhook.push_request(is_eager=False, called_directly=False, retries=0)
    try:
        deliver_webhook.run(tenant.pk, release.pk)
    except Retry:  # pragma: no cover - a wait must not be a retry
        pytest.fail("a waiting delivery spent a retry")
    finally:
        deliver_webhook.pop_request()
    assert queued == [5]
    release.refresh_from_db()
    assert (release.status, release.attempts) == ("pending", 0)


# --- the events API ------------------------------------------------------------------


def test_the_events_api_lists_filters_and_fetches_the_organizations_events(
    org, api, other_api
):
    with tenant_context(org):
        customer = CustomerFactory(currency="EUR")
        with time_machine.travel(NOW - timedelta(days=31), tick=False):
            old = issued_invoice(customer, "10.00")
        with time_machine.travel(NOW, tick=False):
            invoice = issued_invoice(customer, "80.00")
            received_payment(customer, "80.00", allocations=[(invoice, "80.00")])
        paid = Event.objects.get(type="invoice.paid")

    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        listed = call(api, "get", "/api/v1/events/", status=200)["results"]
        # The last 30 days, newest first: the old invoice's events are gone.
        assert [e["type"] for e in listed] == [
            "invoice.paid", "payment.applied", "payment.received", "invoice.issued",
            "invoice.created",
        ]  # fmt: skip
        listed_objects = {(e["object"], e["object_id"]) for e in listed}
        assert ("invoice", str(old.pk)) not in listed_objects
        on_invoice = call(
            api,
            "get",
            f"/api/v1/events/?object=invoice&object_id={invoice.pk}"
            "&type=invoice.paid&type=invoice.issued",
            status=200,
        )["results"]
        assert [e["type"] for e in on_invoice] == ["invoice.paid", "invoice.issued"]
        after = call(
            api,
            "get",
            "/api/v1/events/?created_after=2026-03-02T09:00:01Z",
            status=200,
        )["results"]
        assert after == []
        fetched = call(api, "get", f"/api/v1/events/{paid.pk}/", status=200)
        assert fetched == {
            "id": paid.pk,
            "type": "invoice.paid",
            "created": "2026-03-02T09:00:00Z",
            "api_version": "v1",
            "object": "invoice",
            "object_id": str(invoice.pk),
            "data": {"object": paid.data},
        }
        assert fetched["data"]["object"]["open_amount"] == "0.00"
        # Another organization's event is not found, listed or filtered for.
        assert other_api.get(f"/api/v1/events/{paid.pk}/").status_code == 404
        assert other_api.get("/api/v1/events/").json()["results"] == []
        bad = api.get("/api/v1/events/?type=invoice.exploded")
        assert bad.status_code == 400


def test_events_older_than_thirty_days_are_pruned_with_their_deliveries(tenant):
    customer = CustomerFactory(currency="EUR")
    WebhookEndpoint.objects.create(
        organization=tenant, url="https://erp.example.com/hooks", secret="whsec_x"
    )
    with time_machine.travel(NOW - timedelta(days=31), tick=False):
        customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)
        customer_set_credit_hold(customer=customer, on_hold=False, actor=SYSTEM)
    delivered, pending = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=delivered.pk).update(status="delivered")
    with time_machine.travel(NOW - timedelta(days=29), tick=False):
        customer_set_credit_hold(customer=customer, on_hold=True, actor=SYSTEM)

    with time_machine.travel(NOW, tick=False):
        assert prune_events() == 1

    # The delivered old event went; the one still pending stays until it is
    # delivered or failed; the recent one stays.
    assert set(Event.objects.values_list("pk", flat=True)) == {
        pending.event_id,
        Event.objects.order_by("created").last().pk,
    }
    assert not WebhookDelivery.objects.filter(pk=delivered.pk).exists()
