"""The API refuses what it does not understand, and behaves one way everywhere.

Each case was answered silently before: a misspelt field dropped, a boolean filter
it could not read or an empty date ignored (the whole list came back, which a
client cannot tell from a filtered one), list filters turning a detail into a 404.
"""

import pytest

from o2c.api.serializers import EMPTY_PARAMETER
from o2c.models import Role
from o2c.tenancy import tenant_context
from orders.models import Contact, Customer, PaymentTerm
from tests.factories import CustomerFactory, issued_invoice, member, received_payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(org):
    with tenant_context(org):
        customer = CustomerFactory(currency="EUR")
        return {
            "customer": customer,
            "term": PaymentTerm.objects.create(
                organization=org, name="Net 30", days=30
            ),
            "invoice": issued_invoice(customer, "100.00"),
            "payment": received_payment(customer, "40.00"),
        }


def fields_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]["fields"]


def test_a_misspelt_field_is_refused_with_a_hint_and_nothing_is_created(
    admin_api, org, book
):
    body = {"name": "Acme", "payment_term": book["term"].pk, "curency": "USD"}
    fields = fields_of(admin_api.post("/api/v1/customers/", body, format="json"))
    assert fields == {"curency": ["Unknown field. Did you mean 'currency'?"]}
    with tenant_context(org):
        assert not Customer.objects.filter(name="Acme").exists()
    # Spelt right, the same body makes a USD customer.
    body["currency"] = body.pop("curency")
    created = admin_api.post("/api/v1/customers/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["currency"] == "USD"


def test_unknown_keys_are_named_by_their_path_beside_other_errors(api, book):
    body = {
        "customer": book["customer"].pk,
        "currency": "EUR",
        "lines": [{"description": "Work", "quantity": "1", "unit_price": "-", "x": 1}],
    }
    fields = fields_of(api.post("/api/v1/invoices/", body, format="json"))
    assert fields["lines[0].x"] == ["Unknown field."]
    assert "lines[0].unit_price" in fields


def test_a_read_only_field_cannot_be_set(admin_api, org, book):
    url = f"/api/v1/customers/{book['customer'].pk}/contacts/"
    body = {"name": "Eve", "email": "eve@example.com", "id": 99}
    fields = fields_of(admin_api.post(url, body, format="json"))
    assert fields == {"id": ["Read-only: this field cannot be set."]}
    with tenant_context(org):
        assert not Contact.objects.filter(name="Eve").exists()


@pytest.mark.parametrize(
    "url, param",
    [
        ("/api/v1/payments/?unapplied=yes", "unapplied"),
        ("/api/v1/invoices/?overdue=perhaps", "overdue"),
        ("/api/v1/customers/?on_credit_hold=1", "on_credit_hold"),
        ("/api/v1/invoices/?due_date_before=", "due_date_before"),
        ("/api/v1/ledger-entries/?posting_date_before=", "posting_date_before"),
        ("/api/v1/invoices/?status=", "status"),
        ("/api/v1/invoices/?customer=0", "customer"),
    ],
)
def test_a_filter_it_cannot_read_is_a_400_naming_it(api, book, url, param):
    assert list(fields_of(api.get(url))) == [param]


def test_boolean_filters_still_filter(api, book):
    unapplied = api.get("/api/v1/payments/?unapplied=true").json()["results"]
    assert [row["id"] for row in unapplied] == [book["payment"].pk]
    assert api.get("/api/v1/payments/?unapplied=false").json()["results"] == []


@pytest.mark.parametrize("path", ["/invoices/{invoice}/balance/", "/reports/aging/"])
def test_an_empty_as_of_is_refused_not_read_as_today(api, book, path):
    url = "/api/v1" + path.format(invoice=book["invoice"].pk) + "?as_of="
    assert fields_of(api.get(url)) == {"as_of": [EMPTY_PARAMETER]}


def test_list_filters_do_not_apply_to_a_detail(api, book):
    customer = book["customer"]
    response = api.get(f"/api/v1/customers/{customer.pk}/?currency=XXX")
    assert response.status_code == 200
    assert response.json()["id"] == customer.pk


def test_a_customers_contacts_are_a_page_like_every_list(admin_api, org, book):
    url = f"/api/v1/customers/{book['customer'].pk}/contacts/"
    for name in ("Eve", "Bob"):
        body = {"name": name, "email": f"{name.lower()}@example.com"}
        assert admin_api.post(url, body, format="json").status_code == 201
    page = admin_api.get(url, {"page_size": 1}).json()
    assert set(page) == {"next", "previous", "results"}
    assert [row["name"] for row in page["results"]] == ["Bob"]
    following = admin_api.get(page["next"]).json()
    assert [row["name"] for row in following["results"]] == ["Eve"]


def test_a_members_id_is_the_id_collector_takes(admin_api, org, book):
    with tenant_context(org):
        carla = member(org, Role.COLLECTOR, email="carla@example.com")
    members = admin_api.get("/api/v1/members/").json()["results"]
    listed = next(row for row in members if row["email"] == "carla@example.com")
    assert listed["id"] == carla.pk
    body = {"name": "Acme", "payment_term": book["term"].pk, "collector": listed["id"]}
    created = admin_api.post("/api/v1/customers/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["collector"] == carla.pk


def test_the_schema_says_exactly_what_ids_and_amounts_accept(admin_api):
    import re

    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    invoices = schema["paths"]["/api/v1/invoices/"]["get"]["parameters"]
    customer = next(p for p in invoices if p["name"] == "customer")
    assert customer["schema"]["type"] == "integer"
    assert customer["schema"]["minimum"] == 1
    detail = schema["paths"]["/api/v1/customers/{id}/"]["get"]
    assert [p["name"] for p in detail["parameters"]] == ["id"]
    contacts = schema["paths"]["/api/v1/customers/{id}/contacts/"]["get"]
    assert "currency" not in [p["name"] for p in contacts["parameters"]]
    payment = schema["components"]["schemas"]["PaymentInputRequest"]
    pattern = re.compile(payment["properties"]["amount"]["pattern"])
    for refused in ("", "-", ".", "1e2", " 1", "1.2345"):
        assert not pattern.fullmatch(refused), refused
    for accepted in ("12", "12.5", "12.50", ".5", "0"):
        assert pattern.fullmatch(accepted), accepted
