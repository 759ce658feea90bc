"""Pay: the bank details, the RF reference and an EPC QR code a banking app reads."""

import io
from decimal import Decimal

import pytest
import zxingcpp
from PIL import Image

from invoicing.references import payment_reference
from o2c.tenancy import tenant_context
from tests.portal.conftest import IBAN, enter

pytestmark = pytest.mark.django_db


def decode(png: bytes) -> str:
    (barcode,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode
    return barcode.text


def test_the_epc_qr_code_carries_iban_amount_and_reference(client, books):
    invoice = books["first"]
    enter(client, books["link"])
    page = client.get(f"/portal/invoices/{invoice.pk}/").content.decode()
    with tenant_context(books["org"]):
        reference = payment_reference(invoice)
    assert "DE89 3704 0044 0532 0130 00" in page
    assert reference in page
    qr = client.get(f"/portal/invoices/{invoice.pk}/qr.png")
    assert qr["Content-Type"] == "image/png"
    lines = decode(qr.content).split("\n")
    # EPC069-12: service tag, version 002, UTF-8 (1), SCT, BIC, name, IBAN,
    # amount, purpose, structured reference.
    assert lines[:4] == ["BCD", "002", "1", "SCT"]
    assert lines[4] == "COBADEFFXXX"
    assert lines[5] == "Nordwind GmbH"
    assert lines[6] == IBAN
    assert Decimal(lines[7].removeprefix("EUR")) == Decimal("1234.50")
    assert lines[7].startswith("EUR")
    assert lines[9] == reference.replace(" ", "")
    assert lines[9].startswith("RF")


def test_a_partly_paid_invoice_asks_for_what_is_open(client, books):
    from tests.factories import received_payment

    invoice = books["first"]
    with tenant_context(books["org"]):
        received_payment(books["acme"], "234.50", allocations=[(invoice, "234.50")])
    enter(client, books["link"])
    lines = decode(client.get(f"/portal/invoices/{invoice.pk}/qr.png").content)
    amount = lines.split("\n")[7]
    assert amount.startswith("EUR")
    assert Decimal(amount.removeprefix("EUR")) == Decimal("1000.00")


def test_no_qr_code_for_other_currencies_or_when_pay_is_off(client, books):
    from invoicing.portal import portal_settings_update
    from tests.factories import SYSTEM, issued_invoice

    with tenant_context(books["org"]):
        usd = issued_invoice(books["acme"], "50.00", currency="USD")
    enter(client, books["link"])
    assert client.get(f"/portal/invoices/{usd.pk}/qr.png").status_code == 404
    assert b"qr.png" not in client.get(f"/portal/invoices/{usd.pk}/").content
    with tenant_context(books["org"]):
        portal_settings_update(actor=SYSTEM, offer_pay=False)
    first = books["first"].pk
    assert client.get(f"/portal/invoices/{first}/qr.png").status_code == 404
    assert IBAN not in client.get(f"/portal/invoices/{first}/").content.decode()
