"""POST /api/v1/invoices/batch/: a billing system's day of invoices in one request,
all or nothing, checked as one by one, numbered without gaps."""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db.models import Sum

from invoicing.models import Invoice, InvoiceDelivery, InvoiceLine, LedgerEntry
from o2c.checks import run_ledger_checks
from o2c.models import AuditEvent, Event
from o2c.tenancy import tenant_context
from orders.models import Item
from tests.factories import CustomerFactory, PaymentTermFactory, issued_invoice

pytestmark = pytest.mark.django_db
URL = "/api/v1/invoices/batch/"
CENT = Decimal("0.01")


def cents(amount) -> Decimal:
    # SQLite sums decimals as floats.
    return Decimal(amount).quantize(CENT, ROUND_HALF_UP)


@pytest.fixture
def customers(org):
    with tenant_context(org):
        net_14 = PaymentTermFactory(days=14)
        return [CustomerFactory(payment_term=net_14) for _ in range(10)]


def item_of(customers, index, *, net="100.00", quantity="1", tax_rate="19"):
    return {
        "customer": customers[index % len(customers)].pk,
        "invoice_date": "2026-03-02",
        "external_id": f"BILL-{index:05d}",
        "lines": [
            {
                "description": f"Subscription {index}",
                "quantity": quantity,
                "unit_price": net,
                "tax_rate": tax_rate,
            },
            {"description": "Setup", "quantity": "2", "unit_price": "12.50"},
        ],
    }


def post(api, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(URL, body, format="json", **headers)


def test_a_thousand_invoices_land_issued_with_their_totals_and_ledger(
    api, org, customers
):
    items = [
        item_of(customers, i, net=f"{100 + i % 7}.{i % 100:02d}") for i in range(1000)
    ]

    response = post(api, {"issue": True, "invoices": items}, key="day-2026-03-02")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["count"] == 1000 and body["issued"] is True
    first, last = body["invoices"][0], body["invoices"][-1]
    # 100.00 net + 19 % tax + 2 x 12.50 setup (no tax) = 144.00
    assert (first["total"], first["open_amount"], first["status"]) == (
        "144.00",
        "144.00",
        "open",
    )
    assert first["due_date"] == "2026-03-16"  # net 14
    with tenant_context(org):
        invoices = Invoice.objects.order_by("number")
        assert invoices.count() == 1000
        numbers = [invoice.number for invoice in invoices]
        assert numbers[0] == "INV-000001" and numbers[-1] == "INV-001000"
        assert numbers == [first["number"], *numbers[1:-1], last["number"]]
        # The sum a finance person checks: what was billed is what is open and
        # what the ledger holds.
        expected = sum(
            (
                (Decimal(i["lines"][0]["unit_price"]) * Decimal("1.19")).quantize(
                    CENT, ROUND_HALF_UP
                )
                + Decimal("25.00")
                for i in items
            ),
            Decimal(0),
        )
        debits = LedgerEntry.objects.filter(kind="invoice")
        assert cents(invoices.aggregate(s=Sum("total"))["s"]) == expected
        assert cents(invoices.aggregate(s=Sum("open_amount"))["s"]) == expected
        assert cents(debits.aggregate(s=Sum("amount"))["s"]) == expected
        assert InvoiceLine.objects.count() == 2000
        assert InvoiceDelivery.objects.filter(status="pending").count() == 1000
        issued = AuditEvent.objects.filter(
            object_type="invoicing.invoice", action="issued"
        )
        assert issued.count() == 1000
        assert run_ledger_checks() == []


def test_drafts_when_not_issued_and_numbering_continues_without_gaps(
    api, org, customers
):
    with tenant_context(org):
        before = issued_invoice(customers[0], "10.00")
    drafts = post(api, {"invoices": [item_of(customers, i) for i in range(3)]})
    assert drafts.status_code == 201
    assert {i["status"] for i in drafts.json()["invoices"]} == {"draft"}
    assert {i["number"] for i in drafts.json()["invoices"]} == {None}

    issued = post(
        api, {"issue": True, "invoices": [item_of(customers, i) for i in range(3, 5)]}
    )
    assert [i["number"] for i in issued.json()["invoices"]] == [
        "INV-000002",
        "INV-000003",
    ]
    assert before.number == "INV-000001"


def test_one_bad_item_refuses_the_batch_naming_it_and_writes_nothing(
    api, org, customers
):
    items = [item_of(customers, i) for i in range(50)]
    items[12]["lines"][0]["unit_price"] = "10.005"

    response = post(api, {"issue": True, "invoices": items}, key="bad-batch")

    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["invoices[12].lines[0].unit_price"]
    with tenant_context(org):
        assert Invoice.objects.count() == 0
        assert LedgerEntry.objects.count() == 0
        assert AuditEvent.objects.filter(object_type="invoicing.invoice").count() == 0
    # The refusal did not burn the key: the corrected batch goes through with it,
    # numbered from the first number.
    items[12]["lines"][0]["unit_price"] = "10.00"
    again = post(api, {"issue": True, "invoices": items}, key="bad-batch")
    assert again.status_code == 201
    assert again.json()["invoices"][0]["number"] == "INV-000001"


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        (
            lambda i: i.update(invoice_date="2026-02-30"),
            "invoices[3].invoice_date",
            400,
        ),
        (lambda i: i.update(lines=[]), "invoices[3].lines", 400),
        (lambda i: i.update(currency="XXQ"), "invoices[3].currency", 400),
        (lambda i: i.update(due_date="2026-01-01"), "invoices[3].due_date", 400),
        (lambda i: i["lines"][1].update(quantity="-1"), "invoices[3].lines[1]", 400),
        (lambda i: i.update(customer=999999), "invoices[3].customer", 404),
        (
            lambda i: i["lines"][0].update(item=999999),
            "invoices[3].lines[0].item",
            404,
        ),
        (lambda i: i.update(external_id="BILL-00001"), "invoices[3].external_id", 409),
    ],
)
def test_each_check_of_one_by_one_names_the_item_and_field(
    api, org, customers, change, field, status
):
    items = [item_of(customers, i) for i in range(5)]
    change(items[3])

    response = post(api, {"issue": True, "invoices": items})

    assert response.status_code == status, response.json()
    assert any(
        name == field or name.startswith(field + ".")
        for name in response.json()["error"]["fields"]
    ), response.json()
    with tenant_context(org):
        assert Invoice.objects.count() == 0


def test_an_external_id_already_on_file_is_refused(api, org, customers):
    assert post(api, {"invoices": [item_of(customers, 7)]}).status_code == 201
    response = post(api, {"invoices": [item_of(customers, i) for i in range(5, 9)]})
    assert response.status_code == 409
    assert list(response.json()["error"]["fields"]) == ["invoices[2].external_id"]
    with tenant_context(org):
        assert Invoice.objects.count() == 1


def test_another_organizations_customer_is_not_found(api, other_org, customers):
    with tenant_context(other_org):
        theirs = CustomerFactory()
    items = [item_of(customers, 0), item_of(customers, 1)]
    items[1]["customer"] = theirs.pk
    response = post(api, {"invoices": items})
    assert response.status_code == 404
    assert list(response.json()["error"]["fields"]) == ["invoices[1].customer"]


def test_catalog_items_are_resolved_and_kept_on_the_lines(api, org, customers):
    with tenant_context(org):
        item = Item.objects.create(
            organization=org,
            sku="SUB-1",
            name="Subscription",
            unit_price="100.00",
            currency="EUR",
        )
    items = [item_of(customers, 0)]
    items[0]["lines"][0].update(item=item.pk)
    del items[0]["lines"][0]["description"]
    response = post(api, {"issue": True, "invoices": items})
    assert response.status_code == 201, response.json()
    with tenant_context(org):
        line = InvoiceLine.objects.get(position=1)
        assert (line.item, line.description) == (item, "Subscription")


def test_more_than_a_thousand_is_refused(api, org, customers):
    items = [item_of(customers, i) for i in range(1001)]
    response = post(api, {"invoices": items})
    assert response.status_code == 400
    assert "invoices" in response.json()["error"]["fields"]
    with tenant_context(org):
        assert Invoice.objects.count() == 0


def test_replay_with_the_same_key_answers_the_same_and_writes_nothing_new(
    api, org, customers
):
    body = {"issue": True, "invoices": [item_of(customers, i) for i in range(20)]}
    first = post(api, body, key="push-1")
    with tenant_context(org):
        counts = (
            Invoice.objects.count(),
            LedgerEntry.objects.count(),
            AuditEvent.objects.count(),
        )

    second = post(api, body, key="push-1")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    with tenant_context(org):
        assert (
            (
                Invoice.objects.count(),
                LedgerEntry.objects.count(),
                AuditEvent.objects.count(),
            )
            == counts
            == (20, 20, 60)
        )
    other = post(api, body | {"issue": False}, key="push-1")
    assert other.status_code == 422


def test_the_batch_is_in_the_openapi_schema(api):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/invoices/batch/"]["post"]
    assert "201" in operation["responses"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/InvoiceBatchInputRequest")


def test_issued_in_a_batch_an_invoice_keeps_its_early_payment_discount(api, org):
    with tenant_context(org):
        two_ten = PaymentTermFactory(days=30, discount_percent="2", discount_days=10)
        customer = CustomerFactory(payment_term=two_ten)
    item = item_of([customer], 0)  # 144.00 on 2026-03-02

    response = post(api, {"issue": True, "invoices": [item]})

    assert response.status_code == 201, response.json()
    with tenant_context(org):
        invoice = Invoice.objects.get()
        assert str(invoice.discount_date) == "2026-03-12"
        assert invoice.discount_amount == Decimal("2.88")


def test_the_answer_reads_nothing_per_invoice(api, org, customers):
    """Twenty invoices cost the queries of five: the customers are read in one
    query, the rows written one INSERT per table, and the answer shows what was
    written (a new invoice has no payment prediction yet: none is read)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for size in (1, 5, 20):  # the first takes the API key and creates the sequence
        items = [
            item_of(customers, i) | {"external_id": f"Q{size}-{i}"} for i in range(size)
        ]
        with CaptureQueriesContext(connection) as queries:
            response = post(api, {"issue": True, "invoices": items})
        assert response.status_code == 201
        assert [i["prediction"] for i in response.json()["invoices"]] == [None] * size
        counts.append(len(queries))
    assert counts[1] == counts[2]


def test_each_invoice_tells_integrations_what_one_by_one_would(api, org, customers):
    """``invoice.created`` shows the draft (unnumbered, nothing open), then
    ``invoice.issued`` the issued invoice, as ``POST /invoices/`` with ``issue``
    does: a webhook consumer cannot tell a batch from single calls."""
    response = post(api, {"issue": True, "invoices": [item_of(customers, 0)]})

    assert response.status_code == 201, response.json()
    with tenant_context(org):
        invoice = Invoice.objects.get()
        events = [
            (event.type, event.data)
            for event in Event.objects.filter(object_id=str(invoice.pk)).order_by("id")
        ]
    assert [kind for kind, _ in events] == ["invoice.created", "invoice.issued"]
    created, issued = events[0][1], events[1][1]
    assert (created["status"], created["number"], created["open_amount"]) == (
        "draft",
        None,
        "0.00",
    )
    assert created["issued_at"] is None
    assert (issued["status"], issued["number"], issued["open_amount"]) == (
        "open",
        invoice.number,
        "144.00",
    )


def test_the_answer_shows_each_invoice_as_the_invoice_list_does(api, org, customers):
    response = post(
        api,
        {"issue": True, "invoices": [item_of(customers, i) for i in range(3)]},
    )
    assert response.status_code == 201
    answered = response.json()
    assert (answered["count"], answered["issued"]) == (3, True)
    listed = api.get("/api/v1/invoices/", {"status": "open"}).json()["results"]
    by_id = {invoice["id"]: invoice for invoice in listed}
    for shown in answered["invoices"]:
        assert shown == by_id[shown["id"]]
        # 100.00 + 19 % and 2 x 12.50 untaxed: 144.00, all of it open.
        assert (shown["total"], shown["open_amount"]) == ("144.00", "144.00")
