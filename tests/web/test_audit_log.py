"""The audit log page: an admin reads who changed what and when, field by field."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.test import Client

from o2c.models import Role
from o2c.services import Actor
from o2c.tenancy import tenant_context
from orders.services import master
from tests.factories import CustomerFactory, member

pytestmark = pytest.mark.django_db


def text(response) -> str:
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def history(org):
    admin = member(org, Role.ADMIN, first_name="Ada", last_name="Admin")
    clerk = member(org, Role.FINANCE, first_name="Carl", last_name="Clerk")
    with tenant_context(org):
        customer = CustomerFactory(name="Hanse Glas AG", credit_limit=Decimal("1000"))
        master.customer_update(
            customer=customer,
            actor=Actor.for_member(clerk.memberships.get()),
            credit_limit=Decimal("25000.00"),
        )
    return {"admin": admin, "clerk": clerk, "customer": customer}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_sees_who_raised_a_credit_limit_from_what_to_what(history):
    page = client_for(history["admin"]).get("/settings/audit-log/")

    assert page.status_code == 200
    row = re.search(
        r'<tr data-event="\d+">.*?credit_limit.*?</tr>', page.content.decode(), re.S
    )
    assert row, text(page)
    words = text(type("R", (), {"content": row.group(0).encode()}))
    assert "Carl Clerk" in words or history["clerk"].username in words
    assert f"orders.customer #{history['customer'].pk}" in words
    assert "credit_limit : 1000.000 → 25000.00" in words


def test_filters_narrow_the_log_and_a_bad_date_is_named(history):
    client = client_for(history["admin"])
    clerk = history["clerk"].pk

    by_clerk = client.get("/settings/audit-log/", {"actor": clerk})
    by_nobody = client.get("/settings/audit-log/", {"action": "no-such-action"})
    bad_date = client.get("/settings/audit-log/", {"date_from": "31.02.2026"})

    assert "credit_limit" in text(by_clerk)
    assert "No events" in text(by_nobody)
    assert bad_date.status_code == 400
    assert (
        'id="date_from-error"' in bad_date.content.decode()
        or "date_from" in (bad_date.context["errors"])
    )


def test_only_admins_read_the_audit_log(history):
    assert client_for(history["clerk"]).get("/settings/audit-log/").status_code == 403
