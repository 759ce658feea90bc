"""The collections pages: runs and the run button, notices to check, policies with
a preview, the timeline, a manager's reassignment."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from collecting.models import DunningRun, Notice, WorklistEntry
from collecting.services.policies import standard_policy_create
from collecting.services.worklist import worklist_rebuild
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, member

NOW = datetime(2026, 2, 10, 9, tzinfo=ZoneInfo("Europe/Berlin"))


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def books(org):
    with tenant_context(org):
        collector = member(org, Role.COLLECTOR)
        customer = CustomerFactory(
            name="Acme", email="ap@acme.example", collector=collector
        )
        issued_invoice(
            customer, "120.00", invoice_date=date(2026, 1, 2), due_date=date(2026, 2, 1)
        )
        policy = standard_policy_create(actor=SYSTEM)
    return {"collector": collector, "customer": customer, "policy": policy}


@pytest.mark.django_db
def test_the_run_button_and_the_runs_page(
    org, books, django_capture_on_commit_callbacks
):
    admin = member(org, Role.ADMIN)
    with time_machine.travel(NOW, tick=False):
        client = client_for(admin)
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post("/collections/runs/start/", {"date": "2026-02-10"})
        assert answer.status_code == 302
        page = client.get("/collections/runs/")
        assert page.status_code == 200
        assert "Dunning runs" in page.text
    with tenant_context(org):
        assert DunningRun.objects.get().notices_created == 1
        assert Notice.objects.get().step.name == "First reminder"


@pytest.mark.django_db
def test_a_person_records_an_unknown_notice_as_sent(org, books):
    admin = member(org, Role.ADMIN)
    with time_machine.travel(NOW, tick=False), tenant_context(org):
        notice = Notice.objects.create(
            organization=org, customer=books["customer"], channel="email",
            currency="EUR", notice_date=date(2026, 2, 10), status="unknown_check",
            message_id="<notice-1.1@o2c.localhost>",
        )  # fmt: skip
        client = client_for(admin)
        assert "notice-1.1@o2c.localhost" in client.get("/collections/runs/").text
        client.post(f"/collections/notices/{notice.pk}/check/", {"outcome": "sent"})
        notice.refresh_from_db()
        assert notice.status == "sent"


@pytest.mark.django_db
def test_policy_pages_and_a_preview_for_a_real_customer(org, books):
    admin = member(org, Role.ADMIN)
    client = client_for(admin)
    with time_machine.travel(NOW, tick=False):
        policy = books["policy"]
        assert "Standard" in client.get("/collections/policies/").text
        page = client.get(f"/collections/policies/{policy.pk}/")
        assert "Second reminder" in page.text
        with tenant_context(org):
            step = policy.steps.get(name="Second reminder")
        preview = client.get(
            f"/collections/steps/{step.pk}/preview/",
            {"customer": books["customer"].pk},
        )
        assert "Second reminder: 120.00 EUR overdue" in preview.text
        assert "A reminder fee of 5.00 EUR" in preview.text
        broken = client.post(
            f"/collections/steps/{step.pk}/",
            {"name": "Second reminder", "offset_days": 21, "channel": "email",
             "subject": "{% if %}", "body": "x", "minimum_amount": "0"},
        )  # fmt: skip
        assert "Template error" in broken.text
        collector = client_for(books["collector"])
        assert collector.get(f"/collections/steps/{step.pk}/").status_code == 403


@pytest.mark.django_db
def test_my_day_filters_and_a_manager_reassigns(org, books):
    manager = member(org, Role.FINANCE)
    other = member(org, Role.COLLECTOR)
    with time_machine.travel(NOW, tick=False):
        with tenant_context(org):
            worklist_rebuild()
            entry = WorklistEntry.objects.get()
        mine = client_for(books["collector"]).get("/collections/my-day/")
        assert 'data-customer="Acme"' in mine.text
        theirs = client_for(other).get("/collections/my-day/")
        assert 'data-customer="Acme"' not in theirs.text
        client = client_for(manager)
        client.post(
            "/collections/my-day/reassign/",
            {"entries": [entry.pk], "collector": other.pk},
        )
        assert (
            'data-customer="Acme"' in client_for(other).get("/collections/my-day/").text
        )
        timeline = client.get(
            f"/collections/customers/{books['customer'].pk}/timeline/"
        )
        assert "Collection timeline" in timeline.text
        assert "Invoice" in timeline.text
