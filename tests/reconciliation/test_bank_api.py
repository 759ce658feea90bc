"""The reconciliation API as an integration and the queue's browser calls use it:
bank accounts, statement uploads, the exceptions queue and its settings."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from invoicing.models import Invoice
from o2c.models import Role
from o2c.tenancy import tenant_context
from reconciliation.models import BankAccount, Payment, StatementLine
from reconciliation.services.matching import lines_match
from tests.conftest import api_client_for
from tests.factories import CustomerFactory, issued_invoice
from tests.reconciliation.bank import entry, import_statements, main_account, statement

L = StatementLine.Status
JAN = date(2026, 1, 10)


@pytest.fixture
def account(org):
    with tenant_context(org):
        return main_account()


def queued_line(account, *entries):
    with tenant_context(account.organization):
        result = import_statements(account, [statement(list(entries))])
        lines_match(line_ids=result.new_credit_line_ids)
        return [StatementLine.objects.get(pk=pk) for pk in result.new_credit_line_ids]


def invoices_of(org, *amounts, customer=None):
    with tenant_context(org):
        customer = customer or CustomerFactory()
        return [issued_invoice(customer, a, invoice_date=JAN) for a in amounts]


def test_bank_accounts_create_patch_and_refuse_a_bad_iban(api, org):
    created = api.post(
        "/api/v1/bank-accounts/",
        {"name": "Operating", "iban": "de89 3704 0044 0532 0130 00",
         "bic": "COBADEFFXXX", "currency": "EUR", "is_default": True},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    assert created.json()["iban"] == "DE89370400440532013000"

    patched = api.patch(
        f"/api/v1/bank-accounts/{created.json()['id']}/",
        {"name": "Operating EUR"},
        format="json",
    )
    assert patched.json()["name"] == "Operating EUR"

    bad = api.post(
        "/api/v1/bank-accounts/",
        {"name": "Typo", "iban": "DE89370400440532013001", "currency": "EUR"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_iban"
    with tenant_context(org):
        assert BankAccount.objects.count() == 1


def test_viewer_reads_but_cannot_apply(org, account):
    (invoice,) = invoices_of(org, "90.00")
    (line,) = queued_line(account, entry("90.00", payer_name="Nobody"))
    viewer = api_client_for(org, Role.VIEWER)

    assert viewer.get("/api/v1/statement-lines/").status_code == 200
    refused = viewer.post(
        f"/api/v1/statement-lines/{line.pk}/apply/",
        {"allocations": [{"invoice": invoice.pk, "amount": "90.00"}]},
        format="json",
    )
    assert refused.status_code == 403


def test_queue_lists_open_lines_and_applies_a_suggestion(api, org, account):
    (invoice,) = invoices_of(org, "90.00")
    (line,) = queued_line(account, entry("90.00", payer_name="Nobody"))

    queue = api.get("/api/v1/statement-lines/?status=needs_review").json()
    (row,) = queue["results"]
    suggestion = row["suggestions"][0]
    assert suggestion["invoices"][0]["invoice"] == invoice.pk
    assert "amount equals the open amount" in suggestion["reasons"][0]

    applied = api.post(
        f"/api/v1/statement-lines/{line.pk}/apply/",
        {"suggestion": suggestion["id"]},
        format="json",
    )
    assert applied.status_code == 200, applied.json()
    assert applied.json()["status"] == L.MATCHED_MANUAL
    with tenant_context(org):
        invoice.refresh_from_db()
        assert invoice.open_amount == 0


def test_split_over_two_customers_and_the_rest_on_account(api, org, account):
    (first,) = invoices_of(org, "100.00")
    (second,) = invoices_of(org, "60.00")
    (line,) = queued_line(account, entry("200.00", remittance="Sammelzahlung"))

    response = api.post(
        f"/api/v1/statement-lines/{line.pk}/apply/",
        {
            "allocations": [
                {"invoice": first.pk, "amount": "100.00"},
                {"invoice": second.pk, "amount": "60.00"},
            ],
            "on_account": second.customer_id,
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    with tenant_context(org):
        payments = {p.customer_id: p for p in Payment.objects.all()}
        assert payments[first.customer_id].amount == Decimal("100.00")
        assert payments[second.customer_id].amount == Decimal("100.00")
        assert payments[second.customer_id].unapplied_amount == Decimal("40.00")
        assert Invoice.objects.get(pk=first.pk).open_amount == 0


def test_split_that_leaves_cash_without_a_customer_is_refused(api, org, account):
    (first,) = invoices_of(org, "100.00")
    (second,) = invoices_of(org, "60.00")
    (line,) = queued_line(account, entry("200.00"))

    response = api.post(
        f"/api/v1/statement-lines/{line.pk}/apply/",
        {"allocations": [{"invoice": first.pk, "amount": "100.00"},
                         {"invoice": second.pk, "amount": "60.00"}]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unapplied_rest"
    with tenant_context(org):
        assert not Payment.objects.exists()


def test_on_account_not_receivable_and_undo(api, org, account):
    with tenant_context(org):
        customer = CustomerFactory()
    first, second = queued_line(
        account,
        entry("55.00", bank_reference="X1"),
        entry("12.34", bank_reference="X2", remittance="Zinsen"),
    )

    on_account = api.post(
        f"/api/v1/statement-lines/{first.pk}/apply/",
        {"on_account": customer.pk},
        format="json",
    )
    refused = api.post(
        f"/api/v1/statement-lines/{second.pk}/not-receivable/",
        {"reason": "Interest from the bank"},
        format="json",
    )
    assert on_account.json()["status"] == L.ON_ACCOUNT
    assert refused.json()["status"] == L.NOT_RECEIVABLE

    undone = api.post(f"/api/v1/statement-lines/{first.pk}/undo/")
    assert undone.json()["status"] == L.NEW
    with tenant_context(org):
        assert Payment.objects.get().status == Payment.Status.REVERSED
    twice = api.post(f"/api/v1/statement-lines/{first.pk}/undo/")
    assert twice.status_code == 409


def test_foreign_ids_answer_404(api, other_api, org, account):
    (line,) = queued_line(account, entry("10.00"))
    assert other_api.get(f"/api/v1/statement-lines/{line.pk}/").status_code == 404
    assert other_api.post(f"/api/v1/statement-lines/{line.pk}/undo/").status_code == (
        404
    )


def test_settings_and_customer_bank_accounts(api, admin_api, org):
    assert (
        api.get("/api/v1/reconciliation-settings/").json()["auto_apply_threshold"] == 95
    )
    assert (
        api.patch(
            "/api/v1/reconciliation-settings/", {"auto_apply_margin": 5}, format="json"
        ).status_code
        == 403
    )
    changed = admin_api.patch(
        "/api/v1/reconciliation-settings/",
        {"short_payment_tolerance_amounts": {"EUR": "3.00"}},
        format="json",
    )
    assert changed.json()["short_payment_tolerance_amounts"] == {"EUR": "3.00"}

    with tenant_context(org):
        customer = CustomerFactory()
    created = api.post(
        "/api/v1/customer-bank-accounts/",
        {"customer": customer.pk, "account": "DE02 1203 0000 0000 2020 51"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["account"] == "DE02120300000000202051"
    duplicate = api.post(
        "/api/v1/customer-bank-accounts/",
        {"customer": customer.pk, "account": "DE02120300000000202051"},
        format="json",
    )
    assert duplicate.status_code == 409


def test_statement_upload_answers_202_with_the_job(
    api, org, account, django_capture_on_commit_callbacks
):
    upload = SimpleUploadedFile("statement.sta", b":20:STMT\n", "text/plain")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(
            "/api/v1/bank-statements/",
            {"file": upload, "bank_account": account.pk},
            format="multipart",
        )

    assert response.status_code == 202, response.json()
    job = response.json()
    assert (job["kind"], job["status"], job["input_name"]) == (
        "import_bank_statement",
        "queued",
        "statement.sta",
    )
    assert response["Location"].endswith(f"/api/v1/bank-statement-jobs/{job['id']}/")
    assert len(callbacks) == 1  # the import task, once the upload is committed
    assert api.get(job["url"]).json()["status"] == "queued"
