"""Regressions found by fuzzing the API (schemathesis and hand-made nasty input).

Every case was a 500, a wrong status, an error without the field's name, a silently
dropped input or a leak. Bad input answers 4xx in the one error shape, naming the
input at fault, and writes nothing.
"""

import base64
from datetime import date, timedelta

import pytest

from collecting.models import DunningStep, Notice
from collecting.services import policies
from invoicing.models import Invoice, LedgerEntry
from o2c.errors import DomainError
from o2c.models import AuditEvent, OrganizationAPIKey, Role
from o2c.tenancy import tenant_context
from orders.models import Customer, Fulfillment, PaymentTerm
from orders.services.terms import due_schedule
from reconciliation.models import Allocation, Payment, WriteOff
from tests.factories import (
    SYSTEM,
    CustomerFactory,
    issued_invoice,
    member,
    received_payment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(org):
    with tenant_context(org):
        customer = CustomerFactory()
        return {
            "customer": customer,
            "other_customer": CustomerFactory(),
            "invoice": issued_invoice(customer, "100.00"),
        }


def counts(org):
    with tenant_context(org):
        models = (Customer, Invoice, LedgerEntry, Payment, Allocation, WriteOff)
        return {m.__name__: m.objects.count() for m in models} | {
            "notices": Notice.objects.count(),
            "fulfillments": Fulfillment.objects.count(),
            "audit": AuditEvent.objects.count(),
        }


def error_of(response, status: int, field: str | None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "fields", "request_id"}
    if field is not None:
        assert field in error["fields"], error
    return error


def payment_body(customer, **extra):
    return {
        "customer": customer.pk,
        "amount": "60.00",
        "currency": "EUR",
        "received_date": "2026-02-01",
        **extra,
    }


def invoice_body(customer, **extra):
    line = {"description": "Bolts", "quantity": "1", "unit_price": "10.00"}
    return {
        "customer": customer.pk,
        "invoice_date": "2026-02-01",
        "lines": [line],
        **extra,
    }


# --- request bodies ---------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "deep-body"])
def test_json_nested_too_deeply_is_a_400_not_a_recursion_crash(api, org, key):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    before = counts(org)
    response = api.post(
        "/api/v1/payments/",
        "[" * 100_000 + "]" * 100_000,
        content_type="application/json",
        **headers,
    )
    assert error_of(response, 400, None)["code"] == "parse_error"
    assert counts(org) == before


@pytest.mark.parametrize("key", [None, "big-body"])
def test_a_body_over_the_upload_limit_is_a_413_in_the_error_shape(
    api, org, settings, key
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    before = counts(org)
    response = api.post(
        "/api/v1/payments/",
        {"reference": "x" * 2000},
        format="json",
        **headers,
    )
    assert error_of(response, 413, None)["code"] == "too_large"
    assert counts(org) == before


def test_too_many_query_parameters_is_a_400_in_the_error_shape(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"x{i}=1" for i in range(20))
    response = api.get(f"/api/v1/invoices/?{query}")
    assert error_of(response, 400, None)["code"] == "bad_request"


def test_the_api_reads_json_only(api, book):
    response = api.post(
        "/api/v1/payments/", payment_body(book["customer"]), format="multipart"
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": {"description": "x"}}, "lines"),
        ({"lines": [None]}, "lines[0]"),
        ({"lines": [["x"]]}, "lines[0]"),
        ({"lines": [{"description": "x", "quantity": "1.0001", "unit_price": "1"}]},
         "lines[0].quantity"),
    ],
)  # fmt: skip
def test_nested_errors_name_the_input_by_its_path(api, org, book, body, field):
    before = counts(org)
    response = api.post("/api/v1/invoices/", invoice_body(book["customer"], **body))
    error = error_of(response, 400, field)
    assert error["message"].startswith(f"{field}: ")
    assert counts(org) == before


# --- ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "customer_id", ["\u00b2", "\u0661", "18.0", 0, -3, 2**63, True, 1.5]
)
def test_ids_are_plain_positive_integers(api, org, book, customer_id):
    before = counts(org)
    response = api.post(
        "/api/v1/payments/", payment_body(book["customer"]) | {"customer": customer_id}
    )
    error = error_of(response, 400, "customer")
    assert "An id is a whole number" in error["message"]  # not DRF's "pk value"
    assert counts(org) == before


def test_a_superscript_member_id_is_a_400_not_a_500(admin_api, org):
    with tenant_context(org):
        term = PaymentTerm.objects.create(organization=org, name="Net 30", days=30)
    response = admin_api.post(
        "/api/v1/customers/",
        {"name": "Acme", "payment_term": term.pk, "collector": "²"},
    )
    error_of(response, 400, "collector")


def test_a_foreign_id_inside_a_list_answers_404_with_its_path(
    api, org, other_org, book
):
    with tenant_context(other_org):
        foreign = issued_invoice(CustomerFactory(), "50.00")
    before = counts(org)
    response = api.post(
        "/api/v1/payments/",
        payment_body(
            book["customer"],
            amount="-1",  # also wrong: the foreign id still decides the answer
            allocations=[
                {"invoice": book["invoice"].pk, "amount": "10.00"},
                {"invoice": foreign.pk, "amount": "10.00"},
            ],
        ),
    )
    error = error_of(response, 404, "allocations[1].invoice")
    assert error["code"] == "not_found"
    assert list(error["fields"]) == ["allocations[1].invoice"]
    assert counts(org) == before


def test_a_foreign_id_in_a_list_of_ids_answers_404(api, org, other_org, book):
    with tenant_context(other_org):
        foreign = issued_invoice(CustomerFactory(), "50.00")
    response = api.post(
        "/api/v1/promises/",
        {
            "customer": book["customer"].pk,
            "invoices": [foreign.pk],
            "amount": "10.00",
            "promised_date": "2999-01-01",
        },
    )
    assert error_of(response, 404, "invoices")["code"] == "not_found"


def test_a_dict_is_not_a_list_of_ids(api, book):
    response = api.post(
        "/api/v1/promises/",
        {
            "customer": book["customer"].pk,
            "invoices": {str(book["invoice"].pk): 1},
            "amount": "10.00",
            "promised_date": "2999-01-01",
        },
    )
    assert "list" in error_of(response, 400, "invoices")["message"]


# --- amounts and dates ------------------------------------------------------------


@pytest.mark.parametrize("amount", ["\u0665", "1e2", "Infinity", "NaN", True])
def test_amounts_are_plain_decimal_strings(api, org, book, amount):
    before = counts(org)
    response = api.post(
        "/api/v1/payments/", payment_body(book["customer"], amount=amount)
    )
    error_of(response, 400, "amount")
    assert counts(org) == before


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"description": "x", "quantity": "99999999999",
           "unit_price": "999999999.99"}], "lines[0]"),
        ([{"description": "x", "quantity": "1",
           "unit_price": "999999999999999.99"}] * 2, "lines"),
    ],
)  # fmt: skip
def test_totals_beyond_the_money_columns_are_refused(api, org, book, lines, field):
    before = counts(org)
    response = api.post(
        "/api/v1/invoices/", invoice_body(book["customer"], lines=lines)
    )
    assert error_of(response, 400, field)["code"] == "invalid_amount"
    assert counts(org) == before


def test_an_order_line_beyond_the_money_columns_is_refused(api, org, book):
    response = api.post(
        "/api/v1/orders/",
        {
            "customer": book["customer"].pk,
            "order_date": "2026-02-01",
            "lines": [
                {
                    "description": "x",
                    "quantity": "99999999999",
                    "unit_price": "999999999999.99",
                }
            ],
        },
    )
    error_of(response, 400, "lines[0]")


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31"])
def test_dates_outside_the_business_calendar_are_refused(api, org, book, day):
    before = counts(org)
    response = api.post(
        "/api/v1/invoices/", invoice_body(book["customer"], invoice_date=day)
    )
    assert (
        "between 1900-01-01 and 2999-12-31"
        in (error_of(response, 400, "invoice_date")["message"])
    )
    assert counts(org) == before


def test_a_due_date_past_the_calendar_is_a_domain_error(tenant):
    term = PaymentTerm(kind=PaymentTerm.Kind.NET, days=30)
    with pytest.raises(DomainError) as refused:
        due_schedule(term, date(9999, 12, 31), 100, "EUR")
    assert refused.value.field == "invoice_date"


# --- pagination -------------------------------------------------------------------


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("cursor", ["p=abc", "p=2026-01-01", "p=" + "9" * 30, "o=-1"])
def test_a_tampered_cursor_is_a_400_naming_it(api, book, cursor):
    response = api.get("/api/v1/invoices/", {"cursor": _cursor(cursor)})
    error_of(response, 400, "cursor")


@pytest.mark.parametrize("size", ["0", "-1", "abc", "1.5", ""])
def test_a_page_size_that_is_not_a_positive_whole_number_is_a_400(api, size):
    error_of(api.get("/api/v1/payments/", {"page_size": size}), 400, "page_size")


def test_a_page_size_above_the_maximum_is_capped(api, book):
    response = api.get("/api/v1/invoices/", {"page_size": "100000"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_pages_still_follow_their_next_links(api, org, book):
    with tenant_context(org):
        for _ in range(2):
            issued_invoice(book["customer"], "5.00")
    first = api.get("/api/v1/invoices/", {"page_size": "2"}).json()
    second = api.get(first["next"]).json()
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == 3


# --- filters ----------------------------------------------------------------------


def test_id_filters_take_whole_numbers(api, book):
    error_of(api.get("/api/v1/customers/", {"collector": "1.5"}), 400, "collector")
    error_of(api.get("/api/v1/invoices/", {"customer": "1.5"}), 400, "customer")


def test_member_filters_answer_404_for_someone_elses_user(api, other_org):
    stranger = member(other_org, Role.COLLECTOR)
    for path, name in [
        ("/api/v1/worklist/", "collector"),
        ("/api/v1/disputes/", "owner"),
        ("/api/v1/customers/", "collector"),
    ]:
        response = api.get(path, {name: stranger.pk})
        assert error_of(response, 404, name)["code"] == "not_found", path


def test_a_huge_collector_filter_is_not_a_500(api):
    error_of(api.get("/api/v1/worklist/", {"collector": "9" * 30}), 400, "collector")


# --- business rules found missing -------------------------------------------------


def test_over_allocation_across_two_lines_names_the_second(api, org, book):
    before = counts(org)
    response = api.post(
        "/api/v1/payments/",
        payment_body(
            book["customer"],
            amount="200.00",
            allocations=[
                {"invoice": book["invoice"].pk, "amount": "60.00"},
                {"invoice": book["invoice"].pk, "amount": "60.00"},
            ],
        ),
    )
    assert error_of(response, 400, "allocations[1].amount")["code"] == (
        "exceeds_open_amount"
    )
    assert counts(org) == before


def test_an_allocation_date_in_the_payment_body_is_used(api, org, book):
    response = api.post(
        "/api/v1/payments/",
        payment_body(
            book["customer"],
            allocations=[
                {
                    "invoice": book["invoice"].pk,
                    "amount": "60.00",
                    "allocation_date": "2026-02-10",
                }
            ],
        ),
    )
    assert response.status_code == 201, response.content
    assert response.json()["allocations"][0]["allocation_date"] == "2026-02-10"
    early = api.post(
        "/api/v1/payments/",
        payment_body(
            book["customer"],
            allocations=[
                {
                    "invoice": book["invoice"].pk,
                    "amount": "10.00",
                    "allocation_date": "2026-01-20",
                }
            ],
        ),
    )
    error_of(early, 400, "allocations[0].allocation_date")


def test_reversing_a_payment_twice_is_a_conflict_whatever_the_date(api, org, book):
    with tenant_context(org):
        payment = received_payment(
            book["customer"], "30.00", allocations=[(book["invoice"], "30.00")]
        )
    url = f"/api/v1/payments/{payment.pk}/reverse/"
    assert api.post(url, {"reversal_date": "2026-03-01"}).status_code == 200
    before = counts(org)
    again = api.post(url, {"reversal_date": "2026-02-01"})
    assert error_of(again, 409, None)["code"] == "already_reversed"
    assert counts(org) == before


def test_a_void_invoice_cannot_be_written_off(api, org, book):
    with tenant_context(org):
        void = issued_invoice(book["customer"], "20.00")
    assert api.post(f"/api/v1/invoices/{void.pk}/void/", {}).status_code == 200
    before = counts(org)
    response = api.post(
        "/api/v1/write-offs/",
        {"invoice": void.pk, "amount": "1.00", "write_off_date": "2026-02-01",
         "reason": "rounding"},
    )  # fmt: skip
    assert error_of(response, 409, "invoice")["code"] == "invalid_status"
    assert counts(org) == before


def test_an_email_cannot_list_another_customers_invoice(admin_api, org, book):
    with tenant_context(org):
        template = policies.template_create(
            actor=SYSTEM, name="Reminder", subject="Open items", body="Please pay."
        )
        foreign = issued_invoice(book["other_customer"], "70.00")
    before = counts(org)
    response = admin_api.post(
        f"/api/v1/customers/{book['customer'].pk}/emails/",
        {"template": template.pk, "invoices": [foreign.pk]},
    )
    assert error_of(response, 400, "invoices")["code"] == "customer_mismatch"
    assert counts(org) == before


def test_invoicing_an_order_names_order_lines(api, org, book):
    order = api.post(
        "/api/v1/orders/",
        {
            "customer": book["customer"].pk,
            "order_date": "2026-02-01",
            "lines": [{"description": "x", "quantity": "2", "unit_price": "5.00"}],
        },
    ).json()
    api.post(f"/api/v1/orders/{order['id']}/confirm/", {"override_credit_check": True})
    line = order["lines"][0]["id"]
    shipped = api.post(
        "/api/v1/fulfillments/",
        {"order": order["id"], "shipped_date": "2026-02-02",
         "lines": [{"order_line": line, "quantity": "1"}]},
    )  # fmt: skip
    assert shipped.status_code == 201, shipped.content
    before = counts(org)
    response = api.post(
        "/api/v1/invoices/",
        {"sales_order": order["id"], "invoice_date": "2026-02-03",
         "order_lines": [{"order_line": line, "quantity": "2"}]},
    )  # fmt: skip
    assert error_of(response, 400, "order_lines[0].quantity")["code"] == (
        "exceeds_fulfilled"
    )
    empty = api.post(
        "/api/v1/invoices/",
        {"sales_order": order["id"], "invoice_date": "2026-02-03", "order_lines": []},
    )
    error_of(empty, 400, "order_lines")
    assert counts(org) == before


def test_payment_plan_errors_name_schedule_and_first_date(api, org, book):
    today = org.today()
    schedule = api.post(
        "/api/v1/payment-plans/",
        {"customer": book["customer"].pk, "invoices": [book["invoice"].pk],
         "schedule": [{"due_date": str(today + timedelta(days=5)),
                       "amount": "99.00"}]},
    )  # fmt: skip
    assert error_of(schedule, 400, "schedule")["code"] == "instalments_mismatch"
    past = api.post(
        "/api/v1/payment-plans/",
        {"customer": book["customer"].pk, "invoices": [book["invoice"].pk],
         "count": 2, "first_date": str(today - timedelta(days=1))},
    )  # fmt: skip
    error_of(past, 400, "first_date")
    empty = api.post(
        "/api/v1/payment-plans/",
        {"customer": book["customer"].pk, "invoices": [book["invoice"].pk],
         "schedule": []},
    )  # fmt: skip
    error_of(empty, 400, "schedule")


def test_a_second_customer_with_the_same_external_id_is_a_conflict(admin_api, org):
    with tenant_context(org):
        term = PaymentTerm.objects.create(organization=org, name="Net 30", days=30)
    body = {"name": "Acme", "payment_term": term.pk, "external_id": "CRM-7"}
    assert admin_api.post("/api/v1/customers/", body).status_code == 201
    before = counts(org)
    again = admin_api.post("/api/v1/customers/", body | {"name": "Acme again"})
    assert error_of(again, 409, "external_id")["code"] == "duplicate"
    assert counts(org) == before


def test_a_payment_term_without_kind_gets_the_models_defaults(admin_api):
    response = admin_api.post("/api/v1/payment-terms/", {"name": "Standard"})
    assert response.status_code == 201, response.content
    assert response.json() | {"id": 0} == {
        "id": 0, "name": "Standard", "kind": "net", "days": 30, "instalments": [],
        "discount_percent": "0.00", "discount_days": 0,
    }  # fmt: skip


# --- collections settings, templates and steps ------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [("promise_grace_days", 1_000_000_000), ("plan_grace_days", 61),
     ("stale_sending_minutes", 0), ("dunning_hour", 24)],
)  # fmt: skip
def test_collection_settings_stay_in_range(admin_api, name, value):
    error_of(admin_api.patch("/api/v1/collecting-settings/", {name: value}), 400, name)


def test_a_translation_subject_must_be_text(admin_api, org):
    with tenant_context(org):
        policy = policies.policy_create(actor=SYSTEM, name="P")
    response = admin_api.post(
        "/api/v1/dunning-steps/",
        {"policy": policy.pk, "name": "Reminder", "offset_days": 7,
         "channel": "email", "subject": "S", "body": "B",
         "translations": {"de": {"subject": {"x": 1}, "body": "B"}}},
    )  # fmt: skip
    error_of(response, 400, "translations")


def test_a_step_can_be_patched_without_repeating_policy_and_offset(admin_api, org):
    with tenant_context(org):
        policy = policies.policy_create(
            actor=SYSTEM,
            name="P",
            steps=[{"name": "Call", "offset_days": 10, "channel": "call_task"}],
        )
        step = policy.steps.get()
    response = admin_api.patch(
        f"/api/v1/dunning-steps/{step.pk}/", {"fee_amount": "5.00"}
    )
    assert response.status_code == 200, response.content
    with tenant_context(org):
        assert DunningStep.objects.get(pk=step.pk).fee_amount == 5


# --- API keys ---------------------------------------------------------------------


def test_api_keys_never_show_their_hash(admin_api, org, other_api):
    created = admin_api.post("/api/v1/api-keys/", {"name": "erp"}).json()
    key = OrganizationAPIKey.objects.get(prefix=created["prefix"])
    assert created["id"] == key.prefix
    listed = admin_api.get("/api/v1/api-keys/")
    detail = admin_api.get(f"/api/v1/api-keys/{key.prefix}/")
    for response in (listed, detail):
        assert response.status_code == 200
        assert key.hashed_key not in response.content.decode()
    revoked = admin_api.post(f"/api/v1/api-keys/{key.prefix}/revoke/")
    assert revoked.json()["revoked"] is True
    assert other_api.get(f"/api/v1/api-keys/{key.prefix}/").status_code == 404


def test_an_api_key_cannot_be_created_already_expired(admin_api):
    response = admin_api.post(
        "/api/v1/api-keys/", {"name": "old", "expiry_date": "2000-01-01T00:00:00Z"}
    )
    error_of(response, 400, "expiry_date")
    assert not OrganizationAPIKey.objects.filter(name="old").exists()


# --- the schema says what the answers hold ----------------------------------------


def test_the_schema_matches_answers_found_to_differ(admin_api):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    assert components["CustomerOutput"]["properties"]["credit_limit"]["nullable"]
    account = components["Account"]["properties"]["last_contact_at"]
    assert account["nullable"]
    run = schema["paths"]["/api/v1/dunning-runs/"]["post"]["responses"]["202"]
    assert run["content"]["application/json"]["schema"]["$ref"].endswith("/Run")
    payments = schema["paths"]["/api/v1/payments/"]["post"]["requestBody"]
    assert list(payments["content"]) == ["application/json"]


# --- schemathesis run of scripts/fuzz_api.sh (issue 12) ---------------------------


def test_a_model_decimal_reads_the_documented_digits_only(admin_api, org):
    """A model's decimal column took "1e1" as 10 (Decimal() reads exponents); the
    schema's pattern says digits and a point, so does the server now."""
    url = "/api/v1/reconciliation-settings/"
    before = admin_api.get(url).json()["short_payment_tolerance_percent"]
    for written in ("1e1", " 1", "", "\u0661"):
        response = admin_api.patch(url, {"short_payment_tolerance_percent": written})
        error_of(response, 400, "short_payment_tolerance_percent")
    assert admin_api.get(url).json()["short_payment_tolerance_percent"] == before
    accepted = admin_api.patch(url, {"short_payment_tolerance_percent": "1.5"})
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["short_payment_tolerance_percent"] == "1.50"


def test_text_and_yes_no_inputs_refuse_other_json_types(admin_api, org, book):
    """``"hold_reason": 0`` was stored as "0" and ``"confirmed": 0`` as false: a
    client's wrong type went unnoticed. Both answer 400 naming the field."""
    customer = book["customer"]
    before = counts(org)
    response = admin_api.patch(
        f"/api/v1/customers/{customer.pk}/collection/",
        {"on_hold": True, "hold_reason": 0},
    )
    assert error_of(response, 400, "hold_reason")["fields"]["hold_reason"] == [
        "Must be a string."
    ]
    response = admin_api.post(
        "/api/v1/customer-bank-accounts/",
        {"customer": customer.pk, "account": "DE02120300000000202051", "confirmed": 0},
    )
    assert error_of(response, 400, "confirmed")["fields"]["confirmed"] == [
        "Must be true or false."
    ]
    assert counts(org) == before
    created = admin_api.post(
        "/api/v1/customer-bank-accounts/",
        {
            "customer": customer.pk,
            "account": "DE02120300000000202051",
            "confirmed": True,
        },
    )
    assert created.status_code == 201, created.json()
    assert created.json()["confirmed"] is True


def test_an_unknown_id_in_a_generated_filter_is_a_404_like_the_others(
    admin_api, other_api, org, book
):
    """``?bank_account=0`` answered 400 "Select a valid choice" where every other
    id filter answers 404; another organization's customer is not found either."""
    response = admin_api.get("/api/v1/bank-statements/", {"bank_account": 999999})
    error_of(response, 404, "bank_account")
    response = other_api.get(
        "/api/v1/customer-bank-accounts/", {"customer": book["customer"].pk}
    )
    error_of(response, 404, "customer")
    response = admin_api.get("/api/v1/bank-statements/", {"bank_account": 0})
    error_of(response, 400, "bank_account")
    listed = admin_api.get(
        "/api/v1/customer-bank-accounts/", {"customer": book["customer"].pk}
    )
    assert listed.status_code == 200
    assert listed.json()["results"] == []


def test_metrics_of_year_zero_are_refused_not_a_500(admin_api):
    """``end_month=0000-05`` reached ``date(0, 5, 1)`` and ``0001-01`` a series
    starting in year -1: 500s. The months a series can span are accepted."""
    for month in (
        "0000-05",
        "0001-01",
        "1899-12",
        "9999-12",
        "2026-13",
        "\u0662\u0660\u0662\u0666-\u0660\u0661",
    ):
        response = admin_api.get("/api/v1/reports/metrics/", {"end_month": month})
        error_of(response, 400, "end_month")
    for month in ("1900-01", "9998-12"):
        response = admin_api.get(
            "/api/v1/reports/metrics/", {"end_month": month, "months": 60}
        )
        assert response.status_code == 200, response.content


def test_the_schema_states_the_checks_the_fuzzer_met(admin_api):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    activities = {
        p["name"]: p["schema"]
        for p in schema["paths"]["/api/v1/activities/"]["get"]["parameters"]
    }
    # a blank outcome cannot be asked for (400), and "" is no choice
    assert "" not in activities["outcome"]["enum"]
    customers = {
        p["name"]: p["schema"]
        for p in schema["paths"]["/api/v1/customers/"]["get"]["parameters"]
    }
    assert customers["search"]["pattern"] == r"^[^\x00]*[^\s\x00][^\x00]*$"
    assert customers["cursor"] == {"type": "string"}  # empty: the first page
    settings = schema["components"]["schemas"]["PatchedSettingsRequest"]
    minutes = settings["properties"]["stale_sending_minutes"]
    assert (minutes["minimum"], minutes["maximum"]) == (1, 10080)
    tolerance = schema["components"]["schemas"]["PatchedReconciliationSettingsRequest"][
        "properties"
    ]["short_payment_tolerance_percent"]
    assert "pattern" in tolerance and "e" not in tolerance["pattern"]


def test_an_upload_sent_form_encoded_is_a_415_not_a_missing_file(admin_api):
    """The schema offered form encoding for uploads, which cannot carry a file:
    the fuzzer's schema-valid request got "not a file". Multipart only now."""
    for url, body in (
        ("/api/v1/imports/", "kind=invoices&file=x"),
        ("/api/v1/bank-statements/", "bank_account=1&file=x"),
    ):
        response = admin_api.generic(
            "POST", url, body, content_type="application/x-www-form-urlencoded"
        )
        error_of(response, 415, None)
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/v1/imports/", "/api/v1/bank-statements/"):
        content = schema["paths"][path]["post"]["requestBody"]["content"]
        assert list(content) == ["multipart/form-data"]


def test_the_schema_says_bodies_take_their_fields_only(admin_api):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()["components"]
    schemas = schema["schemas"]
    assert schemas["PaymentInputRequest"]["additionalProperties"] is False
    assert schemas["OrderInputRequest"]["properties"]["lines"]["minItems"] == 1
    received = schemas["PaymentInputRequest"]["properties"]["received_date"]
    assert received["pattern"] == r"^(?:19|2[0-9])[0-9]{2}-"


def test_the_schema_states_query_parameters_as_the_server_reads_them(admin_api):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()

    def parameters(path):
        return {
            p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]
        }

    metrics = parameters("/api/v1/reports/metrics/")
    # "or empty" was offered for ?key=, which answers 400 when empty
    assert "oneOf" not in metrics["key"]
    assert metrics["key"]["pattern"] == r"^[^\x00]*[^\s\x00][^\x00]*$"
    assert metrics["end_month"]["pattern"].startswith("^(?:19[0-9]{2}|")
    payments = parameters("/api/v1/payments/")
    # django-filter reads amounts up to 1e50, and any negative one
    assert payments["amount_max"] == {"type": "number", "maximum": 1e50}
    response = admin_api.get("/api/v1/payments/", {"amount_max": "-4.36e67"})
    assert response.status_code == 200
    assert response.json()["results"] == []
    response = admin_api.get("/api/v1/reports/metrics/", {"key": " "})
    error_of(response, 400, "key")


# --- date-time filters ------------------------------------------------------------


@pytest.mark.parametrize(
    ("created_after", "status"),
    [
        # an offset Python reads and PostgreSQL does not (±15:59 at most): was a 500
        ("2020-04-22T15:37:31+21:02", 200),
        ("2020-04-22T15:37:31Z", 200),
        ("0662-04-22T15:37:31+01:00", 400),
        ("3085-11-28T22:57:41Z", 400),
        ("yesterday", 400),
    ],
)
def test_event_time_filters_read_any_offset_in_the_business_years(
    api, book, created_after, status
):
    response = api.get("/api/v1/events/", {"created_after": created_after})
    if status == 400:
        error_of(response, 400, "created_after")
        return
    assert response.status_code == 200, response.content
    types = {event["type"] for event in response.json()["results"]}
    assert "invoice.issued" in types  # the book's invoice, issued today


# --- repeated parameters ----------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        # Django reads the last value: the empty one turned the filter off
        "/api/v1/customers/?currency=USD&currency=",
        "/api/v1/invoices/?customer=1&customer=2",
        "/api/v1/reports/aging/?as_of=2026-01-31&as_of=2026-02-28",
    ],
)
def test_a_one_valued_parameter_given_twice_is_a_400_naming_it(api, book, query):
    name = query.split("?")[1].split("=")[0]
    error = error_of(api.get(query), 400, name)
    assert error["fields"][name] == ["Give this parameter once."]


def test_many_valued_parameters_still_take_several_values(api, book):
    response = api.get("/api/v1/invoices/?status=open&status=paid")
    assert response.status_code == 200, response.content
    assert [i["number"] for i in response.json()["results"]] == [book["invoice"].number]
