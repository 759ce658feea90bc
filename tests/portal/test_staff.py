"""What staff see and do about the portal: revoke a customer's links from the
customer page; read the lines and download the file a customer disputed with."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from collecting.models import Dispute
from invoicing.models import PortalAccess
from invoicing.portal import portal_link_issue
from o2c.models import AuditEvent, Role
from o2c.tenancy import tenant_context
from tests.factories import issued_invoice, member
from tests.portal.conftest import enter, path_of
from tests.portal.test_access import neutral_body

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n%delivery note, 8 pallets\n"
HTMX = {"HTTP_HX_REQUEST": "true"}


def staff(org, role=Role.FINANCE) -> Client:
    client = Client()
    client.force_login(member(org, role))
    return client


def test_finance_revokes_every_link_from_the_customer_page(client, books):
    org, acme = books["org"], books["acme"]
    with tenant_context(org):
        second = path_of(
            portal_link_issue(customer=acme, kind=PortalAccess.Kind.STATEMENT)
        )
    assert enter(client, books["link"]).status_code == 200
    finance = staff(org)

    page = finance.get(f"/customers/{acme.pk}/").content.decode()
    assert f'hx-get="/customers/{acme.pk}/portal/"' in page
    panel = finance.get(f"/customers/{acme.pk}/portal/", **HTMX).content.decode()
    # Nordwind works in German.
    assert "2 Links sind aktiv, der neueste ausgestellt am" in panel
    assert "Alle Portal-Links widerrufen" in panel
    assert f'action="/customers/{acme.pk}/portal/revoke/"' in panel
    assert "data-confirm" in panel

    answer = finance.post(f"/customers/{acme.pk}/portal/revoke/", follow=True)
    assert answer.status_code == 200
    assert answer.redirect_chain[-1][0] == f"/customers/{acme.pk}/"
    (message,) = [str(m) for m in answer.context["messages"]]
    assert message == "2 Portal-Links widerrufen. Alte Links öffnen nichts mehr."

    # The visit the old link opened ends; the links now get the neutral page.
    assert client.get("/portal/").status_code == 404
    reference = neutral_body(Client().get("/portal/t/" + "x" * 43 + "/"))
    for link in (books["link"], second):
        assert neutral_body(Client().get(link)) == reference
    # Another customer's link still works.
    assert enter(Client(), books["bolt_link"]).status_code == 200
    with tenant_context(org):
        event = AuditEvent.objects.get(action="portal_revoked")
        assert event.object_id == str(acme.pk)
        assert event.data == {"links": 2}
        assert event.actor_user_id is not None
    panel = finance.get(f"/customers/{acme.pk}/portal/", **HTMX).content.decode()
    assert "revoke/" not in panel


def test_a_viewer_cannot_revoke_and_another_orgs_customer_is_not_found(books):
    org, acme = books["org"], books["acme"]
    viewer = staff(org, Role.VIEWER)
    assert viewer.post(f"/customers/{acme.pk}/portal/revoke/").status_code == 403
    assert viewer.get(f"/customers/{acme.pk}/portal/", **HTMX).content == b""
    assert "/portal/" not in viewer.get(f"/customers/{acme.pk}/").content.decode()
    assert enter(Client(), books["link"]).status_code == 200
    with tenant_context(org):
        assert not PortalAccess.objects.filter(revoked_at__isnull=False).exists()
    with tenant_context(books["other"]):
        stranger = PortalAccess.objects.get().customer
    finance = staff(org)
    assert finance.post(f"/customers/{stranger.pk}/portal/revoke/").status_code == 404
    assert enter(Client(), books["other_link"]).status_code == 200


def _portal_dispute(books, **extra):
    org = books["org"]
    with tenant_context(org):
        invoice = issued_invoice(books["acme"], "10.00")
        freight = invoice.lines.create(
            organization=org, position=2, description="Freight",
            quantity=1, unit_price=5, net_amount=5,
        )  # fmt: skip
    customer = Client()
    enter(customer, books["link"])
    customer.post(
        f"/portal/invoices/{invoice.pk}/dispute/",
        {"reason": "pricing", "message": "Freight was free.", "lines": [freight.pk]}
        | extra,
    )
    with tenant_context(org):
        return Dispute.objects.get(), invoice


def test_the_collector_sees_the_lines_and_downloads_the_attachment(books):
    dispute, invoice = _portal_dispute(
        books, attachment=SimpleUploadedFile("Lieferschein.pdf", PDF)
    )
    acme = books["acme"]
    collector = staff(books["org"], Role.COLLECTOR)
    timeline = collector.get(
        f"/collections/customers/{acme.pk}/timeline/", **HTMX
    ).content.decode()
    assert f"Reklamierte Positionen: {invoice.number} · 2. Freight" in timeline
    url = f"/collections/disputes/{dispute.pk}/attachment/"
    assert f'href="{url}"' in timeline

    answer = collector.get(url)
    assert answer.status_code == 200
    assert b"".join(answer.streaming_content) == PDF
    assert answer["Content-Type"] == "application/pdf"
    assert answer["Content-Disposition"] == (
        f'attachment; filename="dispute-{dispute.pk}.pdf"'
    )
    assert answer["X-Content-Type-Options"] == "nosniff"

    # My day's dispute row counts the lines and links the file too.
    my_day = staff(books["org"]).get("/collections/my-day/").content.decode()
    assert f'href="{url}"' in my_day
    assert "1 Position reklamiert" in my_day


def test_the_attachment_is_for_staff_of_its_organization_only(books):
    dispute, _ = _portal_dispute(books, attachment=SimpleUploadedFile("note.pdf", PDF))
    url = f"/collections/disputes/{dispute.pk}/attachment/"
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"{reverse('login')}?next={url}"
    outsider = staff(books["other"], Role.ADMIN)
    assert outsider.get(url).status_code == 404
    # The customer's portal session is no staff session either.
    customer = Client()
    enter(customer, books["link"])
    assert customer.get(url).status_code == 302


def test_a_dispute_without_a_file_offers_no_download(books):
    dispute, _ = _portal_dispute(books)
    collector = staff(books["org"], Role.COLLECTOR)
    timeline = collector.get(
        f"/collections/customers/{books['acme'].pk}/timeline/", **HTMX
    ).content.decode()
    assert "2. Freight" in timeline
    assert "/attachment/" not in timeline
    answer = collector.get(f"/collections/disputes/{dispute.pk}/attachment/")
    assert answer.status_code == 404
