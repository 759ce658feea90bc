"""What today's run would send, before it runs: nothing written, the same notices
the run then writes; and a run started again the same day after a policy change."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from collecting.models import DunningRun, Notice
from collecting.services.policies import step_create
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.collecting.conftest import make_policy
from tests.conftest import api_client_for
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, member

NOW = datetime(2026, 2, 22, 8, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture
def books(org):
    """Alpha: 100.00 at Reminder 2 (+21, fee 5.00) and 40.00 at Reminder 1.
    Bravo: 70.00 at Reminder 1."""
    with tenant_context(org):
        policy = make_policy()
        alpha = CustomerFactory(name="Alpha", email="alpha@example.com")
        bravo = CustomerFactory(name="Bravo", email="bravo@example.com")
        issue = date(2026, 1, 2)
        a1 = issued_invoice(
            alpha, "100.00", invoice_date=issue, due_date=date(2026, 2, 1)
        )
        a2 = issued_invoice(
            alpha, "40.00", invoice_date=issue, due_date=date(2026, 2, 14)
        )
        b1 = issued_invoice(
            bravo, "70.00", invoice_date=issue, due_date=date(2026, 2, 14)
        )
    return {"policy": policy, "a1": a1, "a2": a2, "b1": b1}


@pytest.mark.django_db
def test_the_preview_lists_what_the_run_then_writes_and_writes_nothing(
    org, books, smtp_sink, django_capture_on_commit_callbacks
):
    api = api_client_for(org, Role.COLLECTOR)
    with time_machine.travel(NOW, tick=False):
        preview = api.get("/api/v1/dunning-runs/preview/").json()
        with tenant_context(org):
            assert not Notice.objects.exists()
            assert not DunningRun.objects.exists()
        assert preview["as_of"] == "2026-02-22"
        assert preview["notices_count"] == 2
        rows = {
            row["customer_name"]: (
                row["step"],
                row["total"],
                row["fee"],
                [(i["number"], i["step"], i["days_overdue"]) for i in row["invoices"]],
            )
            for row in preview["notices"]
        }
        a1, a2, b1 = books["a1"].number, books["a2"].number, books["b1"].number
        assert rows == {
            "Alpha": (
                "Reminder 2",
                "140.00",
                "5.00",
                [(a1, "Reminder 2", 21), (a2, "Reminder 1", 8)],
            ),
            "Bravo": ("Reminder 1", "70.00", "0.00", [(b1, "Reminder 1", 8)]),
        }
        assert [
            (r["step"], r["notices"], r["invoices"], r["total"], r["fees"])
            for r in preview["summary"]
        ] == [
            ("Reminder 1", 1, 1, "70.00", "0.00"),
            ("Reminder 2", 1, 2, "140.00", "5.00"),
        ]

        # The page shows the same.
        client = Client()
        client.force_login(member(org, Role.COLLECTOR))
        page = client.get("/collections/runs/preview/", HTTP_HX_REQUEST="true").text
        assert "Reminder 2" in page and a2 in page and "140.00" in page

        with django_capture_on_commit_callbacks(execute=True):
            started = api.post("/api/v1/dunning-runs/")
        assert started.status_code == 202
    with tenant_context(org):
        written = {
            n.customer.name: (n.step.name, n.total_amount, n.fee_amount)
            for n in Notice.objects.select_related("customer", "step")
        }
    assert written == {
        "Alpha": ("Reminder 2", Decimal("140.00"), Decimal("5.00")),
        "Bravo": ("Reminder 1", Decimal("70.00"), Decimal(0)),
    }
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        "alpha@example.com",
        "bravo@example.com",
    ]


@pytest.mark.django_db
def test_a_run_started_again_after_a_policy_change_adds_only_what_is_new(
    org, books, smtp_sink, django_capture_on_commit_callbacks
):
    """The first run of the day finds the policy without the step Bravo reached;
    the step is added and the run started again the same day."""
    api = api_client_for(org, Role.ADMIN)
    with tenant_context(org):
        books["policy"].steps.filter(offset_days=7).delete()
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post("/api/v1/dunning-runs/").status_code == 202
        # Only Alpha (Reminder 2) had a step to reach.
        assert [m.rcpt_tos[0] for m in smtp_sink.messages] == ["alpha@example.com"]
        with tenant_context(org):
            step_create(
                policy=books["policy"],
                actor=SYSTEM,
                name="Reminder 1",
                offset_days=7,
                channel="email",
                subject="{{ step }} for {{ customer.name }}",
                body="{{ invoices_table }}",
            )
        with django_capture_on_commit_callbacks(execute=True):
            again = api.post("/api/v1/dunning-runs/")
        assert again.status_code == 202
    # Bravo now gets its Reminder 1. Alpha's 40.00 reached Reminder 1 too, but
    # Alpha was written to this morning: it waits for the 7-day interval.
    assert [m.rcpt_tos[0] for m in smtp_sink.messages] == [
        "alpha@example.com",
        "bravo@example.com",
    ]
    with tenant_context(org):
        assert list(
            DunningRun.objects.order_by("pk").values_list(
                "status", "notices_created", "customers_held"
            )
        ) == [("completed", 1, 0), ("completed", 1, 1)]


@pytest.mark.django_db
def test_a_second_start_while_a_run_is_queued_is_refused(org, books):
    api = api_client_for(org, Role.COLLECTOR)
    with time_machine.travel(NOW, tick=False):
        first = api.post("/api/v1/dunning-runs/")  # not executed: no commit here
        second = api.post("/api/v1/dunning-runs/")
    assert first.status_code == 202
    assert second.status_code == 409
    assert "already queued" in second.json()["error"]["message"]
