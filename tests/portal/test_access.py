"""Who gets in: every wrong link gets the same neutral page and no data."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from invoicing.models import PortalAccess
from invoicing.portal import portal_access_revoke, portal_link_issue, token_hash
from o2c.tenancy import tenant_context
from tests.factories import SYSTEM, received_payment
from tests.portal.conftest import enter, path_of

pytestmark = pytest.mark.django_db

NONCE = re.compile(rb'nonce="[^"]*"|name="csrfmiddlewaretoken" value="[^"]*"')


def neutral_body(response) -> bytes:
    assert response.status_code == 404
    return NONCE.sub(b"", response.content)


def test_a_notice_link_opens_the_customers_own_account(client, books):
    page = enter(client, books["link"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "Acme Metals" in text
    assert books["first"].number in text and books["second"].number in text
    assert books["bolt_invoice"].number not in text
    # The token leaves the address bar: the visit lives in the session.
    assert page.redirect_chain[-1][0] == "/portal/"
    # Another customer's invoice, even by its id, shows nothing.
    other = client.get(f"/portal/invoices/{books['bolt_invoice'].pk}/")
    assert other.status_code == 404
    assert books["bolt_invoice"].number not in other.content.decode()


def test_every_wrong_link_gets_the_same_neutral_page(client, books, settings):
    reference = neutral_body(client.get("/portal/t/" + "x" * 43 + "/"))
    assert b"does not open an account" in reference
    org = books["org"]
    with tenant_context(org):
        revoked = path_of(
            portal_link_issue(customer=books["bolt"], kind=PortalAccess.Kind.NOTICE)
        )
        portal_access_revoke(customer=books["bolt"], actor=SYSTEM)
        # An invoice link, its invoice settled long ago.
        invoice = books["second"]
        expired = path_of(
            portal_link_issue(
                customer=books["acme"], kind=PortalAccess.Kind.INVOICE, invoice=invoice
            )
        )
        received_payment(
            books["acme"], "800.00", received_date=date(2026, 11, 20),
            allocations=[(invoice, "800.00")],
        )  # fmt: skip
        sign_in = path_of(
            portal_link_issue(customer=books["acme"], kind=PortalAccess.Kind.SIGN_IN)
        )
    cases = {
        "guessed": "/portal/t/guessed-token/",
        "revoked": revoked,
        "sign-in link used as a plain link": "/portal/t/"
        + sign_in.rstrip("/").rsplit("/", 1)[1]
        + "/",
    }
    for name, link in cases.items():
        assert neutral_body(client.get(link)) == reference, name
    # The invoice's link works while the lifetime after settlement runs...
    assert enter(client, expired).status_code == 200
    client.post("/portal/sign-out/")
    # ...and not after.
    with time_machine.travel(datetime(2027, 3, 1, 12, tzinfo=UTC)):
        assert neutral_body(client.get(expired)) == reference
    # Another organization's link opens only that organization's customer.
    page = enter(client, books["other_link"])
    assert "Stranger AG" in page.content.decode()
    assert "Acme" not in page.content.decode()
    # And no page shows data without a visit.
    client.post("/portal/sign-out/")
    for url in ("/portal/", f"/portal/invoices/{books['first'].pk}/pdf/"):
        assert neutral_body(client.get(url)) == reference


def test_a_revoked_link_ends_the_visit_it_opened(client, books):
    assert enter(client, books["link"]).status_code == 200
    with tenant_context(books["org"]):
        portal_access_revoke(customer=books["acme"], actor=SYSTEM)
    assert client.get("/portal/").status_code == 404


def test_tokens_are_stored_hashed(books):
    with tenant_context(books["org"]):
        link = portal_link_issue(customer=books["acme"], kind=PortalAccess.Kind.NOTICE)
        token = link.rstrip("/").rsplit("/", 1)[1]
        assert len(token) >= 43
        stored = PortalAccess.objects.get(token_hash=token_hash(token))
        assert token not in stored.token_hash


def test_a_sign_in_link_works_once(client, books, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/portal/sign-in/", {"email": "Ann@Acme.example"})
    assert answer.status_code == 200
    (message,) = mail.outbox
    assert message.to == ["ann@acme.example"]
    assert "Nordwind GmbH" in message.subject
    link = path_of(re.search(r"https?://\S+/portal/sign-in/\S+/", message.body)[0])
    # Opening the link asks for a press of a button (mail scanners only GET).
    confirm = client.get(link)
    assert confirm.status_code == 200 and b"Open my account" in confirm.content
    home = client.post(link, follow=True)
    assert "Acme Metals" in home.content.decode()
    client.post("/portal/sign-out/")
    assert client.post(link).status_code == 404
    assert client.get(link).status_code == 404


def test_a_sign_in_link_expires_after_15_minutes(client, books):
    with tenant_context(books["org"]):
        link = path_of(
            portal_link_issue(customer=books["acme"], kind=PortalAccess.Kind.SIGN_IN)
        )
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert client.post(link).status_code == 404


def test_the_answer_to_a_sign_in_request_says_nothing_about_the_address(
    client, books, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/portal/sign-in/", {"email": "ap@acme.example"})
        unknown = client.post("/portal/sign-in/", {"email": "nobody@example.com"})
    assert NONCE.sub(b"", known.content) == NONCE.sub(b"", unknown.content)
    assert [m.to for m in mail.outbox] == [["ap@acme.example"]]


def test_sign_in_requests_are_rate_limited(
    client, books, settings, django_capture_on_commit_callbacks
):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "sign_in": "3/h"}
    with django_capture_on_commit_callbacks(execute=True):
        answers = [
            client.post("/portal/sign-in/", {"email": "ann@acme.example"}).status_code
            for _ in range(4)
        ]
    assert answers == [200, 200, 200, 429]
    # Per address too (default 3 an hour): the fourth request sent nothing.
    assert len(mail.outbox) == 3


def test_token_use_is_rate_limited(client, books, settings):
    settings.PORTAL_RATE_LIMITS = {**settings.PORTAL_RATE_LIMITS, "token": "5/m"}
    answers = [client.get(f"/portal/t/guess-{n}/").status_code for n in range(6)]
    assert answers == [404] * 5 + [429]
    # Over the limit even a good link waits.
    assert client.get(books["link"]).status_code == 429


def test_portal_pages_send_the_security_headers(client, books):
    page = enter(client, books["link"])
    for response in (page, client.get("/portal/t/nothing/")):
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
    assert page["Cache-Control"] == "private, no-store"


def test_the_portal_speaks_the_customers_language(client, books):
    with tenant_context(books["org"]):
        books["acme"].language = "de"
        books["acme"].save()
    page = enter(client, books["link"])
    assert page["Content-Language"] == "de"
    assert "Offene Rechnungen" in page.content.decode()
