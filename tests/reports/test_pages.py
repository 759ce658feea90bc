"""The report pages on the demo company: they render, their figures are the
selectors', and every link leads to a list that adds up to the figure."""

import io
import re
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from django.core import mail
from django.test import Client

from o2c.models import Job, Role
from orders.models import Contact, Customer
from reports import services
from reports.models import AgingBucketSet, StatementDelivery
from reports.selectors.aging import aging_invoices, aging_report, make_buckets
from reports.selectors.common import exact
from tests.factories import OrganizationFactory, member


@pytest.fixture
def client_for(demo):
    def make(role=Role.FINANCE):
        client = Client()
        client.force_login(member(demo, role))
        return client

    return make


@pytest.fixture
def browser(client_for):
    return client_for()


def test_dashboard_shows_todays_totals_and_the_metrics(demo, browser):
    response = browser.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    board = response.context["board"]
    (total,) = board.aging.totals  # in EUR, the base currency
    assert total.currency == "EUR"
    assert f'data-value="{total.total}"' in html
    shown = [
        Decimal(v) for v in re.findall(r'data-bucket="\d+" data-value="([^"]+)"', html)
    ]
    assert sum(shown) == total.total
    assert board.metrics_state == "fresh"  # rebuilt on the way in (eager Celery)
    assert board.metrics[0].latest.dso_countback is not None
    for chart in ("chart-aging", "chart-dso"):
        assert f'id="{chart}"' in html
    assert "reports/charts.js" in html and "vendor/chart.umd.js" in html
    forecast = browser.get("/dashboard/forecast/")
    assert b'id="chart-forecast"' in forecast.content
    forecasts = forecast.context["forecasts"]
    assert sum(f.total for f in forecasts) == pytest.approx(total.total, abs=1)
    assert browser.get("/dashboard/collections/").status_code == 200


def test_dashboard_overdue_links_to_invoices_that_add_up(demo, browser):
    board = browser.get("/").context["board"]
    response = browser.get("/reports/aging/invoices/?bucket=overdue")
    invoices = response.context["page"].paginator.object_list
    total = sum(i.open_as_of * _rate(demo, i.currency) for i in invoices)
    # Converted per invoice here, per currency and bucket on the dashboard.
    assert abs(total - board.aging.totals[0].overdue) < Decimal("0.05")


def _rate(organization, currency):
    from reports.selectors.common import FxRates

    return FxRates().quote(currency, organization.today()).rate


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?group_by=collector",
        "?group_by=segment&in_base=on",
        "?group_by=currency",
        "?buckets=15,30,60,90,180&sort=overdue",
        "?sort=name&page=2",
        "?collector=none",
    ],
)
def test_aging_page_renders(demo, browser, query):
    response = browser.get(f"/reports/aging/{query}")
    assert response.status_code == 200
    report = response.context["report"]
    assert report.totals


def test_aging_page_without_rows_says_so(demo, browser):
    response = browser.get("/reports/aging/?segment=(none)")
    assert response.status_code == 200
    assert b"Nothing to age" in response.content


def test_aging_page_as_of_a_past_date_and_a_bad_one(demo, browser):
    past = demo.today().replace(day=1).isoformat()
    response = browser.get(f"/reports/aging/?as_of={past}")
    assert response.context["report"].is_today is False
    assert b"from the ledger" in response.content
    response = browser.get("/reports/aging/?buckets=60,30")
    assert response.status_code == 400
    assert b"increasing" in response.content
    future = demo.today().replace(year=demo.today().year + 1).isoformat()
    assert browser.get(f"/reports/aging/?as_of={future}").status_code == 400


def test_every_bucket_cell_drills_down_to_its_invoices(demo, browser):
    response = browser.get("/reports/aging/")
    report = response.context["report"]
    line = next(
        line for line in report.lines if line.overdue and line.currency == "EUR"
    )
    for index, amount in enumerate(line.buckets):
        listed = browser.get(f"/reports/aging/invoices/?{line.drill}&bucket={index}")
        invoices = listed.context["page"].paginator.object_list
        assert sum((i.open_as_of for i in invoices), Decimal(0)) == amount


def test_drill_down_as_of_a_past_date_uses_that_days_open_amounts(demo, browser):
    as_of = demo.today().replace(day=1)
    report = aging_report(as_of=as_of, group_by="currency")
    eur = next(total for total in report.totals if total.currency == "EUR")
    listed = aging_invoices(as_of=as_of, filters=_eur())
    # SQLite sums decimals as floats: each invoice's amount is exact once rounded.
    assert sum((exact(i.open_as_of, "EUR") for i in listed), Decimal(0)) == eur.total
    response = browser.get(
        f"/reports/aging/invoices/?as_of={as_of}&currency=EUR&bucket=1"
    )
    assert response.status_code == 200


def _eur():
    from reports.selectors.aging import AgingFilters

    return AgingFilters(currency="EUR")


@pytest.mark.parametrize("week", ["past", "0", "3"])
def test_forecast_weeks_list_their_invoices(demo, browser, week):
    response = browser.get(f"/reports/forecast/invoices/?week={week}")
    assert response.status_code == 200


@pytest.mark.parametrize(
    "query",
    ["", "?scope=collector", "?scope=segment&currency_view=each", "?months=6"],
)
def test_metrics_page_renders_with_definitions(demo, browser, query):
    response = browser.get(f"/reports/metrics/{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Countback DSO: month-end receivables less each month" in html
    assert response.context["report"].series


def test_customer_history_and_statement(demo, browser):
    customer = Customer.objects.order_by("pk").first()
    response = browser.get(f"/customers/{customer.pk}/history/")
    assert response.status_code == 200
    assert response.context["overall"].paid_invoices >= 0
    response = browser.get(f"/customers/{customer.pk}/statement/")
    assert response.status_code == 200
    statement = response.context["statement"]
    assert statement.closing_balance == statement.opening_balance + sum(
        (line.amount for line in statement.lines), Decimal(0)
    )
    pdf = browser.get(f"/customers/{customer.pk}/statement/?format=pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_statement_email_goes_to_billing_contacts_once(
    demo, browser, django_capture_on_commit_callbacks
):
    customer = Customer.objects.order_by("pk").first()
    Contact.objects.create(
        organization=demo, customer=customer, name="AP", email="ap@example.com"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/customers/{customer.pk}/statement/", {})
    assert response.status_code == 302
    delivery = StatementDelivery.objects.get(customer=customer)
    assert delivery.status == StatementDelivery.Status.SENT
    assert len(mail.outbox) == 1
    assert "ap@example.com" in mail.outbox[0].to
    assert mail.outbox[0].to == delivery.recipients
    assert mail.outbox[0].attachments[0][2] == "application/pdf"
    assert services.statement_email_send(delivery_id=delivery.pk) is None
    assert len(mail.outbox) == 1


def test_viewers_cannot_email_statements(demo, client_for):
    customer = Customer.objects.order_by("pk").first()
    response = client_for(Role.VIEWER).post(f"/customers/{customer.pk}/statement/", {})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("kind", "fmt", "extra"),
    [
        ("aging", "csv", {}),
        ("aging", "xlsx", {"group_by": "collector"}),
        ("aging", "pdf", {}),
        ("aging_invoices", "csv", {"bucket": "4"}),
        ("invoices", "xlsx", {"status": "outstanding"}),
    ],
)
def test_small_exports_download_at_once(demo, browser, kind, fmt, extra):
    response = browser.post("/reports/exports/", {"kind": kind, "format": fmt, **extra})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    if fmt == "pdf":
        assert body.startswith(b"%PDF")
    elif fmt == "csv":
        frame = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")
        assert len(frame) > 0
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(body)).active
        assert sheet.max_row > 1


def test_aging_csv_export_adds_up_to_the_report(demo, browser):
    response = browser.post("/reports/exports/", {"kind": "aging", "format": "csv"})
    frame = pd.read_csv(
        io.BytesIO(b"".join(response.streaming_content)),
        encoding="utf-8-sig",
        dtype={"Customer number": str},
        converters={"Total open": Decimal, "Unapplied cash": Decimal},
    )
    report = aging_report(group_by="currency")
    for total in report.totals:
        rows = frame[frame["Currency"] == total.currency]
        assert sum(rows["Total open"], Decimal(0)) == total.total
        assert sum(rows["Unapplied cash"], Decimal(0)) == total.unapplied


def test_large_exports_run_as_jobs_with_a_download_link(
    demo, browser, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "DIRECT_EXPORT_ROWS", 10)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/reports/exports/", {"kind": "invoices", "format": "csv"}
        )
    assert response.status_code == 302
    job = Job.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))
    assert job.kind == "export_invoices"
    assert job.status == Job.Status.SUCCEEDED
    assert job.progress == job.total == job.result["rows"] > 10
    page = browser.get(response.url)
    assert b"export-download" in page.content
    download = browser.get(f"/reports/exports/{job.pk}/download/")
    frame = pd.read_csv(io.BytesIO(b"".join(download.streaming_content)))
    assert len(frame) == job.result["rows"]


def test_another_organizations_pages_are_not_found(demo, browser):
    other = OrganizationFactory()
    from o2c.tenancy import tenant_context
    from tests.factories import CustomerFactory

    with tenant_context(other):
        foreign = CustomerFactory()
        job = Job.objects.create(organization=other, kind="export_aging")
    assert browser.get(f"/customers/{foreign.pk}/history/").status_code == 404
    assert browser.get(f"/customers/{foreign.pk}/statement/").status_code == 404
    assert browser.get(f"/reports/exports/{job.pk}/").status_code == 404
    assert browser.get(f"/reports/exports/{job.pk}/download/").status_code == 404


def test_bucket_sets_are_saved_by_finance_and_become_the_default(
    demo, browser, client_for
):
    response = browser.post(
        "/reports/settings/buckets/",
        {"name": "Fine", "boundaries": "15,30,60", "is_default": "on"},
    )
    assert response.status_code == 302
    assert AgingBucketSet.objects.get(name="Fine").is_default
    report = browser.get("/reports/aging/").context["report"]
    assert [b.label for b in report.buckets] == [
        b.label for b in make_buckets([15, 30, 60])
    ]
    viewer = client_for(Role.VIEWER)
    denied = viewer.post("/reports/settings/buckets/", {"name": "X", "boundaries": "5"})
    assert denied.status_code == 403


def test_pages_of_a_company_without_invoices(db):
    organization = OrganizationFactory()
    client = Client()
    client.force_login(member(organization, Role.FINANCE))
    for path in ("/", "/reports/aging/?in_base=on", "/reports/metrics/"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert b"No open invoice" in client.get("/").content
    assert b"Nothing to age" in client.get("/reports/aging/").content


def test_export_buttons_of_a_past_aging_carry_its_date(demo, browser):
    as_of = demo.today().replace(day=1)
    page = browser.get(f"/reports/aging/?as_of={as_of}&group_by=segment&in_base=on")
    fields = {k: v for k, v in page.context["export_fields"].items() if v}
    assert fields["as_of"] == as_of.isoformat()
    response = browser.post(
        "/reports/exports/", {**fields, "kind": "aging", "format": "csv"}
    )
    assert response.status_code == 200
    assert as_of.isoformat() in response["Content-Disposition"]
    pdf = browser.post(
        "/reports/exports/", {**fields, "kind": "aging", "format": "pdf"}
    )
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")


def test_landing_page_is_the_dashboard_with_cash_collected(demo, browser):
    from reconciliation.models import Payment

    assert browser.get("/dashboard/?x=1")["Location"] == "/?x=1"
    response = browser.get("/")
    html = response.content.decode()
    today = demo.today()
    received = Payment.objects.filter(status=Payment.Status.RECEIVED)
    this_month = {}
    for payment in received:
        if payment.received_date.replace(day=1) == today.replace(day=1):
            this_month.setdefault(payment.currency, Decimal(0))
            this_month[payment.currency] += payment.amount
    shown = dict(
        re.findall(
            r'data-figure="cash-collected" data-currency="(\w+)" data-value="([^"]+)"',
            html,
        )
    )
    shown = {c: Decimal(v) for c, v in shown.items()}
    assert this_month  # the demo company has received cash this month
    # A currency with cash last month only shows 0 this month.
    assert shown == {c: this_month.get(c, Decimal(0)) for c in shown}
    assert set(this_month) <= set(shown)
    (total,) = response.context["board"].aging.totals
    assert (
        f'data-figure="unapplied" data-currency="EUR" data-value="{total.unapplied}"'
        in html
    )
    assert "DSO (countback)" in html and f"· {total.currency}</div>" in html
    assert html.count(">Dashboard</a>") == 1  # one entry in the navigation
