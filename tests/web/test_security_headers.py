"""Every page is sent with the security headers, and works under its policy: no
inline event handler, and the only inline script carries the response's nonce."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from o2c.models import Role
from tests.factories import CustomerFactory, issued_invoice, member, received_payment

pytestmark = pytest.mark.django_db

SKIP = ("api/", "admin/", "static/", "media/", "logout/", "webhooks/", "healthz")
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>", re.IGNORECASE)


def page_routes(resolver=None, prefix=""):
    """Every route of the app that takes no argument, as a path."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from page_routes(pattern, route)
        elif isinstance(pattern, URLPattern) and "<" not in route and "(" not in route:
            path = "/" + route.lstrip("^").rstrip("$")
            if not path.lstrip("/").startswith(SKIP):
                yield path


@pytest.fixture
def pages(org, tenant):
    customer = CustomerFactory()
    invoice = issued_invoice(customer, "120.00")
    payment = received_payment(customer, "20.00")
    details = [
        f"/customers/{customer.pk}/",
        f"/invoices/{invoice.pk}/",
        f"/payments/{payment.pk}/",
    ]
    return [*sorted(set(page_routes())), *details]


def test_every_page_has_the_headers_and_no_inline_handler(org, pages):
    client = Client()
    client.force_login(member(org, Role.ADMIN))
    checked = 0
    for path in pages:
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.get("Content-Type"):
            continue
        checked += 1
        policy = response["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", policy).group(1)
        assert script_src.startswith("'self'") and "unsafe" not in script_src, path
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        html = response.content.decode()
        assert not INLINE_HANDLER.search(html), (path, INLINE_HANDLER.search(html))
        # django-csp names a nonce only on pages that used it
        nonce = re.search(r"'nonce-([^']+)'", script_src)
        nonce = nonce.group(1) if nonce else "(none)"
        for script in SCRIPT.finditer(html):
            attrs = script.group("attrs")
            if 'type="application/json"' in attrs:
                continue  # data for a script file (json_script), never run
            assert "src=" in attrs or f'nonce="{nonce}"' in attrs, (path, attrs)
    assert checked >= 20


def test_the_sign_in_page_has_the_headers_too(db):
    response = Client().get("/login/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
