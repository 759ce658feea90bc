"""Settings in the browser: FX rates, organization, members, API keys, and the
error pages. Each form is driven as a person uses it (a POST from the page) and
checked on what the page then says and what was stored."""

import io
import json
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from PIL import Image
from pypdf import PdfReader

from invoicing.documents import render_invoice_pdf
from o2c.errors import ConflictError
from o2c.members import member_remove, member_role_change
from o2c.models import AuditEvent, FxRate, Membership, Role
from o2c.services import Actor
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, issued_invoice, member

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-1"


def client_of(org, role, **user_fields):
    user = member(org, role, **user_fields)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def finance(org):
    return client_of(org, Role.FINANCE)


@pytest.fixture
def admin(org):
    return client_of(org, Role.ADMIN, username="ada@example.com")


@pytest.fixture
def collector(org):
    return client_of(org, Role.COLLECTOR)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def page_text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def audit_actions(org) -> list[str]:
    with tenant_context(org):
        return list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))


# --- FX rates ---------------------------------------------------------------------


def test_finance_adds_a_rate_and_the_aging_converts_with_it(org, finance):
    today = org.today()
    with tenant_context(org):
        customer = CustomerFactory(currency="USD", name="Yankee Corp")
        issued_invoice(
            customer, "1000.00", invoice_date=today - timedelta(days=40),
            due_date=today - timedelta(days=10),
        )  # fmt: skip
    refused = finance.get("/reports/aging/?in_base=on")
    assert refused.status_code == 400
    link = re.search(r'href="(/fx-rates/\?[^"]+)"[^>]*>Add the USD rate', refused.text)
    assert link, "the missing-rate message links to the FX rates page"
    form = finance.get(link.group(1).replace("&amp;", "&"))
    assert 'name="currency" value="USD"' in form.text
    assert f'value="{today.isoformat()}"' in form.text
    assert "No FX rate yet" in form.text  # the list is not filtered by the link

    response = finance.post(
        "/fx-rates/add/",
        {"currency": "USD", "date": today.isoformat(), "rate": "0.9213",
         "next": "/reports/aging/?in_base=on"},
        follow=True,
    )  # fmt: skip
    assert response.redirect_chain[-1][0] == "/reports/aging/?in_base=on"
    (total,) = response.context["report"].totals
    assert total.currency == "EUR"
    assert total.total == Decimal("921.30")  # 1,000.00 USD x 0.9213
    assert "921.30 EUR" in page_text(response)


def test_a_bad_rate_is_shown_on_its_field_with_the_input_kept(org, finance):
    response = finance.post(
        "/fx-rates/add/", {"currency": "USD", "date": "2026-03-02", "rate": "-0,5"}
    )
    assert response.status_code == 422
    assert 'id="rate-error"' in response.text
    assert "-0,5" in response.text and 'value="USD"' in response.text
    response = finance.post(
        "/fx-rates/add/", {"currency": "QQQ", "date": "2026-03-02", "rate": "1.1"}
    )
    assert response.status_code == 422
    assert "Unknown currency &#x27;QQQ&#x27;" in response.text
    assert 'id="currency-error"' in response.text
    with tenant_context(org):
        assert not FxRate.objects.exists()


def test_a_second_rate_for_a_day_is_replaced_only_when_confirmed(org, finance):
    day = {"currency": "USD", "date": "2026-03-02"}
    finance.post("/fx-rates/add/", day | {"rate": "0.92"})
    asked = finance.post("/fx-rates/add/", day | {"rate": "0.95"})
    assert asked.status_code == 409
    assert "Replace it with 0.95" in page_text(asked)
    with tenant_context(org):
        assert FxRate.objects.get().rate == Decimal("0.92")
    finance.post("/fx-rates/add/", day | {"rate": "0.95", "replace": "1"})
    with tenant_context(org):
        assert FxRate.objects.get().rate == Decimal("0.95")
    assert audit_actions(org) == ["fx_rate_created", "fx_rate_changed"]


def test_edit_and_delete_a_rate_are_audited(org, finance):
    finance.post(
        "/fx-rates/add/", {"currency": "GBP", "date": "2026-03-02", "rate": "1.17"}
    )
    with tenant_context(org):
        fx_rate = FxRate.objects.get()
    refused = finance.post(f"/fx-rates/{fx_rate.pk}/", {"rate": "zero"})
    assert refused.status_code == 422 and 'value="zero"' in refused.text
    finance.post(f"/fx-rates/{fx_rate.pk}/", {"rate": "1.18"})
    with tenant_context(org):
        assert FxRate.objects.get().rate == Decimal("1.18")
    finance.post(f"/fx-rates/{fx_rate.pk}/delete/")
    with tenant_context(org):
        assert not FxRate.objects.exists()
        events = list(AuditEvent.objects.filter(object_id=str(fx_rate.pk)))
    assert [e.action for e in events] == [
        "fx_rate_created", "fx_rate_changed", "fx_rate_deleted",
    ]  # fmt: skip
    assert events[1].data["previous_rate"] == "1.1700000000"


def test_csv_upload_lists_every_bad_line_and_imports_nothing(org, finance):
    bad = io.BytesIO(
        b"date,from_currency,to_currency,rate\n"
        b"2026-03-02,USD,EUR,0.92\n"
        b"2026-03-02,XXX1,EUR,1\n"
        b"2026-03-03,USD,EUR,nope\n"
    )
    bad.name = "rates.csv"
    response = finance.post("/fx-rates/upload/", {"file": bad})
    assert response.status_code == 422
    text = page_text(response)
    assert "Nothing was imported" in text
    assert "line 3: Unknown currency 'XXX1'." in text.replace("&#x27;", "'")
    assert "line 4: 'nope' is not a number" in text.replace("&#x27;", "'")
    with tenant_context(org):
        assert not FxRate.objects.exists()
    good = io.BytesIO(b"date;from currency;to currency;rate\n2026-03-02;USD;EUR;0.92\n")
    good.name = "rates.csv"
    response = finance.post("/fx-rates/upload/", {"file": good}, follow=True)
    assert "Imported 1 new rate(s)" in page_text(response)
    with tenant_context(org):
        assert FxRate.objects.get().rate == Decimal("0.92")


def test_a_collector_reads_rates_but_cannot_add_one(org, collector):
    page = collector.get("/fx-rates/")
    assert page.status_code == 200 and "Add a rate" not in page.text
    refused = collector.post(
        "/fx-rates/add/", {"currency": "USD", "date": "2026-03-02", "rate": "1"}
    )
    assert refused.status_code == 403
    assert "Your role does not allow this" in page_text(refused)
    assert 'class="sidebar"' in refused.text  # in the app's layout
    with tenant_context(org):
        assert not FxRate.objects.exists()


# --- organization settings -------------------------------------------------------

SETTINGS = {
    "name": "Nordwind GmbH",
    "base_currency": "EUR",
    "timezone": "Europe/Berlin",
    "locale": "de",
    "date_format": "d.m.Y",
    "payment_instructions": "IBAN DE89 3704 0044 0532 0130 00 · quote the invoice",
}


def test_admin_saves_the_settings(org, admin):
    response = admin.post("/settings/organization/", SETTINGS, follow=True)
    assert "Settings saved." in page_text(response)
    org.refresh_from_db()
    assert (org.name, org.locale, org.date_format) == ("Nordwind GmbH", "de", "d.m.Y")
    assert org.payment_instructions == SETTINGS["payment_instructions"]
    assert audit_actions(org) == ["organization_changed"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Europe/Atlantis", "Unknown time zone"),
        ("base_currency", "EUX", "Unknown currency"),
        ("locale", "xx-nowhere", "Unknown locale"),
        ("name", "", "Enter the organization"),
    ],
)
def test_a_bad_setting_is_named_and_nothing_is_saved(org, admin, field, value, message):
    response = admin.post("/settings/organization/", SETTINGS | {field: value})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert message in page_text(response)
    assert 'value="Nordwind GmbH"' in response.text or field == "name"
    org.refresh_from_db()
    assert org.name != "Nordwind GmbH" and audit_actions(org) == []


def test_base_currency_stays_while_rates_are_stored_against_it(org, admin):
    with tenant_context(org):
        FxRate.objects.create(
            organization=org, currency="USD", date=date(2026, 3, 2), rate=1
        )
    response = admin.post(
        "/settings/organization/", SETTINGS | {"base_currency": "USD"}
    )
    assert response.status_code == 422
    assert "1 FX rate(s) are stored against EUR" in page_text(response)
    org.refresh_from_db()
    assert org.base_currency == "EUR"


@pytest.mark.parametrize("role", [Role.FINANCE, Role.COLLECTOR, Role.VIEWER])
def test_only_admins_open_the_settings(org, role):
    client = client_of(org, role)
    for url in ("/settings/organization/", "/settings/members/", "/settings/api-keys/"):
        assert client.get(url).status_code == 403


def _png(width=300, height=100) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _upload(name: str, content: bytes):
    file = io.BytesIO(content)
    file.name = name
    return file


def test_logo_is_printed_on_the_invoice_with_the_payment_instructions(org, admin):
    admin.post("/settings/organization/", SETTINGS)
    response = admin.post(
        "/settings/organization/logo/upload/", {"logo": _upload("logo.png", _png())}
    )
    assert response.status_code == 302
    served = admin.get("/settings/organization/logo/")
    assert served["Content-Type"] == "image/png"
    assert "sandbox" in served["Content-Security-Policy"]
    assert served["X-Content-Type-Options"] == "nosniff"
    org.refresh_from_db()
    with tenant_context(org):
        invoice = issued_invoice(CustomerFactory(name="Globex"), "100.00")
        pdf = PdfReader(io.BytesIO(render_invoice_pdf(invoice)))
    page = pdf.pages[0]
    assert [image.image.size for image in page.images] == [(300, 100)]
    text = re.sub(r"\s+", " ", page.extract_text())
    assert "IBAN DE89 3704 0044 0532 0130 00" in text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "contains a <script> element",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "event handler",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" '
            b'xmlns:xlink="http://www.w3.org/1999/xlink">'
            b'<image xlink:href="file:///etc/passwd"/></svg>',
            "a link to another file",
        ),
        ("logo.png", b"GIF89a not a png", "must be a PNG, JPEG or SVG"),
        ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a readable PNG"),
        ("logo.png", _png() + b"\0" * (600 * 1024), "at most 512 KB"),
    ],
)
def test_a_logo_that_could_harm_or_is_no_image_is_refused(
    org, admin, name, content, message
):
    response = admin.post(
        "/settings/organization/logo/upload/", {"logo": _upload(name, content)}
    )
    assert response.status_code == 422
    assert message in page_text(response).replace("&lt;", "<").replace("&gt;", ">")
    org.refresh_from_db()
    assert not org.logo


def test_a_plain_svg_logo_is_accepted(org, admin):
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
        b'<rect width="120" height="40" fill="#0a5"/></svg>'
    )
    admin.post("/settings/organization/logo/upload/", {"logo": _upload("l.svg", svg)})
    served = admin.get("/settings/organization/logo/")
    assert served["Content-Type"] == "image/svg+xml"
    assert b"".join(served.streaming_content) == svg


# --- members ------------------------------------------------------------------------


def test_admin_invites_a_collector_who_sets_a_password(org, admin, smtp_sink):
    response = admin.post(
        "/settings/members/invite/",
        {"email": "Carla@Nordwind.example", "role": "collector"},
        follow=True,
    )
    assert "Invitation sent to carla@nordwind.example" in page_text(response)
    (mail,) = smtp_sink.messages
    assert mail.rcpt_tos == ["carla@nordwind.example"]
    assert f"to {org.name}" in mail.subject
    assert "ada@example.com added you" in mail.text and "as Collector" in mail.text
    link = re.search(r"http://testserver(/set-password/\S+/)", mail.text).group(1)
    carla = get_user_model().objects.get(username="carla@nordwind.example")
    assert not carla.has_usable_password()
    assert Membership.objects.get(user=carla, organization=org).role == Role.COLLECTOR

    visitor = Client()
    form = visitor.get(link, follow=True)
    assert "Choose your password" in form.text
    done = visitor.post(
        form.redirect_chain[-1][0],
        {"new_password1": "Lagerhalle-42", "new_password2": "Lagerhalle-42"},
        follow=True,
    )
    assert "Your password is set" in page_text(done)
    landed = visitor.post(
        done.redirect_chain[-1][0],
        {"username": "carla@nordwind.example", "password": "Lagerhalle-42",
         "next": "/collections/my-day/"},
        follow=True,
    )  # fmt: skip
    assert landed.redirect_chain[-1][0] == "/collections/my-day/"
    # The link is used up.
    assert "This link no longer works" in Client().get(link, follow=True).text
    assert audit_actions(org) == ["member_invited", "invitation_sent"]


def test_an_invitation_with_a_bad_address_keeps_the_input(org, admin):
    response = admin.post(
        "/settings/members/invite/", {"email": "carla@", "role": "collector"}
    )
    assert response.status_code == 422
    assert 'id="email-error"' in response.text and 'value="carla@"' in response.text
    assert Membership.objects.filter(organization=org).count() == 1


def test_change_role_and_remove_a_member(org, admin):
    bob = member(org, Role.VIEWER, username="bob@example.com")
    membership = Membership.objects.get(user=bob)
    admin.post(f"/settings/members/{membership.pk}/role/", {"role": "finance"})
    membership.refresh_from_db()
    assert membership.role == Role.FINANCE
    admin.post(f"/settings/members/{membership.pk}/remove/")
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert audit_actions(org) == ["member_role_changed", "member_removed"]


def test_the_last_admin_is_neither_removed_nor_demoted(org, admin):
    mine = Membership.objects.get(user=admin.user)
    response = admin.post(f"/settings/members/{mine.pk}/role/", {"role": "finance"})
    assert response.status_code == 409
    assert "make another member admin first" in page_text(response)
    response = admin.post(f"/settings/members/{mine.pk}/remove/")
    assert response.status_code == 409
    mine.refresh_from_db()
    assert mine.role == Role.ADMIN
    actor = Actor.for_member(mine)
    with tenant_context(org), pytest.raises(ConflictError):
        member_remove(membership=mine, actor=actor)
    with tenant_context(org), pytest.raises(ConflictError):
        member_role_change(membership=mine, role=Role.VIEWER, actor=actor)
    # With a second admin, the first may step down.
    member(org, Role.ADMIN)
    with tenant_context(org):
        member_role_change(membership=mine, role=Role.FINANCE, actor=actor)
    mine.refresh_from_db()
    assert mine.role == Role.FINANCE


def test_members_of_another_organization_are_not_reached(org, admin, other_org):
    stranger = member(other_org, Role.ADMIN)
    theirs = Membership.objects.get(user=stranger)
    assert admin.post(f"/settings/members/{theirs.pk}/remove/").status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


# --- API keys -----------------------------------------------------------------------


def test_a_key_is_shown_once_works_and_is_revoked(org, admin):
    expiry = (org.today() + timedelta(days=30)).isoformat()
    response = admin.post(
        "/settings/api-keys/create/",
        {"name": "ERP export", "role": "viewer", "expiry_date": expiry},
    )
    assert response["Cache-Control"] == "no-store"
    key = re.search(r'id="new-key-value" value="([^"]+)"', response.text).group(1)
    listing = admin.get("/settings/api-keys/")
    assert key not in listing.text
    prefix = key.split(".")[0]
    row = re.search(rf'<tr data-prefix="{prefix}".*?</tr>', listing.text, re.S).group(0)
    assert "ERP export" in row and "Viewer" in row and "never" in row

    api = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.get("/api/v1/fx-rates/").status_code == 200
    refused = api.post(
        "/api/v1/fx-rates/",
        {"currency": "USD", "date": "2026-03-02", "rate": "1"},
        content_type="application/json",
    )
    assert refused.status_code == 403  # a viewer key reads only
    row = re.search(
        rf'<tr data-prefix="{prefix}".*?</tr>',
        admin.get("/settings/api-keys/").text,
        re.S,
    ).group(0)
    assert "never" not in row.split("</td>")[4]  # last used is recorded

    admin.post(f"/settings/api-keys/{prefix}/revoke/")
    assert api.get("/api/v1/fx-rates/").status_code == 401
    assert audit_actions(org)[-2:] == ["api_key_created", "api_key_revoked"]


def test_a_key_without_a_name_or_with_a_past_expiry_is_refused(org, admin):
    response = admin.post("/settings/api-keys/create/", {"name": "", "role": "finance"})
    assert response.status_code == 422 and 'id="name-error"' in response.text
    response = admin.post(
        "/settings/api-keys/create/",
        {"name": "Old", "role": "finance", "expiry_date": "2001-01-01"},
    )
    assert response.status_code == 422 and "must be in the future" in response.text
    assert 'value="Old"' in response.text
    assert not org.api_keys.exists()


# --- error pages and report parameters -------------------------------------------


def test_not_found_in_the_layout_when_signed_in_and_bare_otherwise(finance):
    signed_in = finance.get("/no/such/page/")
    assert signed_in.status_code == 404
    assert "Page not found" in signed_in.text and 'class="sidebar"' in signed_in.text
    anonymous = Client().get("/no/such/page/")
    assert anonymous.status_code == 404
    assert (
        "Page not found" in anonymous.text and 'class="sidebar"' not in anonymous.text
    )
    assert "Traceback" not in anonymous.text


def test_bad_request_and_server_error_pages(rf, org, finance):
    from django.contrib.auth.models import AnonymousUser

    from o2c.views import bad_request, server_error

    request = rf.get("/")
    request.user = AnonymousUser()
    assert "The request could not be read" in bad_request(request).content.decode()
    page = server_error(request)
    assert page.status_code == 500
    assert "Something went wrong on our side" in page.content.decode()
    api = rf.get("/api/v1/x/")
    api.user = AnonymousUser()
    assert json.loads(server_error(api).content)["error"]["code"] == "server_error"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("/reports/aging/?as_of=2026-13-45", "As of: &#x27;2026-13-45&#x27; is not"),
        ("/reports/aging/?buckets=1,x", "Buckets are whole numbers"),
        ("/reports/aging/invoices/?as_of=yesterday", "write it as YYYY-MM-DD"),
        ("/reports/metrics/?months=abc", "months: Enter a whole number"),
    ],
)
def test_an_invalid_report_parameter_is_an_error_on_the_page(finance, url, words):
    response = finance.get(url)
    assert response.status_code == 400
    assert words in page_text(response)
    assert 'role="alert"' in response.text
