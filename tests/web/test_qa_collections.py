"""Collections pages as a finance team uses them: what a QA pass through the demo
company tripped over (a broken page title, forms that lost what was typed, errors
in Python's words, a reassignment that unassigned by accident, a queue row that
lost a column, a dunning message that counted old notices as new)."""

import re
from datetime import date, datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from collecting.models import Activity, DunningRun, EmailTemplate, WorklistEntry
from collecting.services.policies import standard_policy_create
from collecting.services.worklist import worklist_rebuild
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, member

NOW = datetime(2026, 2, 10, 9, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    """The page as a person reads it: tags dropped, entities decoded."""
    html = response.content.decode()
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
def books(org):
    """Acme owes 120.00 EUR (due 1 February) and 80.00 EUR (due 1 March); Carla
    collects it; the standard policy is in place."""
    carla = member(org, Role.COLLECTOR, first_name="Carla", last_name="Kern")
    with tenant_context(org):
        acme = CustomerFactory(
            name="Acme Metals", email="ap@acme.example", collector=carla
        )
        overdue = issued_invoice(
            acme, "120.00", invoice_date=date(2026, 1, 2), due_date=date(2026, 2, 1)
        )
        issued_invoice(
            acme, "80.00", invoice_date=date(2026, 1, 30), due_date=date(2026, 3, 1)
        )
        policy = standard_policy_create(actor=SYSTEM)
        worklist_rebuild()
        entry = WorklistEntry.objects.get(customer=acme)
    return {
        "carla": carla,
        "acme": acme,
        "overdue": overdue,
        "policy": policy,
        "entry": entry,
    }


# --- policies and templates -----------------------------------------------------


@pytest.mark.django_db
def test_the_policies_page_has_a_plain_title_and_one_template_form(org, books):
    admin = member(org, Role.ADMIN)

    html = client_for(admin).get("/collections/policies/").content.decode()

    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert title == f"Dunning policies · {org.name}"
    assert html.count('action="/collections/templates/new/') == 1


@pytest.mark.django_db
def test_a_refused_email_template_comes_back_with_what_was_typed(org, books):
    admin = member(org, Role.ADMIN)

    response = client_for(admin).post(
        "/collections/templates/new/",
        {"name": "Friendly nudge", "subject": "{% if %}", "body": "Please pay."},
    )

    assert response.status_code == 400
    assert "Template error" in text(response)
    html = response.content.decode()
    assert 'value="Friendly nudge"' in html
    assert ">Please pay.</textarea>" in html
    with tenant_context(org):
        assert not EmailTemplate.objects.exists()


@pytest.mark.django_db
def test_a_refused_policy_edit_keeps_the_input(org, books):
    admin = member(org, Role.ADMIN)
    client = client_for(admin)
    client.post(
        "/collections/policies/new/", {"name": "Public sector", "segments": "public"}
    )

    response = client.post(
        f"/collections/policies/{books['policy'].pk}/",
        {"name": "Public sector", "segments": "SMB", "description": "Mine"},
    )

    assert response.status_code == 400
    assert "A policy named 'Public sector' exists." in text(response)
    assert 'value="Mine"' in response.content.decode()
    with tenant_context(org):
        books["policy"].refresh_from_db()
    assert books["policy"].name == "Standard"


@pytest.mark.django_db
def test_a_refused_step_edit_keeps_the_saved_name_in_the_heading(org, books):
    admin = member(org, Role.ADMIN)
    with tenant_context(org):
        step = books["policy"].steps.get(name="First reminder")

    response = client_for(admin).post(
        f"/collections/steps/{step.pk}/",
        {"name": "Renamed", "offset_days": 7, "channel": "email",
         "subject": "{% if %}", "body": "x", "minimum_amount": "0"},
    )  # fmt: skip

    assert response.status_code == 400
    assert "<h1>First reminder</h1>" in response.content.decode()
    assert 'value="Renamed"' in response.content.decode()


@pytest.mark.django_db
def test_fees_on_the_policy_page_read_as_amounts(org, books):
    admin = member(org, Role.ADMIN)

    page = text(client_for(admin).get(f"/collections/policies/{books['policy'].pk}/"))

    # The second reminder's fee is stored as 5.000: shown as an amount, 2 decimals.
    assert "5.00" in page and "5.000" not in page


# --- My day ---------------------------------------------------------------------


def act(client, entry, action, data):
    return client.post(
        f"/collections/my-day/{entry.pk}/{action}/",
        data,
        headers={"HX-Request": "true"},
    )


@pytest.mark.django_db
def test_a_promise_without_a_date_says_so_and_keeps_the_amount(org, books):
    client = client_for(books["carla"])

    response = act(
        client,
        books["entry"],
        "promise",
        {"amount": "99.50", "promised_date": "", "invoices": [books["overdue"].pk]},
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert "A promise needs an amount and a date." in html
    assert 'value="99.50"' in html
    # Only the invoice that was ticked stays ticked.
    ticked = re.findall(r'value="(\d+)" checked', html)
    assert ticked.count(str(books["overdue"].pk)) >= 1
    with tenant_context(org):
        assert not Activity.objects.exists()


@pytest.mark.django_db
def test_a_mistyped_date_or_amount_is_explained_in_words(org, books):
    client = client_for(books["carla"])

    bad_date = act(client, books["entry"], "next_action", {"next_action_date": "x"})
    bad_amount = act(
        client,
        books["entry"],
        "promise",
        {"amount": "ninety", "promised_date": "2026-02-20",
         "invoices": [books["overdue"].pk]},
    )  # fmt: skip

    assert bad_date.status_code == 422
    assert "Next action: 'x' is not a date in the calendar; write it as" in text(
        bad_date
    )
    assert "isoformat" not in text(bad_date)
    assert "Enter the amount as a number" in text(bad_amount)


@pytest.mark.django_db
def test_an_email_without_a_template_and_an_empty_note_are_refused(org, books):
    client = client_for(books["carla"])

    email = act(client, books["entry"], "email", {"invoices": [books["overdue"].pk]})
    note = act(client, books["entry"], "note", {"note": "  "})

    assert email.status_code == 422
    assert "Choose an email template." in text(email)
    assert note.status_code == 422
    assert "Write the note first." in text(note)


@pytest.mark.django_db
def test_an_unknown_action_is_not_found(org, books):
    response = act(client_for(books["carla"]), books["entry"], "launch", {})

    assert response.status_code == 404


@pytest.mark.django_db
def test_a_promise_message_writes_the_date_the_organization_way(org, books):
    org.date_format = "d.m.Y"
    org.save()

    response = act(
        client_for(books["carla"]),
        books["entry"],
        "promise",
        {"amount": "120.00", "promised_date": "2026-02-20",
         "invoices": [books["overdue"].pk]},
    )  # fmt: skip

    assert "Promise to pay by 20.02.2026 recorded." in text(response)


@pytest.mark.django_db
def test_a_managers_opened_row_keeps_the_selection_column(org, books):
    manager = member(org, Role.FINANCE)

    panel = client_for(manager).get(f"/collections/my-day/{books['entry'].pk}/panel/")

    html = panel.content.decode()
    assert 'name="entries"' in html  # the queue's first column is still there
    header = client_for(manager).get("/collections/my-day/?collector=all")
    assert header.content.decode().count('name="entries"') == 1


@pytest.mark.django_db
def test_finance_starts_on_everyones_queue_and_sees_who_collects(org, books):
    manager = member(org, Role.FINANCE)

    page = client_for(manager).get("/collections/my-day/")

    assert 'data-customer="Acme Metals"' in page.content.decode()
    assert "Carla Kern" in text(page)
    mine = client_for(books["carla"]).get("/collections/my-day/")
    assert 'data-customer="Acme Metals"' in mine.content.decode()


@pytest.mark.django_db
def test_reassigning_without_a_choice_does_not_unassign(org, books):
    manager = member(org, Role.FINANCE)
    client = client_for(manager)
    entry = books["entry"]

    client.post("/collections/my-day/reassign/", {"entries": [entry.pk]})
    with tenant_context(org):
        books["acme"].refresh_from_db()
    assert books["acme"].collector == books["carla"]

    client.post(
        "/collections/my-day/reassign/", {"entries": [entry.pk], "collector": "none"}
    )
    with tenant_context(org):
        books["acme"].refresh_from_db()
    assert books["acme"].collector is None


@pytest.mark.django_db
def test_reassign_never_redirects_to_another_site(org, books):
    manager = member(org, Role.FINANCE)

    response = client_for(manager).post(
        "/collections/my-day/reassign/",
        {"entries": [books["entry"].pk], "collector": "none",
         "next": "https://evil.example/"},
    )  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == "/collections/my-day/"


# --- timeline and runs ------------------------------------------------------------


@pytest.mark.django_db
def test_the_timeline_panel_is_short_titled_and_links_documents(org, books):
    viewer = member(org, Role.VIEWER)
    org.date_format = "d.m.Y"
    org.save()
    with tenant_context(org):
        for _ in range(20):
            issued_invoice(books["acme"], "10.00", invoice_date=date(2026, 1, 5))

    panel = client_for(viewer).get(
        f"/collections/customers/{books['acme'].pk}/timeline/",
        headers={"HX-Request": "true"},
    )
    page = client_for(viewer).get(
        f"/collections/customers/{books['acme'].pk}/timeline/"
    )

    assert "Collections timeline" in text(panel)
    assert panel.content.decode().count("<tr class=") == 15
    assert f'href="/invoices/{books["overdue"].pk}/"' in page.content.decode()
    # A posting date has no time of day.
    assert "02.01.2026 12:00" not in text(page)
    assert "02.01.2026" in text(page)
    assert page.content.decode().count("<tr class=") == 22


@pytest.mark.django_db
def test_running_again_the_same_day_adds_nothing_for_a_customer_just_written_to(
    org, books, django_capture_on_commit_callbacks
):
    admin = member(org, Role.ADMIN)
    client = client_for(admin)

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post("/collections/runs/start/", follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post("/collections/runs/start/", follow=True)

    assert "has started; its progress shows below" in text(first)
    with tenant_context(org):
        assert list(
            DunningRun.objects.order_by("pk").values_list("status", "notices_created")
        ) == [("completed", 1), ("completed", 0)]
    # The runs page lists what the run it opens sent, and to whom.
    with tenant_context(org):
        first_run = DunningRun.objects.order_by("pk").first()
    page = client.get(f"/collections/runs/?run={first_run.pk}")
    assert "Notices of the run of" in text(page)
    assert "Acme Metals" in text(page)
    assert "First reminder" in text(page)
    assert "This run wrote no notice" in text(again)
