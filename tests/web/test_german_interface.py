"""The interface in the organization's language: a member of an organization whose
locale is "de" walks every page of the app and finds no English label left; an
"en" organization reads English; integrations keep English API errors.

The walk enumerates the named routes from the URL resolver (API, webhooks and
static files aside), fills their ids from a small seeded company, GETs each page and
reads its visible text (text nodes, titles, placeholders, ARIA labels). The English
source strings of the German catalogue — those that are not also German words, like
"Status" — must not appear in it: a label that was never marked for translation is
not in the catalogue, but one marked and not translated, translated in the catalogue
yet rendered in English (evaluated at import time, missing from the compiled
catalogue), or marked in a template that forgot ``{% load i18n %}`` is caught here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from html import unescape
from io import StringIO
from pathlib import Path

import polib
import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.template import Context, Template
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation.reloader import translation_file_changed
from lxml import html as lxml_html

from collecting.models import (
    DunningPolicy,
    DunningStep,
    Notice,
    PaymentPlan,
    WorklistEntry,
)
from collecting.services.commitments import payment_plan_create
from invoicing.models import CreditNote, Invoice
from invoicing.services.invoices import LineInput, credit_note_create, invoice_create
from o2c.models import FxRate, Job, Membership, Organization, Role
from o2c.tenancy import tenant_context
from orders.models import Contact, Customer, Fulfillment, PaymentTerm, SalesOrder
from reconciliation.models import Allocation, Payment, StatementLine
from tests.factories import SYSTEM, member

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"

# Pages translated on other branches (collections, cash, reports): their routes'
# names start with these. Empty this list once those branches are merged, so that
# the walk covers every page of the app.
PENDING_PREFIXES: list[str] = []
# Words the demo company stores as data, shown as written: a dunning step named
# "Credit hold", a template's "Kind regards", notes of collectors' activities,
# payment references that read "Payment".
STORED_DATA = {
    "Credit hold",
    "Kind regards",
    "do not contact",
    "open invoices",
    "Payment",
}

# Routes that are not pages: machines read them, or they only take a POST.
NOT_PAGES = {
    "healthz",
    "logout",
    "switch_organization",
    "organization-logo",  # an image
    "report-export-download",  # a file
    "collecting:dispute_attachment",  # a file (tests/portal/test_staff.py)
    "customer-portal-revoke",  # POST only
}
# The customer portal speaks the customer's language, not the organization's, and
# shows nothing without a customer's link: tests/portal walks it in German.
SKIPPED_PATH_PREFIXES = ("api/", "hooks/", "static/", "media/", "portal/")

NOW = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
VISIBLE_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt", "hx-confirm")
# Punctuation around a label ("« First", "— who to call first.").
EDGE = " \t\n.,:;()—\u2013-·«»\u2039\u203a+!?“”\"'"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogue():
    """The .mo files are build output (``make messages``): compile them when the
    .po is newer, and make Django read them again."""
    for po_path in CATALOGUE.parent.parent.parent.glob("*/LC_MESSAGES/django.po"):
        mo_path = po_path.with_suffix(".mo")
        if not mo_path.exists() or mo_path.stat().st_mtime < po_path.stat().st_mtime:
            polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
        translation_file_changed(sender=None, file_path=mo_path)


# --- the catalogue ------------------------------------------------------------------


def test_the_german_catalogue_is_complete():
    catalogue = polib.pofile(str(CATALOGUE))

    untranslated = [entry.msgid for entry in catalogue.untranslated_entries()]
    fuzzy = [entry.msgid for entry in catalogue.fuzzy_entries()]

    assert catalogue.metadata["Language"] == "de"
    assert untranslated == []
    assert fuzzy == []
    assert len(catalogue.translated_entries()) > 500


def test_placeholders_survive_translation():
    catalogue = polib.pofile(str(CATALOGUE))
    placeholder = re.compile(r"%\(\w+\)s")
    broken = []
    for entry in catalogue.translated_entries():
        expected = sorted(placeholder.findall(entry.msgid))
        translations = (
            list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        )
        for text in translations:
            if sorted(placeholder.findall(text)) != expected:
                broken.append(entry.msgid)
    assert broken == []


def test_a_french_catalogue_is_ready_to_fill():
    french = CATALOGUE.parent.parent.parent / "fr" / "LC_MESSAGES" / "django.po"
    catalogue = polib.pofile(str(french))

    assert catalogue.metadata["Language"] == "fr"
    assert {entry.msgid for entry in catalogue} == {
        entry.msgid for entry in polib.pofile(str(CATALOGUE))
    }


class EnglishLabels:
    """The English source strings of the German catalogue (and the longer literal
    parts of those with placeholders) that German does not use as well.

    A phrase of several words is looked for anywhere in a piece of text; a single
    word only as a whole piece (a heading, a button, a column), so that data such
    as "Frankfurt am Main" or an item called "First aid kit" is not taken for an
    untranslated "Main" or "« First"."""

    def __init__(self):
        catalogue = polib.pofile(str(CATALOGUE))
        german = unescape(
            " ".join(
                " ".join(entry.msgstr_plural.values())
                if entry.msgid_plural
                else entry.msgstr
                for entry in catalogue.translated_entries()
            )
        )
        phrases, words = set(), set()
        for entry in catalogue:  # translated or not: neither may show in English
            for source in (entry.msgid, entry.msgid_plural):
                for text, whole in self._parts(source):
                    if len(text) <= 3 or not re.search(r"[A-Za-z]", text):
                        continue
                    if re.search(rf"(?<!\w){re.escape(text)}(?!\w)", german):
                        continue  # German too: "Status", "Name", "Import"
                    if " " in text:
                        phrases.add(text)
                    elif whole:
                        words.add(text)
        self.words = words
        self.phrases = re.compile(
            "(?<![\\w-])("
            + "|".join(map(re.escape, sorted(phrases, key=len, reverse=True)))
            + ")(?![\\w-])"
        )

    @staticmethod
    def _parts(source):
        if not source:
            return
        parts = re.split(r"%\(\w+\)s", unescape(source).replace("%%", "%"))
        for part in parts:
            yield " ".join(part.split()).strip(EDGE), len(parts) == 1

    def findall(self, pieces: list[str]) -> list[str]:
        found = []
        for piece in pieces:
            if piece.strip(EDGE) in self.words:
                found.append(piece.strip(EDGE))
            found += self.phrases.findall(piece)
        return found


def visible_text(content: bytes) -> list[str]:
    """The pieces of text a person reads: text nodes, titles, placeholders, ARIA
    labels, confirmations and button values, whitespace collapsed."""
    if not content.strip():
        return []
    document = lxml_html.fromstring(content.decode())
    # Not labels: what a customer receives (an email preview speaks the
    # customer's language) and the texts an editor holds (the organization's own).
    hidden_paths = "//script|//style|//template|//textarea"
    hidden_paths += "|//*[@id='preview-subject']|//*[@id='preview-body']"
    # The audit log quotes what was recorded (actors, reasons) as it was stored.
    hidden_paths += "|//*[@id='audit-table']//tbody"
    for hidden in document.xpath(hidden_paths):
        hidden.drop_tree()
    pieces = list(document.itertext())
    for name in VISIBLE_ATTRIBUTES:
        pieces += document.xpath(f"//@{name}")
    pieces += document.xpath(
        "//input[@type='submit' or @type='button' or @type='reset']/@value"
    )
    return [" ".join(piece.split()) for piece in pieces if piece.strip()]


# --- the company the walk reads -----------------------------------------------------


@pytest.fixture
def company():
    """The demo company (customers, orders, invoices, payments, dunning, bank lines)
    made small, in German, with one of each kind of job and an FX rate."""
    call_command("seed_demo", "--customers", "8", "--months", "3", stdout=StringIO())
    organization = Organization.objects.get(slug="demo")
    organization.locale = "de"
    organization.save(update_fields=["locale"])
    with tenant_context(organization):
        admin = Membership.objects.filter(
            organization=organization, role=Role.ADMIN
        ).first()
        customer = (
            Customer.objects.filter(invoices__status=Invoice.Status.OPEN)
            .distinct()
            .order_by("pk")
            .first()
        )
        credit_note_create(
            invoice=customer.invoices.filter(status=Invoice.Status.OPEN).first(),
            credit_date=NOW.date(),
            reason="Bruch beim Transport",
            lines=[LineInput(description="Glas", quantity=1, unit_price=5)],
            actor=SYSTEM,
        )
        invoice_create(
            customer=customer,
            invoice_date=NOW.date(),
            lines=[LineInput(description="Kisten", quantity=2, unit_price=12)],
            actor=SYSTEM,
        )
        planned = Invoice.objects.filter(
            status=Invoice.Status.OPEN, payment_plans__isnull=True
        ).first()
        payment_plan_create(
            customer=planned.customer, invoices=[planned], count=2, actor=SYSTEM
        )
        FxRate.objects.get_or_create(
            organization=organization,
            currency="USD",
            date=NOW.date(),
            defaults={"rate": "0.9200"},
        )
        for kind in ("import_invoices", "import_bank_statement", "export_aging"):
            Job.objects.create(
                organization=organization,
                kind=kind,
                status=Job.Status.SUCCEEDED,
                input_name=f"{kind}.csv",
                created_by=admin.user,
                finished_at=NOW,
            )
    invited = member(organization, Role.COLLECTOR)
    return {"organization": organization, "admin": admin, "invited": invited}


def first(queryset):
    row = queryset.order_by("pk").first()
    if row is None:
        pytest.fail(f"The seeded company has no {queryset.model.__name__}.")
    return row


def route_arguments(name: str, company: dict) -> dict:
    """Ids for the route ``name``, from the seeded company."""
    open_invoice = first(Invoice.objects.filter(status=Invoice.Status.OPEN))
    customer = open_invoice.customer
    order = first(SalesOrder.objects.exclude(status=SalesOrder.Status.DRAFT))
    by_name = {
        "set-password": lambda: {
            "uidb64": urlsafe_base64_encode(force_bytes(company["invited"].pk)),
            "token": default_token_generator.make_token(company["invited"]),
        },
        "fx-rate-edit": lambda: {"pk": first(FxRate.objects).pk},
        "payment-term-edit": lambda: {"pk": first(PaymentTerm.objects).pk},
        "customer-contact-edit": lambda: {
            "pk": first(Contact.objects).customer_id,
            "contact_pk": first(Contact.objects).pk,
        },
        "customer-contact-remove": lambda: {
            "pk": first(Contact.objects).customer_id,
            "contact_pk": first(Contact.objects).pk,
        },
        "invoice-edit": lambda: {
            "pk": first(Invoice.objects.filter(status=Invoice.Status.DRAFT)).pk
        },
        "credit-note-pdf": lambda: {"pk": first(CreditNote.objects).pk},
        "imports:detail": lambda: {
            "pk": first(Job.objects.filter(kind__startswith="import_i")).pk
        },
        "imports:status": lambda: {
            "pk": first(Job.objects.filter(kind__startswith="import_i")).pk
        },
        "imports:template": lambda: {"kind": "invoices"},
        "bank-statement-job": lambda: {
            "pk": first(Job.objects.filter(kind="import_bank_statement")).pk
        },
        "report-export-job": lambda: {
            "pk": first(Job.objects.filter(kind__startswith="export_")).pk
        },
        "report-export-download": lambda: {
            "pk": first(Job.objects.filter(kind__startswith="export_")).pk
        },
        "shipment-deliver": lambda: {"pk": first(Fulfillment.objects).pk},
        "payment": lambda: {"pk": first(Payment.objects).pk},
        "payment-reverse": lambda: {"pk": first(Payment.objects).pk},
        "allocation-reverse": lambda: {"pk": first(Allocation.objects).pk},
        "bank-line-invoices": lambda: {"pk": first(StatementLine.objects).pk},
        "bank-line-action": lambda: {
            "pk": first(StatementLine.objects).pk,
            "action": "ignore",
        },
        "collecting:account_panel": lambda: {"pk": first(WorklistEntry.objects).pk},
        "collecting:account_action": lambda: {
            "pk": first(WorklistEntry.objects).pk,
            "action": "call",
        },
        "collecting:notice_check": lambda: {"pk": first(Notice.objects).pk},
        "collecting:policy": lambda: {"pk": first(DunningPolicy.objects).pk},
        "collecting:step_new": lambda: {"policy_pk": first(DunningPolicy.objects).pk},
        "collecting:step": lambda: {"pk": first(DunningStep.objects).pk},
        "collecting:step_preview": lambda: {"pk": first(DunningStep.objects).pk},
        "collecting:timeline": lambda: {"pk": customer.pk},
        "collecting:texts": lambda: {
            "kind": "steps",
            "pk": first(DunningStep.objects).pk,
        },
        "collecting:texts_preview": lambda: {
            "kind": "steps",
            "pk": first(DunningStep.objects).pk,
        },
        "collecting:plan_new": lambda: {"pk": customer.pk},
        "collecting:plan": lambda: {"pk": first(PaymentPlan.objects).pk},
        "collecting:plan_cancel": lambda: {"pk": first(PaymentPlan.objects).pk},
        "member-role": lambda: {"pk": company["admin"].pk},
        "member-remove": lambda: {"pk": company["admin"].pk},
        "member-resend": lambda: {"pk": company["admin"].pk},
        "member-unlock": lambda: {"pk": company["admin"].pk},
        "api-key-revoke": lambda: {"prefix": "none"},
        "fx-rate-delete": lambda: {"pk": first(FxRate.objects).pk},
    }
    if name in by_name:
        return by_name[name]()
    if name.startswith("customer"):
        return {"pk": customer.pk}
    if name.startswith(("invoice", "issue-invoice", "void-invoice")):
        return {"pk": open_invoice.pk}
    if "order" in name:
        return {"pk": order.pk}
    pytest.fail(f"No ids for the route {name!r}: add it to route_arguments().")


def named_routes(patterns=None, prefix="", namespace=""):
    """(name, route, parameter names) of every named route."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}{pattern.namespace}:"
            yield from named_routes(
                pattern.url_patterns, prefix + str(pattern.pattern), inner
            )
        elif isinstance(pattern, URLPattern) and pattern.name:
            route = prefix + str(pattern.pattern)
            yield f"{namespace}{pattern.name}", route, pattern.pattern.converters


def pages(company) -> list[tuple[str, str]]:
    """(route name, URL) of every page to walk."""
    found = []
    for name, route, converters in named_routes():
        if name in NOT_PAGES or route.startswith(SKIPPED_PATH_PREFIXES):
            continue
        if any(name.startswith(prefix) for prefix in PENDING_PREFIXES):
            continue
        with tenant_context(company["organization"]):
            kwargs = route_arguments(name, company) if converters else {}
        found.append((name, reverse(name, kwargs=kwargs)))
    return found


def test_every_page_speaks_german_to_a_german_organization(company):
    english = EnglishLabels()
    client = Client()
    client.force_login(company["admin"].user)
    walked, left_in_english, broken = [], {}, {}

    for name, url in pages(company):
        # The invitation's link moves its token into the session, then shows the form.
        response = client.get(url, follow=name == "set-password")
        if response.status_code in (301, 302, 405):
            continue  # a redirect to another page, or an action taking a POST
        if response.status_code != 200:
            broken[name] = f"{url} answered {response.status_code}"
            continue
        if not response["Content-Type"].startswith("text/html"):
            continue  # PDF, CSV
        if not response.content.strip():
            continue  # a panel with nothing to show
        walked.append(name)
        found = set(english.findall(visible_text(response.content))) - STORED_DATA
        english_words = sorted(found)
        if english_words:
            left_in_english[f"{name} {url}"] = english_words

    assert broken == {}
    assert left_in_english == {}
    # The walk did reach the pages: settings, customers, orders, invoices, imports.
    assert {
        "organization-settings", "members", "api-keys", "fx-rates", "fx-rate-edit",
        "customer", "customer-new", "customer-edit", "orders", "order", "order-new",
        "order-ship", "invoices", "invoice", "invoice-new", "invoice-edit",
        "invoice-credit-note-new", "order-invoice-new", "imports:list",
        "imports:detail", "login", "set-password",
    } <= set(walked)  # fmt: skip


def test_the_walk_catches_a_label_left_in_english(company):
    english = EnglishLabels()
    client = Client()
    client.force_login(company["admin"].user)
    page = client.get(reverse("invoices"))

    pieces = visible_text(page.content)

    assert "Rechnungen" in pieces and "Fälligkeitsdatum" in pieces
    assert english.findall(pieces) == []
    assert english.findall([*pieces, "Due date", "Ledger", "Save draft invoice."]) == [
        "Due date",
        "Ledger",
        "Save draft invoice",
    ]
    assert english.findall(["Frankfurt am Main", "First aid kit"]) == []


def test_the_page_names_its_language(company):
    client = Client()
    client.force_login(company["admin"].user)

    page = client.get(reverse("invoices"))

    assert b'<html lang="de">' in page.content
    assert page["Content-Language"] == "de"


# --- other languages ----------------------------------------------------------------


@pytest.fixture
def english_books(org):
    with tenant_context(org):
        from tests.factories import CustomerFactory, issued_invoice

        customer = CustomerFactory(name="Hanse Glas AG")
        invoice = issued_invoice(customer, "250.00")
    client = Client()
    client.force_login(member(org, Role.FINANCE))
    return client, invoice


def test_an_english_organization_reads_english(english_books):
    client, invoice = english_books

    page = visible_text(client.get(reverse("invoice", args=[invoice.pk])).content)
    listing = client.get(reverse("invoices"))

    assert "Due date" in page and "Ledger" in page and "Credit notes" in page
    assert "Hauptbuch" not in page and "Fälligkeitsdatum" not in page
    assert b'<html lang="en">' in listing.content
    assert "New invoice" in visible_text(listing.content)


@pytest.mark.parametrize(
    ("locale", "language"),
    [("de", "de"), ("de-CH", "de"), ("de_AT", "de"), ("en-GB", "en"), ("fr", "fr"),
     ("ja", "en"), ("", "en")],
)  # fmt: skip
def test_the_interface_language_is_the_base_language_of_the_locale(
    english_books, org, locale, language
):
    client, _ = english_books
    org.locale = locale
    org.save(update_fields=["locale"])

    page = client.get(reverse("invoices"))

    assert page["Content-Language"] == language
    assert f'<html lang="{language}">'.encode() in page.content


def test_the_sign_in_page_follows_the_browser(db):
    german = Client(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    anyone = Client()

    in_german = " ".join(visible_text(german.get(reverse("login")).content))
    in_english = " ".join(visible_text(anyone.get(reverse("login")).content))

    assert "Anmelden" in in_german and "Passwort" in in_german
    assert "Sign in" in in_english and "Password" in in_english
    assert "Accept-Language" in german.get(reverse("login"))["Vary"]


def test_api_errors_stay_english_for_a_german_organization(org, api):
    org.locale = "de"
    org.save(update_fields=["locale"])

    answer = api.post("/api/v1/customers/", {"name": ""}, format="json")

    assert answer.status_code == 400
    assert answer["Content-Language"] == "en"
    message = answer.json()["error"]["message"]
    assert "Dieses Feld" not in message
    assert "field" in message.lower() or "name" in message.lower()


def test_raw_numbers_stay_machine_readable_in_german():
    """Inputs, data attributes and charts read ``{{ amount }}``: German words, but
    not a decimal comma (people see amounts through the money filter)."""
    template = Template("{{ amount }} {{ count }}")
    context = Context({"amount": Decimal("1234.50"), "count": 12000})

    with translation.override("de"):
        assert template.render(context) == "1234.50 12000"
        assert translation.gettext("Due date") == "Fälligkeitsdatum"


def test_a_refused_form_explains_in_german_and_the_api_in_english(org, api):
    """The same rule refuses the same input: the page says it in German, next to
    the field, and saves nothing; the API says it in English to the integration."""
    org.locale = "de"
    org.save(update_fields=["locale"])
    with tenant_context(org):
        from tests.factories import CustomerFactory

        customer = CustomerFactory(name="Hanse Glas AG")
    client = Client()
    client.force_login(member(org, Role.FINANCE))

    page = client.post(
        reverse("order-new"),
        {
            "customer": customer.pk,
            "order_date": "2026-03-02",
            "currency": "",
            "customer_reference": "PO-77",
            "notes": "",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-description": "Vase",
            "lines-0-quantity": "-2",
            "lines-0-unit_price": "10",
        },
    )
    answer = api.post(
        "/api/v1/orders/",
        {
            "customer": customer.pk,
            "order_date": "2026-03-02",
            "lines": [{"description": "Vase", "quantity": "-2", "unit_price": "10"}],
        },
        format="json",
    )

    text = " ".join(visible_text(page.content))
    assert page.status_code == 422
    assert "Es wurde nichts gespeichert." in text
    assert "Die Menge muss größer als null sein." in text
    assert 'value="PO-77"' in page.content.decode()
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].endswith(
        "Quantity must be greater than zero."
    )
    with tenant_context(org):
        assert not SalesOrder.objects.exists()
