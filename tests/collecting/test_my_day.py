"""My day as a collector reads it: the sections above the ranked list, the contact
on each row, the Act panel's one invoice list (ticking only what the collector
came for), the call-back date kept beside a promise, no email to a customer
marked do-not-contact, and the ranked list loading page by page."""

import re
from datetime import date, datetime
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from collecting import views
from collecting.models import (
    Activity,
    CustomerCollectionProfile,
    EmailTemplate,
    Notice,
    PromiseToPay,
    WorklistEntry,
)
from collecting.services import accounts, commitments
from collecting.services.worklist import worklist_rebuild
from o2c.errors import DomainError
from o2c.models import Role
from o2c.tenancy import tenant_context
from orders.models import Contact
from tests.factories import SYSTEM, CustomerFactory, issued_invoice, member

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 2, 10, 9, tzinfo=BERLIN)
TODAY = date(2026, 2, 10)


def at(day: date, hour: int = 9):
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)
    return time_machine.travel(moment, tick=False)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


class _Inputs(HTMLParser):
    """The invoice checkboxes of a page: invoice id → ticked."""

    def __init__(self):
        super().__init__()
        self.invoices: list[tuple[int, bool]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") == "invoices":
            self.invoices.append((int(attrs["value"]), "checked" in attrs))


def invoice_boxes(html: str) -> list[tuple[int, bool]]:
    parser = _Inputs()
    parser.feed(html)
    return parser.invoices


def section(html: str, title: str) -> str:
    """The text of the section headed ``title`` (up to the next section)."""
    match = re.search(rf"<h2[^>]*>{title}</h2>(.*?)</table>", html, re.S)
    return text(match.group(1)) if match else ""


def ranked_row(html: str, name: str) -> str:
    pattern = rf'<tbody id="account-\d+"[^>]*data-customer="{name}".*?</tbody>'
    return re.search(pattern, html, re.S).group(0)


@pytest.fixture
def day(org):
    """Carla's and Dan's books on Tuesday 10 February 2026 (Berlin)."""
    carla = member(org, Role.COLLECTOR, first_name="Carla", last_name="Kern")
    dan = member(org, Role.COLLECTOR, first_name="Dan", last_name="Dorn")
    books = {"carla": carla, "dan": dan}
    with tenant_context(org):

        def customer(name, collector, *, due=date(2026, 1, 15), amount="500.00", **kw):
            found = CustomerFactory(name=name, collector=collector, **kw)
            invoice = issued_invoice(
                found, amount, invoice_date=date(2025, 12, 16), due_date=due
            )
            books[name] = found
            books[f"{name} invoice"] = invoice
            return found, invoice

        with at(date(2026, 1, 20)):
            # Iris broke a promise long ago: not "since yesterday".
            iris, iris_invoice = customer("Iris", carla)
            commitments.promise_create(
                customer=iris, invoices=[iris_invoice], amount=Decimal("500.00"),
                promised_date=date(2026, 1, 21), actor=SYSTEM,
            )  # fmt: skip
            bolt, bolt_invoice = customer("Bolt", carla, amount="300.00")
            books["broken"] = commitments.promise_create(
                customer=bolt, invoices=[bolt_invoice], amount=Decimal("300.00"),
                promised_date=date(2026, 2, 1), actor=SYSTEM,
            )  # fmt: skip
        with at(date(2026, 1, 25)):
            commitments.promises_evaluate(as_of=date(2026, 1, 25), actor=SYSTEM)
        with at(date(2026, 2, 5)):
            acme, acme_invoice = customer("Acme", carla, amount="120.00")
            books["later"] = issued_invoice(
                acme, "80.00", invoice_date=date(2026, 1, 30), due_date=date(2026, 3, 1)
            )
            books["due"] = commitments.promise_create(
                customer=acme, invoices=[acme_invoice], amount=Decimal("120.00"),
                promised_date=TODAY, actor=SYSTEM,
            )  # fmt: skip
            hotel, hotel_invoice = customer("Hotel", dan)
            commitments.promise_create(
                customer=hotel, invoices=[hotel_invoice], amount=Decimal("500.00"),
                promised_date=TODAY, actor=SYSTEM,
            )  # fmt: skip
            crane, _ = customer("Crane", carla)
            accounts.next_action_set(customer=crane, day=date(2026, 2, 9), actor=SYSTEM)
            delta, _ = customer("Delta", carla)
            accounts.next_action_set(customer=delta, day=date(2026, 2, 8), actor=SYSTEM)
            echo, echo_invoice = customer("Echo", carla)
            commitments.dispute_open(
                customer=echo, invoices=[echo_invoice], reason_code="pricing",
                actor=SYSTEM,
            )  # fmt: skip
            foxtrot, foxtrot_invoice = customer("Foxtrot", dan)
            commitments.dispute_open(
                customer=foxtrot, invoices=[foxtrot_invoice], reason_code="quality",
                owner=carla, actor=SYSTEM,
            )  # fmt: skip
            golf, golf_invoice = customer("Golf", dan)
            commitments.dispute_open(
                customer=golf, invoices=[golf_invoice], reason_code="duplicate",
                actor=SYSTEM,
            )  # fmt: skip
        with at(date(2026, 2, 9), hour=7):
            commitments.promises_evaluate(as_of=date(2026, 2, 9), actor=SYSTEM)
        with at(date(2026, 2, 9), hour=15):
            # Delta's call-back was made: it is no longer due.
            accounts.activity_log(
                customer=delta, kind=Activity.Kind.CALL, outcome="no_answer",
                actor=SYSTEM,
            )  # fmt: skip
        for role, name, phone, primary in (
            (Contact.Role.AP_CLERK, "Abe Clerk", "+49 30 999", True),
            (Contact.Role.BILLING, "Ann Able", "+49 30 1234", False),
        ):
            Contact.objects.create(
                organization=org, customer=acme, name=name, phone=phone,
                email=f"{name.split()[0].lower()}@acme.example", role=role,
                is_primary=primary,
            )  # fmt: skip
        with at(TODAY):
            worklist_rebuild()
            books["entries"] = {
                entry.customer.name: entry
                for entry in WorklistEntry.objects.select_related("customer")
            }
    return books


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.django_db
def test_the_four_sections_show_the_collectors_day(org, day):
    html = client_for(day["carla"]).get("/collections/my-day/").content.decode()

    due = section(html, "Promises due today")
    assert "Acme" in due and "120.00 EUR" in due
    assert "Hotel" not in due  # Dan's
    broken = section(html, "Promises broken since yesterday")
    assert "Bolt" in broken and "300.00 EUR" in broken and "Broken" in broken
    assert "Iris" not in broken  # broken in January
    callbacks = section(html, "Call-backs due")
    assert "Crane" in callbacks
    assert "Delta" not in callbacks  # called since
    # Acme's and Bolt's next actions come from their promises: shown there once.
    assert "Acme" not in callbacks and "Bolt" not in callbacks
    disputes = section(html, "Disputes waiting for you")
    assert "Echo" in disputes and "Price differs from agreement" in disputes
    assert "Foxtrot" in disputes  # Dan's customer, Carla owns the dispute
    assert "Golf" not in disputes


@pytest.mark.django_db
def test_a_manager_sees_everyones_sections_or_one_collectors(org, day):
    manager = client_for(member(org, Role.FINANCE))

    everyone = manager.get("/collections/my-day/").content.decode()
    dans = manager.get(f"/collections/my-day/?collector={day['dan'].pk}")
    dans = dans.content.decode()

    assert "Hotel" in section(everyone, "Promises due today")
    assert "Acme" in section(everyone, "Promises due today")
    assert "Golf" in section(everyone, "Disputes waiting")
    assert "Hotel" in section(dans, "Promises due today")
    assert "Acme" not in section(dans, "Promises due today")
    # Foxtrot's dispute is Carla's to answer, not Dan's.
    assert "Foxtrot" not in section(dans, "Disputes waiting")
    assert "Golf" in section(dans, "Disputes waiting")


@pytest.mark.django_db
def test_rows_show_the_billing_contacts_phone_and_email(org, day):
    html = client_for(day["carla"]).get("/collections/my-day/").content.decode()

    acme_row = ranked_row(html, "Acme")
    assert "Ann Able · +49 30 1234 · ann@acme.example" in text(acme_row)
    assert 'href="tel:+49 30 1234"' in acme_row


@pytest.mark.django_db
def test_the_panel_ticks_only_the_overdue_invoices_in_one_list(org, day):
    with tenant_context(org):
        carla_bolt = day["entries"]["Bolt"]
        later = issued_invoice(
            day["Bolt"], "75.00", invoice_date=date(2026, 2, 1),
            due_date=date(2026, 3, 3),
        )  # fmt: skip
        older = issued_invoice(
            day["Bolt"], "40.00", invoice_date=date(2025, 12, 1),
            due_date=date(2026, 1, 2),
        )  # fmt: skip

    panel = client_for(day["carla"]).get(f"/collections/my-day/{carla_bolt.pk}/panel/")
    html = panel.content.decode()

    # One list for the call, promise, dispute and email forms.
    assert sorted(invoice_boxes(html)) == sorted(
        [(day["Bolt invoice"].pk, True), (older.pk, True), (later.pk, False)]
    )
    assert html.count('hx-include="#account-') == 4
    # The promise amount starts at the ticked invoices' total, not the account's.
    promise_amount = re.search(r'<input[^>]*name="amount"[^>]*>', html).group(0)
    assert 'value="340.00"' in promise_amount
    assert "Ticked: 2 · 340.00 EUR" in text(html)


@pytest.mark.django_db
def test_an_invoice_already_promised_or_disputed_is_not_ticked(org, day):
    with tenant_context(org):
        extra = issued_invoice(
            day["Acme"], "60.00", invoice_date=date(2025, 12, 1),
            due_date=date(2026, 1, 5),
        )  # fmt: skip
        worklist_rebuild()
        entry = WorklistEntry.objects.get(customer=day["Acme"])

    html = client_for(day["carla"]).get(f"/collections/my-day/{entry.pk}/panel/")
    html = html.content.decode()

    assert dict(invoice_boxes(html)) == {
        day["Acme invoice"].pk: False,  # under today's promise
        day["later"].pk: False,  # not due
        extra.pk: True,
    }
    assert "promised" in text(html)


@pytest.mark.django_db
def test_a_promise_for_one_invoice_covers_only_it(org, day):
    with tenant_context(org):
        second = issued_invoice(
            day["Crane"], "250.00", invoice_date=date(2025, 12, 20),
            due_date=date(2026, 1, 20),
        )  # fmt: skip
        worklist_rebuild()
        entry = WorklistEntry.objects.get(customer=day["Crane"])

    response = client_for(day["carla"]).post(
        f"/collections/my-day/{entry.pk}/promise/",
        {"amount": "250.00", "promised_date": "2026-02-20", "invoices": [second.pk]},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    with tenant_context(org):
        promise = PromiseToPay.objects.get(customer=day["Crane"])
        assert list(promise.invoices.all()) == [second]
        assert promise.amount == Decimal("250.00")
        # The other overdue invoice is still chased: the row stays in the queue.
        assert WorklistEntry.objects.get(pk=entry.pk).amount_overdue == Decimal(
            "500.00"
        )


@pytest.mark.django_db
def test_a_ticked_invoice_paid_meanwhile_is_refused_not_dropped(org, day):
    with tenant_context(org):
        entry = day["entries"]["Crane"]
        paid_elsewhere = issued_invoice(day["Delta"], "10.00")

    response = client_for(day["carla"]).post(
        f"/collections/my-day/{entry.pk}/promise/",
        {"amount": "510.00", "promised_date": "2026-02-20",
         "invoices": [day["Crane invoice"].pk, paid_elsewhere.pk]},
        headers={"HX-Request": "true"},
    )  # fmt: skip

    assert response.status_code == 422
    assert "A ticked invoice is no longer open" in text(response.content.decode())
    with tenant_context(org):
        assert not PromiseToPay.objects.filter(customer=day["Crane"]).exists()


@pytest.mark.django_db
def test_a_call_ending_in_a_promise_keeps_the_call_back_date(org, day):
    entry = day["entries"]["Crane"]

    client_for(day["carla"]).post(
        f"/collections/my-day/{entry.pk}/call/",
        {"outcome": "promised", "promise_amount": "500.00",
         "promise_date": "2026-02-27", "next_action_date": "2026-02-17",
         "invoices": [day["Crane invoice"].pk]},
        headers={"HX-Request": "true"},
    )  # fmt: skip

    with tenant_context(org):
        profile = CustomerCollectionProfile.objects.get(customer=day["Crane"])
        assert profile.next_action_date == date(2026, 2, 17)
        promise = PromiseToPay.objects.get(customer=day["Crane"])
        assert promise.promised_date == date(2026, 2, 27)


@pytest.mark.django_db
def test_a_do_not_contact_customer_is_marked_and_never_emailed(org, day):
    with tenant_context(org):
        juno = CustomerFactory(
            name="Juno", collector=day["carla"], do_not_contact=True,
            email="ap@juno.example",
        )  # fmt: skip
        invoice = issued_invoice(
            juno, "90.00", invoice_date=date(2025, 12, 1), due_date=date(2026, 1, 1)
        )
        template = EmailTemplate.objects.create(
            organization=org, name="Friendly", subject="Hello", body="Hi"
        )
        worklist_rebuild()
        entry = WorklistEntry.objects.get(customer=juno)
    client = client_for(day["carla"])

    page = client.get("/collections/my-day/").content.decode()
    row = ranked_row(page, "Juno")
    assert "Do not contact" in text(row)
    assert "mailto:" not in row
    panel = client.get(f"/collections/my-day/{entry.pk}/panel/").content.decode()
    assert f"/collections/my-day/{entry.pk}/email/" not in panel
    assert "marked do not contact" in text(panel)
    refused = client.post(
        f"/collections/my-day/{entry.pk}/email/",
        {"template": template.pk, "invoices": [invoice.pk]},
        headers={"HX-Request": "true"},
    )

    assert refused.status_code == 422
    assert "Juno is marked do not contact" in text(refused.content.decode())
    with tenant_context(org):
        assert not Notice.objects.filter(customer=juno).exists()
        with pytest.raises(DomainError, match="do not contact"):
            accounts.email_send(customer=juno, template=template, actor=SYSTEM)


@pytest.mark.django_db
def test_the_ranked_list_loads_its_next_page_as_rows_only(org, day, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client = client_for(day["carla"])

    first = client.get("/collections/my-day/").content.decode()
    more = re.search(r'hx-get="([^"]+)" hx-trigger="revealed"', first)
    assert more and "page=2" in more.group(1)
    second = client.get(unescape(more.group(1)), headers={"HX-Request": "true"})
    html = second.content.decode()

    assert "<table" not in html and "Promises due today" not in html
    first_names = re.findall(r'class="queue-row"[^>]*data-customer="([^"]+)"', first)
    second_names = re.findall(r'class="queue-row"[^>]*data-customer="([^"]+)"', html)
    assert len(first_names) == 2 and second_names
    assert not set(first_names) & set(second_names)


@pytest.mark.django_db
def test_a_section_row_acts_in_its_own_panel(org, day):
    entry = day["entries"]["Crane"]
    client = client_for(day["carla"])

    panel = client.get(f"/collections/my-day/{entry.pk}/panel/?slot=callbacks")
    html = panel.content.decode()
    assert html.lstrip().startswith('<tr class="panel-row" id="panel-callbacks-')
    assert f'hx-target="#panel-callbacks-{entry.pk}"' in html
    noted = client.post(
        f"/collections/my-day/{entry.pk}/note/",
        {"note": "Left a voicemail", "slot": "callbacks"},
        headers={"HX-Request": "true"},
    )

    assert f'id="panel-callbacks-{entry.pk}"' in noted.content.decode()
    assert "Note added." in text(noted.content.decode())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("locale", "typed", "promised"),
    [
        ("de", "12,50", "12.50"),
        ("de", "1.250,00", "1250.00"),
        ("de", "12.5", "12.50"),  # not the locale's grouping: read plain
        ("en", "1,250.00", "1250.00"),
    ],
)
def test_a_promise_amount_is_read_as_the_organization_writes_numbers(
    org, day, locale, typed, promised
):
    org.locale = locale
    org.save(update_fields=["locale"])
    entry = day["entries"]["Crane"]

    response = client_for(day["carla"]).post(
        f"/collections/my-day/{entry.pk}/promise/",
        {"amount": typed, "promised_date": "2026-02-20",
         "invoices": [day["Crane invoice"].pk]},
        headers={"HX-Request": "true"},
    )  # fmt: skip

    assert response.status_code == 200
    with tenant_context(org):
        promise = PromiseToPay.objects.get(customer=day["Crane"])
        assert promise.amount == Decimal(promised)


@pytest.mark.django_db
def test_a_promise_amount_in_another_grouping_is_refused_with_an_example(org, day):
    org.locale = "de"
    org.save(update_fields=["locale"])
    entry = day["entries"]["Crane"]
    panel = client_for(day["carla"]).get(f"/collections/my-day/{entry.pk}/panel/")
    # The suggested amount (the ticked invoice's 500.00) is written the German
    # way, so it reads back as itself.
    amount = re.search(r'<input[^>]*name="amount"[^>]*>', panel.content.decode())
    assert 'value="500,00"' in amount.group(0)

    response = client_for(day["carla"]).post(
        f"/collections/my-day/{entry.pk}/promise/",
        {"amount": "1,250.00", "promised_date": "2026-02-20",
         "invoices": [day["Crane invoice"].pk]},
        headers={"HX-Request": "true"},
    )  # fmt: skip

    assert response.status_code == 422
    assert "1.250,00" in text(response.content.decode())
    with tenant_context(org):
        assert not PromiseToPay.objects.filter(customer=day["Crane"]).exists()
