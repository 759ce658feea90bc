import pytest

from o2c.tenancy import tenant_context
from reconciliation.models import Payment
from tests.factories import CustomerFactory, issued_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(org):
    with tenant_context(org):
        return issued_invoice(CustomerFactory(), "100.00")


def pay(api, invoice, key, amount="40.00"):
    body = {
        "customer": invoice.customer_id,
        "amount": amount,
        "currency": "EUR",
        "received_date": "2026-01-10",
        "allocations": [{"invoice": invoice.pk, "amount": amount}],
    }
    return api.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_same_body_creates_once_and_replays_the_response(api, org, invoice):
    first = pay(api, invoice, "pay-1")
    second = pay(api, invoice, "pay-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    with tenant_context(org):
        assert Payment.objects.count() == 1
        invoice.refresh_from_db()
        assert str(invoice.open_amount) == "60.000"


def test_same_key_other_body_is_refused(api, org, invoice):
    assert pay(api, invoice, "pay-2").status_code == 201
    response = pay(api, invoice, "pay-2", amount="41.00")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    with tenant_context(org):
        assert Payment.objects.count() == 1


def test_a_failed_request_does_not_burn_the_key(api, org, invoice):
    refused = pay(api, invoice, "pay-3", amount="150.00")
    assert refused.status_code == 400
    assert pay(api, invoice, "pay-3", amount="150.00").status_code == 400
    assert pay(api, invoice, "pay-3", amount="50.00").status_code == 201


def test_keys_are_per_organization(api, other_api, org, other_org, invoice):
    assert pay(api, invoice, "shared-key").status_code == 201
    with tenant_context(other_org):
        theirs = issued_invoice(CustomerFactory(), "100.00")
    response = pay(other_api, theirs, "shared-key")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_a_large_upload_with_a_key_is_fingerprinted_without_loading_it(api, org):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from o2c.models import Job

    # 3 MB: above Django's in-memory body limit, below the import's upload limit
    content = b"invoice_number,customer\n" + b"X" * (3 * 1024 * 1024)

    def upload():
        return api.post(
            "/api/v1/imports/",
            {"file": SimpleUploadedFile("big.csv", content), "kind": "invoices"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="big-upload",
        )

    first, second = upload(), upload()
    assert first.status_code == second.status_code == 202, first.content
    assert second.json()["id"] == first.json()["id"]
    with tenant_context(org):
        assert Job.objects.count() == 1


def test_a_key_expires_after_24_hours(api, org, invoice):
    from datetime import timedelta

    from django.utils import timezone

    from o2c.models import IdempotencyRecord
    from o2c.tasks import expire_idempotency_keys

    assert pay(api, invoice, "pay-day", amount="10.00").status_code == 201
    with tenant_context(org):
        IdempotencyRecord.objects.update(
            created_at=timezone.now() - timedelta(hours=24, minutes=1)
        )
    # A day later the same key is a new request: a second payment, not a replay.
    again = pay(api, invoice, "pay-day", amount="10.00")
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again
    with tenant_context(org):
        assert Payment.objects.count() == 2
        assert IdempotencyRecord.objects.count() == 1
        IdempotencyRecord.objects.update(
            created_at=timezone.now() - timedelta(hours=25)
        )
    assert expire_idempotency_keys() == 1
    with tenant_context(org):
        assert not IdempotencyRecord.objects.exists()
