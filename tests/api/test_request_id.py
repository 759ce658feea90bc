"""Every response carries a request id; error bodies and log lines quote it."""

import logging

import pytest
from django.core.management import call_command

from o2c.models import AuditEvent, OrganizationAPIKey
from o2c.tenancy import tenant_context

pytestmark = pytest.mark.django_db


def test_every_response_has_a_request_id_and_errors_quote_it(api, client):
    ok = api.get("/api/v1/customers/")
    refused = api.post("/api/v1/customers/", {"name": ""}, format="json")
    page = client.get("/healthz")
    ids = [ok["X-Request-ID"], refused["X-Request-ID"], page["X-Request-ID"]]
    assert all(len(value) == 32 for value in ids) and len(set(ids)) == 3
    assert refused.json()["error"]["request_id"] == refused["X-Request-ID"]


def test_a_callers_own_id_is_kept_and_a_strange_one_replaced(api):
    kept = api.get("/api/v1/customers/", HTTP_X_REQUEST_ID="erp-run-2026-12-06.17")
    assert kept["X-Request-ID"] == "erp-run-2026-12-06.17"
    replaced = api.get("/api/v1/customers/", HTTP_X_REQUEST_ID="<script>")
    assert replaced["X-Request-ID"] != "<script>"
    assert len(replaced["X-Request-ID"]) == 32


def test_log_lines_of_a_request_carry_its_id(api, caplog):
    from o2c.requestid import RequestIdFilter

    handler_filter = RequestIdFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = api.get("/api/v1/customers/999999/")
    assert response.status_code == 404
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records and records[-1].request_id == response["X-Request-ID"]


def test_create_api_key_command_prints_a_working_key_once(org, capsys):
    call_command(
        "create_api_key", "--org", org.slug, "--name", "ERP export", "--role", "viewer"
    )
    out, err = capsys.readouterr()
    key = out.strip()
    assert "shown once" in err and key not in err
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/v1/customers/").status_code == 200
    # a viewer key cannot write
    assert client.post("/api/v1/customers/", {}, format="json").status_code == 403
    with tenant_context(org):
        made = OrganizationAPIKey.objects.get(name="ERP export")
        assert made.role == "viewer"
        assert AuditEvent.objects.filter(actor_label="command line").exists()


def test_create_api_key_refuses_a_bad_date(org):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command(
            "create_api_key",
            "--org",
            org.slug,
            "--name",
            "x",
            "--expires",
            "31.12.2027",
        )
