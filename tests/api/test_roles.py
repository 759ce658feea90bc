import pytest

from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.conftest import api_client_for
from tests.factories import CustomerFactory, issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(org):
    with tenant_context(org):
        return issued_invoice(CustomerFactory(), "100.00")


def payment_body(invoice):
    return {
        "customer": invoice.customer_id,
        "amount": "10.00",
        "currency": "EUR",
        "received_date": "2026-01-10",
    }


@pytest.mark.parametrize(
    ("role", "may_pay"),
    [
        (Role.ADMIN, True),
        (Role.FINANCE, True),
        (Role.COLLECTOR, False),
        (Role.VIEWER, False),
    ],
)
def test_who_may_record_cash(org, invoice, role, may_pay):
    client = api_client_for(org, role)
    assert client.get("/api/v1/invoices/").status_code == 200
    response = client.post("/api/v1/payments/", payment_body(invoice), format="json")
    assert response.status_code == (201 if may_pay else 403)


def test_only_admins_manage_api_keys(org, api, admin_api):
    assert api.get("/api/v1/api-keys/").status_code == 403
    created = admin_api.post(
        "/api/v1/api-keys/", {"name": "erp", "role": "finance"}, format="json"
    )
    assert created.status_code == 201
    key = created.json()["key"]
    assert "." in key
    listed = admin_api.get("/api/v1/api-keys/").json()["results"]
    assert all("key" not in row for row in listed)
    revoked = admin_api.post(f"/api/v1/api-keys/{created.json()['id']}/revoke/")
    assert revoked.json()["revoked"] is True


def test_session_users_act_in_their_organization(session_client, org):
    response = session_client.get("/api/v1/organization/")
    assert response.json()["slug"] == org.slug
