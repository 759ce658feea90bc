"""Collections, cash and report pages of an organization whose locale is German.

Every page is read as a person reads it: the German headings are there, and no
text on the page (nor a title, placeholder or label of a control) is still one
of the English sentences the German catalogue translates. The matching engine's
reasons are stored in English and translated when shown; the API keeps them in
English.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import translation

from collecting.models import DunningPolicy, PromiseToPay, WorklistEntry
from collecting.selectors import open_invoices_of
from demo.services import seed_demo
from invoicing.models import Invoice
from o2c.models import Job, Role
from o2c.tenancy import tenant_context
from orders.models import Customer
from reconciliation.models import Payment, StatementLine
from reports import services as report_services
from tests.conftest import api_client_for
from tests.factories import member

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"

# Words that shared parts (the pager, invoice statuses) print with translations
# of their own catalogue; the same English words are also in this one.
SHARED_PARTS = {"Next", "Previous", "Pages", "Open", "Paid", "Void", "Draft"}


@pytest.fixture(scope="module")
def german_company(django_db_setup, django_db_blocker):
    """The demo company (dunning policy, runs, a matched bank statement) with its
    locale set to German; seeded once for the module and rolled back after."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            organization = seed_demo(
                slug="german-pages", customers=25, months=6, seed=11
            ).organization
            organization.locale = "de"
            organization.save(update_fields=["locale"])
            yield organization
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def german(german_company, db):
    """The pages in German: the organization's locale says so, and the test
    process renders under that language (the test client renders in-process)."""
    with translation.override("de"), tenant_context(german_company):
        yield german_company


@pytest.fixture
def browser(german):
    client = Client()
    client.force_login(member(german, Role.ADMIN))
    return client


class _Reader(HTMLParser):
    """Text nodes and the words of titles, placeholders and labels inside <main>."""

    WORDED = {"title", "placeholder", "aria-label"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0  # inside <main> when > 0
        self.skip = 0  # inside <script> or <style>
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.depth += 1
        if tag in ("script", "style"):
            self.skip += 1
        if self.depth:
            self.texts += [value for name, value in attrs if name in self.WORDED]

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth -= 1
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.texts.append(data)


def _texts(html: str) -> list[str]:
    """What <main> says, piece by piece (the shell around it has its own test)."""
    reader = _Reader()
    reader.feed(html)
    return [" ".join(text.split()) for text in reader.texts if text.strip()]


@pytest.fixture(scope="module")
def english_sentences() -> set[str]:
    """The catalogue's English texts whose German differs, without placeholders
    or markup (those never stand alone on a page)."""
    compiled = CATALOGUE.with_suffix(".mo")
    if not compiled.exists() or compiled.stat().st_mtime < CATALOGUE.stat().st_mtime:
        # The build compiles the catalogues; a test run straight from a checkout
        # compiles them here.
        call_command("compilemessages", locale=["de"], verbosity=0)
        translation.trans_real._translations.clear()
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    sentences = set()
    for message in catalogue:
        if not message.id or isinstance(message.id, tuple):
            continue
        translated = message.string and message.string != message.id
        if translated and not re.search(r"%[(%]|<", message.id):
            sentences.add(message.id.replace("%%", "%"))
    assert len(sentences) > 400  # the catalogue is the German one, filled in
    return sentences


def _page(browser, url: str, english_sentences, *, shared=()) -> tuple[str, str]:
    """The page's HTML and what it says; ``shared`` are words printed by a part
    another catalogue translates (the customer picker, the statement's summary)."""
    response = browser.get(url)
    assert response.status_code == 200, url
    html = response.content.decode()
    texts = _texts(html if "<main" in html else f"<main>{html}</main>")
    left = sorted((set(texts) & english_sentences) - SHARED_PARTS - set(shared))
    assert not left, f"{url} still shows English: {left}"
    return html, " ".join(texts)


def _check(text: str, german: list[str], english: list[str]) -> None:
    for words in german:
        assert words in text, words
    for words in english:
        assert words not in text, words


def test_my_day_in_german(german, browser, english_sentences):
    entry = WorklistEntry.objects.filter(needs_action=True).first()
    _, panel = _page(
        browser, f"/collections/my-day/{entry.pk}/panel/", english_sentences
    )
    _check(
        panel,
        ["Anruf erfassen", "Zahlungsversprechen", "Reklamation eröffnen", "Ergebnis"],
        ["Log a call", "Open a dispute", "Put on hold"],
    )
    _, text = _page(browser, "/collections/my-day/?collector=all", english_sentences)
    _check(
        text,
        ["Mein Tag", "Konten nach Punktzahl", "Warum es hier steht", "Punktzahl"],
        ["My day", "Accounts by score", "Why it is here", "Next action"],
    )
    # The score of each row is explained in parts, in German words.
    assert re.search(r"(überfälliger Betrag|Tage überfällig) \+\d", text)
    assert "amount overdue +" not in text and "days overdue +" not in text


def test_dunning_runs_and_policies_in_german(german, browser, english_sentences):
    _, runs = _page(browser, "/collections/runs/", english_sentences)
    _check(
        runs,
        ["Mahnläufe", "Läufe", "Vorschau des heutigen Laufs", "Mahnlauf jetzt starten"],
        ["Dunning runs", "Run dunning now", "Catch-up"],
    )
    # The standard policy's step names are data (shown as the chips' titles).
    step_names = set(DunningPolicy.objects.values_list("steps__name", flat=True))
    _, policies = _page(
        browser, "/collections/policies/", english_sentences, shared=step_names
    )
    _check(
        policies,
        ["Mahnrichtlinien", "E-Mail-Vorlagen für Forderungsmanager", "Standard"],
        ["Dunning policies", "Collector email templates", "Add a template"],
    )
    policy = DunningPolicy.objects.get(is_default=True)
    _, detail = _page(
        browser,
        f"/collections/policies/{policy.pk}/",
        english_sentences,
        shared=step_names,
    )
    _check(
        detail,
        ["Mahnstufen", "Tage ab Fälligkeit", "Kanal", "Gebühr"],
        ["Days from due", "Minimum total", "Steps"],
    )
    step = policy.steps.order_by("offset_days").first()
    _page(browser, f"/collections/steps/{step.pk}/", english_sentences)
    preview = browser.get("/collections/runs/preview/").content.decode()
    assert "Was ein Lauf jetzt schreiben würde" in preview


def test_bank_queue_shows_the_engines_reasons_in_german(
    german, browser, english_sentences
):
    _, text = _page(browser, "/bank/queue/", english_sentences)
    _check(
        text,
        ["Bankposten", "Warten auf eine Person", "Automatisch zugeordnet"],
        ["Bank queue", "Waiting for a person", "Applied automatically"],
    )
    matched = StatementLine.objects.filter(
        status=StatementLine.Status.MATCHED_AUTO
    ).exclude(match_reason="")
    assert matched.exists()
    # A reason as stored (English) and as the page shows it (German).
    line = matched.first()
    assert line.match_reason_display != line.match_reason
    assert line.match_reason_display in text
    for english in ("amount equals the open amount", "names ", "payer name matches"):
        assert not any(english in part for part in line.match_reason_display.split())
    assert re.search(
        r"(Zahlungsreferenz|Rechnungsnummer im Text|eine Nummer im Text) nennt", text
    ) or ("Betrag entspricht dem offenen Betrag" in text)


def test_the_api_keeps_the_reasons_in_english(german):
    api = api_client_for(german)
    lines = api.get("/api/v1/statement-lines/?status=matched_auto").json()
    reasons = [line["match_reason"] for line in lines["results"]]
    assert reasons and all(reason for reason in reasons)
    assert any(
        "amount equals the open amount" in reason or " names " in reason
        for reason in reasons
    )
    assert not any("Betrag entspricht" in reason for reason in reasons)


def test_bank_statements_and_accounts_in_german(browser, english_sentences):
    _, statements = _page(browser, "/bank/statements/", english_sentences)
    _check(
        statements,
        ["Kontoauszüge", "Kontoauszug hochladen", "Letzte Importe und Zuordnungsläufe"],
        ["Upload a statement", "Recent imports and matching runs"],
    )
    _, accounts = _page(browser, "/bank/accounts/", english_sentences)
    _check(
        accounts,
        ["Bankkonten", "IBAN / Konto", "Auf Rechnungen drucken"],
        ["Bank accounts", "Print on invoices", "On invoices"],
    )


def test_aging_in_german_with_its_buckets(browser, english_sentences):
    _, text = _page(browser, "/reports/aging/", english_sentences)
    _check(
        text,
        [
            "Altersstruktur",
            "Nicht fällig",
            "1\N{EN DASH}30",
            "Summen",
            "Stichtag",
            "Nach Kunde",
        ],
        ["Totals per currency", "Largest overdue", "Export this aging:"],
    )
    _, by_collector = _page(
        browser, "/reports/aging/?group_by=collector", english_sentences
    )
    assert "Nach Forderungsmanager" in by_collector
    _, drill = _page(browser, "/reports/aging/invoices/?bucket=1", english_sentences)
    _check(drill, ["Altersband", "Tage über Fälligkeit"], ["Days past due"])
    _page(browser, "/reports/settings/buckets/", english_sentences)


def test_metrics_and_dashboard_in_german(browser, english_sentences):
    _, metrics = _page(browser, "/reports/metrics/", english_sentences)
    _check(
        metrics,
        [
            "Forderungskennzahlen",
            "Wie jede Kennzahl berechnet wird",
            "Days Sales Outstanding",
            "Umsatz auf Ziel",
            "DSO Countback",
            "CEI",
        ],
        ["How each figure is made", "Receivables metrics", "Credit sales"],
    )
    _, segments = _page(browser, "/reports/metrics/?scope=segment", english_sentences)
    assert "Alle Segmente," in segments
    html, board = _page(browser, "/", english_sentences)
    _check(
        board,
        [
            "Forderungen gesamt",
            "DSO-Verlauf",
            "Kunden mit den höchsten Überfälligkeiten",
        ],
        ["Total receivables", "Top overdue customers", "DSO trend"],
    )
    # Chart labels are German too (they travel as JSON next to the canvas).
    assert "Nicht fällig" in html or "Offen (EUR)" in html
    _, forecast = _page(browser, "/dashboard/forecast/", english_sentences)
    assert "Erwartete Zahlungseingänge" in forecast
    _page(browser, "/dashboard/collections/", english_sentences)


def test_customer_history_statement_and_timeline_in_german(
    german, browser, english_sentences
):
    customer = Customer.objects.filter(invoices__isnull=False).first()
    _, history = _page(browser, f"/customers/{customer.pk}/history/", english_sentences)
    _check(
        history,
        ["Zahlungshistorie", "Pünktlich bezahlt", "Zahlungsdauer je Quartal"],
        ["Paid on time", "Average days to pay", "Days to pay by quarter"],
    )
    _, statement = _page(
        browser,
        f"/customers/{customer.pk}/statement/",
        english_sentences,
        # The summary's categories are the statement document's words.
        shared={"Credit notes", "Payments", "Write-offs", "Invoices and fees"},
    )
    _check(
        statement,
        ["Kontoauszug", "Anfangssaldo", "Schlusssaldo", "Buchungen"],
        ["Statement of account", "Opening balance", "Transactions"],
    )
    _, timeline = _page(
        browser,
        f"/collections/customers/{customer.pk}/timeline/",
        english_sentences,
        # The ledger's kinds of entry are named by the invoicing catalogue.
        shared={"Invoice", "Credit note", "Payment", "Fee", "Write-off"},
    )
    assert "Verlauf des Mahnwesens" in timeline


def test_cash_pages_in_german(german, browser, english_sentences):
    _, customers = _page(browser, "/customers/", english_sentences)
    _check(customers, ["Kunden", "Zahlungsziel"], ["No customer matches"])
    _, payments = _page(browser, "/payments/", english_sentences)
    _check(payments, ["Zahlungen", "Zahlungsart"], ["Record a payment"])
    payment = Payment.objects.filter(status=Payment.Status.RECEIVED).first()
    _, detail = _page(browser, f"/payments/{payment.pk}/", english_sentences)
    _check(
        detail,
        ["Eingegangener Betrag", "Zuordnungen", "Diese Zahlung stornieren"],
        ["Amount received", "Allocations", "Reverse this payment"],
    )
    _, new = _page(
        browser,
        "/payments/new/",
        english_sentences,
        shared={"Customer", "Name or customer number"},  # the customer picker
    )
    assert "Zahlung erfassen" in new
    _, search = _page(browser, f"/search/?q={payment.number}", english_sentences)
    assert "Zahlungen" in search
    customer = payment.customer
    _, panel = _page(browser, f"/customers/{customer.pk}/payments/", english_sentences)
    assert "Zahlungen" in panel
    _page(browser, f"/customers/{customer.pk}/apply-cash/", english_sentences)
    invoice = Invoice.objects.filter(
        status=Invoice.Status.OPEN, open_amount__gt=0
    ).first()
    _, write_off = _page(
        browser, f"/invoices/{invoice.pk}/write-off/", english_sentences
    )
    assert "Ausbuchungsgrenze" in write_off or "keine Ausbuchungsgrenze" in write_off
    _, settled = _page(
        browser, f"/invoices/{invoice.pk}/settlements/", english_sentences
    )
    assert "Zugeordnete Zahlungen" in settled


def test_export_job_page_in_german(
    german, browser, english_sentences, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(report_services, "DIRECT_EXPORT_ROWS", 5)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/reports/exports/", {"kind": "aging_invoices", "format": "csv"}
        )
    assert response.status_code == 302
    job = Job.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))
    assert job.status == Job.Status.SUCCEEDED
    _, text = _page(browser, response.url, english_sentences)
    _check(
        text,
        ["Export", "Rechnungen hinter der Altersstruktur", "Zeilen geschrieben"],
        ["rows written", "Download "],
    )
    # The file itself is data for other tools: its headings stay English.
    download = browser.get(f"/reports/exports/{job.pk}/download/")
    head = b"".join(download.streaming_content).decode().splitlines()[0]
    assert "Customer" in head and "Kunde" not in head


def test_a_refused_promise_says_why_in_german_and_writes_nothing(german, browser):
    entry = WorklistEntry.objects.filter(needs_action=True).first()
    invoice = open_invoices_of(entry.customer).filter(currency=entry.currency).first()
    promises = PromiseToPay.objects.count()
    yesterday = german.today() - timedelta(days=1)
    response = browser.post(
        f"/collections/my-day/{entry.pk}/promise/",
        {"amount": "10.00", "promised_date": yesterday.isoformat(),
         "invoices": [invoice.pk]},
    )  # fmt: skip
    assert response.status_code == 422
    text = " ".join(_texts(f"<main>{response.content.decode()}</main>"))
    assert "Das zugesagte Datum liegt in der Vergangenheit." in text
    assert "The promise date is in the past." not in text
    assert PromiseToPay.objects.count() == promises
    # What was typed stays in the form.
    assert 'value="10.00"' in response.content.decode()
