"""An admin's first sign-in with two-factor authentication required: sent to the
Security page, scans (reads) the key, confirms with a code, keeps the recovery
codes, and next time signs in with one of them."""

import re
from base64 import b32decode

import pytest
from django_otp.oath import totp

from o2c.models import Role
from tests.factories import OrganizationFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-1"


def sign_in(page, live_server, username, password=PASSWORD):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_sets_up_two_factor_then_signs_in_with_a_recovery_code(
    live_server, page, screenshot, settings
):
    settings.O2C_REQUIRE_ADMIN_2FA = True
    org = OrganizationFactory(name="Nordwind GmbH")
    member(org, Role.ADMIN, username="ada@nordwind.example")

    sign_in(page, live_server, "ada@nordwind.example")
    page.wait_for_url(re.compile(r"/settings/security/\?next="))
    page.get_by_text("Admins must use two-factor authentication").first.wait_for()
    page.get_by_role("button", name="Set up two-factor authentication").click()
    qr = page.locator(".qr-code svg")
    qr.wait_for()
    assert qr.bounding_box()["width"] >= 150
    secret = page.locator("#totp-secret").inner_text()
    screenshot("security-01-set-up")

    code = f"{totp(b32decode(secret.replace(' ', ''))):06d}"
    page.get_by_label("Code from the app").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    screenshot("security-02-recovery-codes")
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/$"))

    page.context.clear_cookies()
    sign_in(page, live_server, "ada@nordwind.example")
    page.wait_for_url(re.compile(r"/login/code/"))
    page.get_by_label("Code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/$"))
    page.get_by_text("Recovery code used; 9 left.").wait_for()
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Members"
    ).click()
    page.get_by_role("heading", name="Members").wait_for()
