"""Webhook deliveries to a receiver that fails: retried with the documented
backoff, then ``failed`` after the last attempt; every attempt is signed.

The receiver is a real HTTP server on loopback. Celery's own ``retry`` runs as in a
worker (not eagerly), publishing to an in-memory broker; the test then plays the
worker: it waits the countdown the retry asked for (by moving the clock) and runs
the next attempt.
"""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from celery.exceptions import Retry

from o2c.models import WebhookDelivery, WebhookEndpoint
from o2c.tenancy import current_organization
from o2c.webhooks import (
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    deliver_webhook,
    event_emit,
    new_secret,
    verify,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Receiver(ThreadingHTTPServer):
    """Answers 503 to the first ``failures`` requests, then 204; keeps what came."""

    def __init__(self, failures: int, secret: str):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.failures = failures
        self.secret = secret
        self.received: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server.received.append(
            {
                "signed": verify(server.secret, body, self.headers[SIGNATURE_HEADER]),
                "delivery": self.headers["X-O2C-Delivery"],
                "event": json.loads(body)["type"],
            }
        )
        failing = len(server.received) <= server.failures
        self.send_response(503 if failing else 204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver_for(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    servers = []

    def start(failures: int) -> tuple[Receiver, WebhookEndpoint]:
        server = Receiver(failures, new_secret())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        endpoint = WebhookEndpoint.objects.create(
            organization=current_organization(), url=server.url, secret=server.secret
        )
        return server, endpoint

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def celery_as_a_worker():
    """Retries published (to memory) instead of run on the spot."""
    conf = deliver_webhook.app.conf
    saved = conf.task_always_eager, conf.broker_url
    conf.task_always_eager, conf.broker_url = False, "memory://"
    yield
    conf.task_always_eager, conf.broker_url = saved


def attempt(organization, delivery: WebhookDelivery, retries: int):
    """One run of the task as a worker runs it; the countdown it asked for, if any."""
    deliver_webhook.push_request(
        id=f"task-{delivery.pk}",
        retries=retries,
        is_eager=False,
        called_directly=False,
        args=[organization.pk, delivery.pk],
        kwargs={},
    )
    try:
        deliver_webhook.run(organization.pk, delivery.pk)
    except Retry as retry:
        return retry.when
    finally:
        deliver_webhook.pop_request()
    return None


def deliver(organization, delivery) -> list[int]:
    """Run attempts until the task stops asking for retries; the countdowns."""
    countdowns = []
    with time_machine.travel(START, tick=False) as clock:
        while (
            countdown := attempt(organization, delivery, len(countdowns))
        ) is not None:
            countdowns.append(countdown)
            clock.shift(timedelta(seconds=countdown))
            assert len(countdowns) < 2 * MAX_ATTEMPTS, "retried without end"
    delivery.refresh_from_db()
    return countdowns


def emitted(tenant, django_capture_on_commit_callbacks, endpoint):
    with django_capture_on_commit_callbacks(execute=False):
        (delivery,) = event_emit(
            "promise.made", data={"id": 1, "promise": 1}, endpoints=[endpoint]
        )
    return delivery


@pytest.mark.django_db
def test_a_receiver_down_three_times_gets_the_event_at_the_fourth_attempt(
    tenant, receiver_for, celery_as_a_worker, django_capture_on_commit_callbacks
):
    server, endpoint = receiver_for(failures=3)
    delivery = emitted(tenant, django_capture_on_commit_callbacks, endpoint)

    countdowns = deliver(tenant, delivery)

    # 30 s, 1 min, 2 min between the attempts.
    assert countdowns == [30, 60, 120]
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 4
    assert delivery.response_status == 204
    assert delivery.last_error == ""
    assert [r["signed"] for r in server.received] == [True] * 4
    # The same delivery id each time: the receiver de-duplicates on it.
    assert {r["delivery"] for r in server.received} == {delivery.event_id}


@pytest.mark.django_db
def test_a_receiver_that_never_answers_2xx_fails_the_delivery_after_the_last_attempt(
    tenant, receiver_for, celery_as_a_worker, django_capture_on_commit_callbacks
):
    server, endpoint = receiver_for(failures=1000)
    delivery = emitted(tenant, django_capture_on_commit_callbacks, endpoint)

    countdowns = deliver(tenant, delivery)

    assert countdowns == [30 * 2**n for n in range(MAX_ATTEMPTS - 1)]
    # "About 4 h in total" between the first attempt and the last.
    assert timedelta(seconds=sum(countdowns)) == timedelta(hours=4, seconds=930)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == MAX_ATTEMPTS == len(server.received)
    assert delivery.response_status == 503
    assert delivery.last_error == "HTTP 503"
    assert all(r["signed"] for r in server.received)

    # A failed delivery stays failed: running the task again sends nothing.
    assert attempt(tenant, delivery, MAX_ATTEMPTS) is None
    assert len(server.received) == MAX_ATTEMPTS
