"""The links the customer receives: in the invoice email and the statement email,
each its own, each opening the customer's account."""

import re
from datetime import date

import pytest
from django.core import mail

from invoicing.models import PortalAccess
from invoicing.services.delivery import delivery_send, invoice_delivery_schedule
from o2c.tenancy import tenant_context
from reports.services import statement_email_request
from tests.factories import SYSTEM
from tests.portal.conftest import path_of

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+/portal/t/[A-Za-z0-9_-]+/")


def test_the_invoice_email_carries_a_link_to_the_invoice(client, books, settings):
    settings.O2C_PUBLIC_URL = "https://ar.nordwind.example"
    invoice = books["first"]
    with tenant_context(books["org"]):
        delivery = invoice_delivery_schedule(invoice=invoice, actor=SYSTEM)
        delivery_send(delivery_id=delivery.pk)
        access = PortalAccess.objects.get(kind=PortalAccess.Kind.INVOICE)
        assert access.invoice == invoice
    (message,) = mail.outbox
    (link,) = LINK.findall(message.body)
    assert link.startswith("https://ar.nordwind.example/portal/t/")
    assert link in message.alternatives[0][0]
    page = client.get(path_of(link), follow=True)
    assert invoice.number in page.content.decode()


def test_the_statement_email_carries_a_link(
    client, books, django_capture_on_commit_callbacks
):
    with (
        tenant_context(books["org"]),
        django_capture_on_commit_callbacks(execute=True),
    ):
        statement_email_request(
            customer=books["acme"], start=date(2026, 11, 1),
            end=books["org"].today(), currency="EUR", actor=SYSTEM,
        )  # fmt: skip
    (message,) = mail.outbox
    (link,) = LINK.findall(message.body)
    assert "Acme Metals" in client.get(path_of(link), follow=True).content.decode()
