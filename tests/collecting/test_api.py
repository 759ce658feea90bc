"""The collections API: a journey through policies, runs, notices, promises,
disputes, plans, the worklist, the timeline and signed webhooks."""

import json
import threading
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection

from o2c.models import Role, WebhookDelivery
from o2c.tenancy import tenant_context
from o2c.webhooks import SIGNATURE_HEADER, verify
from tests.conftest import api_client_for
from tests.factories import CustomerFactory, issued_invoice, member

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 2, 10, 9, tzinfo=BERLIN)


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver():
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks", Receiver.received
    finally:
        server.shutdown()


@pytest.fixture
def company(org):
    with tenant_context(org):
        collector = member(org, Role.COLLECTOR)
        customer = CustomerFactory(
            name="Acme", email="ap@acme.example", collector=collector
        )
        invoices = [
            issued_invoice(
                customer,
                amount,
                invoice_date=date(2026, 1, 2),
                due_date=date(2026, 2, 1),
            )
            for amount in ("100.00", "250.00")
        ]
    return customer, invoices, collector


STEP = {
    "name": "Reminder",
    "offset_days": 7,
    "channel": "email",
    "attach_invoices": False,
    "subject": "Reminder for {{ customer.name }}",
    "body": "{{ invoices_table }}\nTotal {{ total }} {{ currency }}",
    "translations": {"de": {"subject": "Erinnerung für {{ customer.name }}"}},
    "fee_amount": "2.50",
}


@pytest.mark.django_db
def test_the_collections_journey_through_the_api(
    org, admin_api, company, smtp_sink, webhook_receiver,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    customer, (small, large), collector = company
    collector_api = api_client_for(org, Role.COLLECTOR)
    url, received = webhook_receiver
    with time_machine.travel(NOW, tick=False):
        created = admin_api.post(
            "/api/v1/webhook-endpoints/",
            {"url": url, "events": ["notice.sent", "promise.made", "dispute.opened"]},
        )
        assert created.status_code == 201, created.json()
        secret = created.json()["secret"]
        policy = admin_api.post(
            "/api/v1/dunning-policies/",
            {"name": "Default", "is_default": True, "steps": [STEP]},
        )
        assert policy.status_code == 201, policy.json()
        step_id = policy.json()["steps"][0]["id"]
        # Collectors do not edit policies.
        refused = collector_api.post("/api/v1/dunning-policies/", {"name": "Mine"})
        assert refused.status_code == 403
        preview = admin_api.get(
            f"/api/v1/dunning-steps/{step_id}/preview/", {"customer": customer.pk}
        )
        assert preview.json()["subject"] == "Reminder for Acme"
        assert "Total 350.00 EUR" in preview.json()["body"]

        with django_capture_on_commit_callbacks(execute=True):
            run = collector_api.post("/api/v1/dunning-runs/")
        # Started in the background: 202 with the queued run, then poll it.
        assert run.status_code == 202, run.json()
        assert run.json()["status"] == "queued"
        done = collector_api.get(f"/api/v1/dunning-runs/{run.json()['id']}/").json()
        assert (done["status"], done["notices_created"]) == ("completed", 1)
        (notice,) = collector_api.get("/api/v1/notices/").json()["results"]
        assert notice["status"] == "sent"
        assert notice["fee_amount"] == "2.50"
        assert [(i["invoice"], i["days_overdue"]) for i in notice["items"]] == [
            (small.pk, 9), (large.pk, 9),
        ]  # fmt: skip
        assert [m.subject for m in smtp_sink.messages] == ["Reminder for Acme"]

        with django_capture_on_commit_callbacks(execute=True):
            activity = collector_api.post(
                "/api/v1/activities/",
                {"customer": customer.pk, "kind": "call", "outcome": "promised",
                 "note": "Will pay the small one"},
            )  # fmt: skip
            assert activity.status_code == 201, activity.json()
            promise = collector_api.post(
                "/api/v1/promises/",
                {"customer": customer.pk, "invoices": [small.pk], "amount": "100.00",
                 "promised_date": "2026-02-20"},
            )  # fmt: skip
            assert promise.status_code == 201, promise.json()
            dispute = collector_api.post(
                "/api/v1/disputes/",
                {"customer": customer.pk, "invoices": [large.pk],
                 "reason_code": "quality", "owner": collector.pk},
            )  # fmt: skip
            assert dispute.status_code == 201, dispute.json()
        resolved = collector_api.post(
            f"/api/v1/disputes/{dispute.json()['id']}/resolve/",
            {"resolution": "withdrawn", "note": "Customer found the goods"},
        )
        assert resolved.json()["status"] == "withdrawn"

        worklist = collector_api.get(
            "/api/v1/worklist/", {"collector": collector.pk}
        ).json()
        assert [(row["customer_name"], row["amount_overdue"]) for row in worklist] == [
            ("Acme", "250.00")
        ]
        assert worklist[0]["score_parts"]["days_overdue"] == 3.0

        timeline = collector_api.get(f"/api/v1/customers/{customer.pk}/timeline/")
        kinds = [event["kind"] for event in timeline.json()]
        assert {"notice", "activity", "promise", "dispute", "invoice"} <= set(kinds)

        account = collector_api.patch(
            f"/api/v1/customers/{customer.pk}/collection/",
            {"next_action_date": "2026-02-12", "on_hold": False},
        )
        assert account.json()["next_action_date"] == "2026-02-12"

        events = [json.loads(body)["type"] for _, body in received]
        assert events == ["notice.sent", "promise.made", "dispute.opened"]
        for headers, body in received:
            assert verify(secret, body, headers[SIGNATURE_HEADER])
            assert not verify("whsec_wrong", body, headers[SIGNATURE_HEADER])
        assert json.loads(received[0][1])["data"]["object"]["total_amount"] == "350.00"
    with tenant_context(org):
        assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {
            "delivered"
        }


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_collections_journey_as_the_application_role(
    app_role, org, admin_api, company, smtp_sink, webhook_receiver,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    """The same requests and the dunning run's Celery task, bound by PostgreSQL's
    row-level security: each finds its organization's rows through the session
    setting (README "Tenant isolation")."""
    test_the_collections_journey_through_the_api(
        org, admin_api, company, smtp_sink, webhook_receiver,
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone() == (app_role,)


@pytest.mark.django_db
def test_foreign_ids_answer_404_and_viewers_cannot_act(
    org, other_org, company, other_api
):
    customer, (small, _), _ = company
    with time_machine.travel(NOW, tick=False):
        answer = other_api.post(
            "/api/v1/promises/",
            {"customer": customer.pk, "invoices": [small.pk], "amount": "1.00",
             "promised_date": "2026-02-20"},
        )  # fmt: skip
        assert answer.status_code == 404
        assert (
            other_api.get(f"/api/v1/customers/{customer.pk}/timeline/").status_code
            == 404
        )
        viewer = api_client_for(org, Role.VIEWER)
        answer = viewer.post(
            "/api/v1/activities/",
            {"customer": customer.pk, "kind": "note", "note": "hi"},
        )
        assert answer.status_code == 403
        assert viewer.get("/api/v1/worklist/").status_code == 200


@pytest.mark.django_db
def test_a_webhook_to_a_private_address_is_refused_in_production(admin_api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    answer = admin_api.post(
        "/api/v1/webhook-endpoints/", {"url": "http://127.0.0.1:9/hooks"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]["url"]


@pytest.mark.django_db
def test_another_organizations_collection_rows_are_not_found(
    org, company, other_api, django_capture_on_commit_callbacks
):
    from collecting.models import DunningRun, Notice
    from collecting.services import accounts, commitments, policies
    from collecting.services.dunning import dunning_run
    from o2c.models import WebhookEndpoint
    from tests.collecting.conftest import make_policy
    from tests.factories import SYSTEM

    customer, (small, large), _ = company
    with time_machine.travel(NOW, tick=False), tenant_context(org):
        policy = make_policy()
        dunning_run()
        ids = {
            "dunning-policies": policy.pk,
            "dunning-steps": policy.steps.first().pk,
            "dunning-runs": DunningRun.objects.get().pk,
            "notices": Notice.objects.first().pk,
            "activities": accounts.activity_log(
                customer=customer, kind="note", note="x", actor=SYSTEM
            ).pk,
            "promises": commitments.promise_create(
                customer=customer,
                invoices=[small],
                amount="1.00",
                promised_date=date(2026, 2, 20),
                actor=SYSTEM,
            ).pk,
            "disputes": commitments.dispute_open(
                customer=customer, invoices=[large], reason_code="other", actor=SYSTEM
            ).pk,
            "email-templates": policies.template_create(
                actor=SYSTEM, name="T", subject="S", body="B"
            ).pk,
            "webhook-endpoints": WebhookEndpoint.objects.create(
                organization=org, url="https://example.com/h", secret="s"
            ).pk,
        }
    for route, pk in ids.items():
        answer = other_api.get(f"/api/v1/{route}/{pk}/")
        assert answer.status_code == 404, route
    for route in ("timeline", "collection"):
        answer = other_api.get(f"/api/v1/customers/{customer.pk}/{route}/")
        assert answer.status_code == 404, route
    answer = other_api.post(
        f"/api/v1/notices/{ids['notices']}/reconcile/", {"sent": True}
    )
    assert answer.status_code == 404
