"""Concurrent writers on PostgreSQL: row locks keep the numbers right."""

import threading
import time
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection, connections

from o2c.errors import DomainError
from o2c.tenancy import tenant_context
from reconciliation.models import Payment
from reconciliation.services import payments
from reconciliation.services.payments import allocation_create
from tests.conftest import api_client_for
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, received_payment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(*calls):
    """Start the calls at the same moment in threads; return results or errors."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            outcomes[index] = call()
        except Exception as error:  # the test inspects what each thread got
            outcomes[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_allocations_racing_for_the_same_cash(org):
    with tenant_context(org):
        customer = CustomerFactory()
        first = issued_invoice(customer, "100.00")
        second = issued_invoice(customer, "100.00")
        payment = received_payment(customer, "100.00")

    def allocate(invoice):
        def call():
            with tenant_context(org):
                return allocation_create(
                    payment=payment, invoice=invoice, amount="80.00", actor=SYSTEM
                )

        return call

    outcomes = run_together(allocate(first), allocate(second))
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], DomainError), outcomes
    assert errors[0].code == "exceeds_unapplied"
    with tenant_context(org):
        payment = Payment.objects.get(pk=payment.pk)
        assert payment.unapplied_amount == Decimal("20.00")


def test_the_same_idempotency_key_sent_twice_at_once(org):
    with tenant_context(org):
        invoice = issued_invoice(CustomerFactory(), "100.00")
    body = {
        "customer": invoice.customer_id,
        "amount": "40.00",
        "currency": "EUR",
        "received_date": "2026-01-10",
    }
    clients = [api_client_for(org), api_client_for(org)]

    def send(client):
        return lambda: client.post(
            "/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
        )

    first, second = run_together(send(clients[0]), send(clients[1]))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    with tenant_context(org):
        assert Payment.objects.count() == 1


def test_a_retry_arriving_while_the_first_request_works_waits_and_replays(org):
    """The load test's dropped connection: the client gave up and sent the same
    request again while the server was still recording the payment. The retry
    waits on the claimed key and answers the first request's payment."""
    with tenant_context(org):
        invoice = issued_invoice(CustomerFactory(), "100.00")
    body = {
        "customer": invoice.customer_id,
        "amount": "40.00",
        "currency": "EUR",
        "received_date": "2026-01-10",
        "allocations": [{"invoice": invoice.pk, "amount": "40.00"}],
    }
    claimed, release = threading.Event(), threading.Event()
    record = payments.payment_create
    calls = []

    def slow_first(**kwargs):
        calls.append(kwargs["amount"])
        if len(calls) == 1:
            claimed.set()
            release.wait(timeout=30)
        return record(**kwargs)

    def send():
        return api_client_for(org).post(
            "/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="retry-1"
        )

    def send_once_claimed():
        claimed.wait(timeout=30)
        return send()

    def release_once_the_retry_waits():
        claimed.wait(timeout=30)
        with connection.cursor() as cursor:
            for _ in range(300):
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the retry never waited on the key")
        release.set()

    with mock.patch.object(payments, "payment_create", slow_first):
        first, retry, _ = run_together(
            send, send_once_claimed, release_once_the_retry_waits
        )
    assert first.status_code == retry.status_code == 201, (first, retry)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert calls == [Decimal("40.00")]  # the service ran once
    with tenant_context(org):
        assert Payment.objects.count() == 1
        invoice.refresh_from_db()
        assert invoice.open_amount == Decimal("60.00")
