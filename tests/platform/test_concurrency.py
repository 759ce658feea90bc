"""Concurrent writers on PostgreSQL: row locks keep the numbers right."""

import threading
from decimal import Decimal

import pytest
from django.db import connections

from o2c.errors import DomainError
from o2c.tenancy import tenant_context
from reconciliation.models import Payment
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
