"""Sign-in protection as a person meets it: the lockout after repeated failures (per
account and per address) and an admin's unlock, the password policy, the sign-out
after inactivity, and two-factor authentication (set up, asked at sign-in, recovery
codes, required for admins)."""

import re
from base64 import b32decode
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.oath import totp

from o2c.models import AuditEvent, Membership, Role
from o2c.tenancy import tenant_context
from tests.conftest import api_client_for
from tests.factories import member

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-1"
LOCKED = (
    "Too many failed sign-ins. Try again in 30 minutes or ask an administrator "
    "to unlock your account."
)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def page_text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def sign_in(client, username, password=PASSWORD, next_page="/", forwarded_for=None):
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return client.post(
        "/login/",
        {"username": username, "password": password, "next": next_page},
        headers=headers,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def events(org, action: str) -> list[AuditEvent]:
    with tenant_context(org):
        return list(AuditEvent.objects.filter(action=action))


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- lockout -------------------------------------------------------------------------


def test_six_wrong_passwords_lock_the_account_until_an_admin_unlocks_it(org):
    fay = member(org, Role.FINANCE, username="fay@example.com")
    admin = signed_in_client(member(org, Role.ADMIN, username="ada@example.com"))
    browser = Client()

    answers = [sign_in(browser, "fay@example.com", "wrong-guess") for _ in range(6)]

    assert [a.status_code for a in answers[:4]] == [200] * 4
    assert "Please enter a correct" in page_text(answers[0])
    assert answers[5].status_code == 429
    assert LOCKED in page_text(answers[5])
    # The sign-in layout, not a bare error.
    assert "auth-card" in answers[5].content.decode()
    right = sign_in(browser, "fay@example.com")
    assert right.status_code == 429
    assert LOCKED in page_text(right)
    assert not signed_in(browser)

    # Integrations from the same address keep working: API keys are not sign-ins.
    assert api_client_for(org).get("/api/v1/customers/").status_code == 200

    members_page = admin.get("/settings/members/")
    row = re.search(
        r'<tr data-member="fay@example.com">.*?</tr>',
        members_page.content.decode(),
        flags=re.S,
    ).group(0)
    assert "locked" in row and "Unlock" in row
    ada_row = re.search(
        r'<tr data-member="ada@example.com">.*?</tr>',
        members_page.content.decode(),
        flags=re.S,
    ).group(0)
    assert "Unlock" not in ada_row

    membership = Membership.objects.get(user=fay)
    unlocked = admin.post(f"/settings/members/{membership.pk}/unlock/", follow=True)
    assert "fay@example.com can sign in again" in page_text(unlocked)
    assert "Unlock" not in page_text(unlocked)
    [event] = events(org, "member_unlocked")
    assert (event.actor_label, event.data["user"]) == ("ada@example.com", fay.username)
    assert event.data["attempts_cleared"] >= 1

    answer = sign_in(browser, "fay@example.com")
    assert answer.status_code == 302
    assert signed_in(browser)


def test_an_admin_of_another_organization_cannot_unlock_our_member(org, other_org):
    fay = member(org, Role.FINANCE, username="fay@example.com")
    stranger = signed_in_client(member(other_org, Role.ADMIN))
    answer = stranger.post(
        f"/settings/members/{Membership.objects.get(user=fay).pk}/unlock/"
    )
    assert answer.status_code == 404
    assert events(other_org, "member_unlocked") == []
    assert events(org, "member_unlocked") == []


def test_five_failures_from_one_address_lock_that_address_for_every_account(org):
    member(org, Role.FINANCE, username="fay@example.com")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for name in ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]:
        assert sign_in(attacker, name, "guess-1").status_code == 200
    fifth = sign_in(attacker, "e@example.com", "guess-1")
    assert fifth.status_code == 429

    # Fay's account has no failure of its own, yet from that address it is refused...
    from_there = sign_in(attacker, "fay@example.com")
    assert from_there.status_code == 429
    assert LOCKED in page_text(from_there)
    # ...while from her own address it works.
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert sign_in(elsewhere, "fay@example.com").status_code == 302


def test_behind_a_proxy_the_address_it_saw_counts_not_what_the_client_claims(
    org, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    member(org, Role.FINANCE, username="fay@example.com")
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for claimed in range(5):
        # The client makes up a new address each time; the proxy appends the real one.
        forwarded = f"192.0.2.{claimed}, 203.0.113.9"
        answer = sign_in(
            proxy, f"u{claimed}@example.com", "guess-1", forwarded_for=forwarded
        )
    assert answer.status_code == 429
    assert (
        sign_in(
            proxy, "fay@example.com", forwarded_for="192.0.2.99, 203.0.113.9"
        ).status_code
        == 429
    )
    # Another client behind the same proxy is not locked out.
    other = sign_in(proxy, "fay@example.com", forwarded_for="198.51.100.20")
    assert other.status_code == 302


def test_the_lockout_ends_after_the_cool_off(org):
    member(org, Role.FINANCE, username="fay@example.com")
    browser = Client()
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(5):
            sign_in(browser, "fay@example.com", "wrong-guess")
        clock.shift(timedelta(minutes=29))
        assert sign_in(browser, "fay@example.com").status_code == 429
        # A failure during the lockout starts the cool-off again (axes' default).
        clock.shift(timedelta(minutes=31))
        assert sign_in(browser, "fay@example.com").status_code == 302


# --- password policy -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short-pw-1", "This password is too short. It must contain at least 12"),
        ("password1234", "This password is too common."),
        ("830419275561", "This password is entirely numeric."),
        ("fay.vance@example.com", "The password is too similar to the"),
    ],
)
def test_the_invitation_refuses_a_weak_password_and_names_why(org, password, message):
    fay = member(org, Role.FINANCE, username="fay.vance@example.com")
    fay.set_unusable_password()
    fay.save()
    uid = urlsafe_base64_encode(force_bytes(fay.pk))
    token = default_token_generator.make_token(fay)
    browser = Client()
    form_url = browser.get(f"/set-password/{uid}/{token}/")["Location"]

    refused = browser.post(
        form_url, {"new_password1": password, "new_password2": password}
    )

    assert refused.status_code == 200
    assert message in page_text(refused)
    fay.refresh_from_db()
    assert not fay.has_usable_password()
    accepted = browser.post(
        form_url,
        {"new_password1": "Lagerhalle-42-Nord", "new_password2": "Lagerhalle-42-Nord"},
    )
    assert accepted.status_code == 302
    fay.refresh_from_db()
    assert fay.check_password("Lagerhalle-42-Nord")


# --- inactivity ----------------------------------------------------------------------


def test_thirty_minutes_without_a_request_sign_a_person_out(org):
    browser = signed_in_client(member(org, Role.FINANCE))
    with time_machine.travel(START, tick=False) as clock:
        assert browser.get("/customers/").status_code == 200
        # Activity keeps the session: 29 minutes apart, three times over.
        for _ in range(3):
            clock.shift(timedelta(minutes=29))
            assert browser.get("/customers/").status_code == 200
        clock.shift(timedelta(minutes=31))
        answer = browser.get("/customers/?q=acme")

    assert answer.status_code == 302
    assert answer["Location"] == "/login/?next=%2Fcustomers%2F%3Fq%3Dacme"
    assert not signed_in(browser)
    login_page = browser.get(answer["Location"])
    assert "You were signed out after 30 minutes without activity" in page_text(
        login_page
    )


def test_the_inactivity_limit_comes_from_settings(org, settings):
    settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=5)
    browser = signed_in_client(member(org, Role.FINANCE))
    with time_machine.travel(START, tick=False) as clock:
        assert browser.get("/customers/").status_code == 200
        clock.shift(timedelta(minutes=6))
        assert browser.get("/customers/").status_code == 302


# --- two-factor authentication ------------------------------------------------------


def code_for(secret: str, at: datetime) -> str:
    """What an authenticator app shows at ``at`` for the key on the page."""
    key = b32decode(secret.replace(" ", ""))
    with time_machine.travel(at, tick=False):
        return f"{totp(key):06d}"


def set_up_two_factor(browser, clock) -> tuple[str, list[str]]:
    """Drive the Security page as a person does; returns the secret and the
    recovery codes it showed."""
    setup = browser.post("/settings/security/authenticator/")
    assert setup.status_code == 200
    html = setup.content.decode()
    assert "<svg" in html
    secret = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html).group(1)
    wrong = browser.post(
        "/settings/security/authenticator/confirm/", {"code": "000000"}
    )
    assert wrong.status_code == 422
    assert "That code is not the one your app shows now" in page_text(wrong)
    clock.shift(timedelta(seconds=30))
    confirmed = browser.post(
        "/settings/security/authenticator/confirm/",
        {"code": code_for(secret, clock.time())},
    )
    assert confirmed.status_code == 200
    assert confirmed["Cache-Control"] == "no-store"
    codes = re.findall(
        r"<li><code>([a-z2-7]{8})</code></li>", confirmed.content.decode()
    )
    assert len(codes) == 10
    return secret, codes


class _Clock:
    """time-machine's traveller with the moment it stands at."""

    def __init__(self, traveller):
        self.traveller = traveller
        self.now = START

    def shift(self, delta):
        self.now += delta
        self.traveller.move_to(self.now)

    def time(self):
        return self.now


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield _Clock(traveller)


def test_a_member_sets_up_two_factor_and_is_asked_for_a_code_at_sign_in(org, clock):
    fay = member(org, Role.FINANCE, username="fay@example.com")
    browser = signed_in_client(fay)
    assert "Two-factor authentication is off" in page_text(
        browser.get("/settings/security/")
    )
    secret, _ = set_up_two_factor(browser, clock)
    assert "Two-factor authentication is on" in page_text(
        browser.get("/settings/security/")
    )
    assert len(events(org, "two_factor_enabled")) == 1

    laptop = Client()
    assert sign_in(laptop, "fay@example.com", next_page="/invoices/").status_code == 302
    held = laptop.get("/invoices/")
    assert held.status_code == 302
    assert held["Location"] == "/login/code/?next=%2Finvoices%2F"
    # Held everywhere, the API with the session too.
    assert laptop.get("/customers/")["Location"].startswith("/login/code/")
    api = laptop.get("/api/v1/customers/")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "second_factor_required"

    wrong = laptop.post("/login/code/", {"code": "123456", "next": "/invoices/"})
    assert wrong.status_code == 422
    assert "That code was not accepted" in page_text(wrong)
    assert laptop.get("/invoices/").status_code == 302

    clock.shift(timedelta(seconds=30))
    right = laptop.post(
        "/login/code/", {"code": code_for(secret, clock.time()), "next": "/invoices/"}
    )
    assert right.status_code == 302
    assert right["Location"] == "/invoices/"
    assert laptop.get("/invoices/").status_code == 200
    # The same code cannot be used twice (replay), even in its 30 seconds.
    phone = Client()
    sign_in(phone, "fay@example.com")
    assert (
        phone.post("/login/code/", {"code": code_for(secret, clock.time())}).status_code
        == 422
    )


def test_a_recovery_code_signs_in_once(org, clock):
    fay = member(org, Role.FINANCE, username="fay@example.com")
    _, codes = set_up_two_factor(signed_in_client(fay), clock)

    browser = Client()
    sign_in(browser, "fay@example.com")
    used = browser.post("/login/code/", {"code": codes[3].upper()}, follow=True)
    assert used.status_code == 200
    assert "Recovery code used; 9 left." in page_text(used)
    browser.post("/logout/")

    sign_in(browser, "fay@example.com")
    again = browser.post("/login/code/", {"code": codes[3]})
    assert again.status_code == 422
    assert browser.get("/").status_code == 302
    clock.shift(timedelta(seconds=5))
    assert browser.post("/login/code/", {"code": codes[4]}).status_code == 302
    assert browser.get("/customers/").status_code == 200


def test_turning_two_factor_off_needs_a_code(org, clock):
    fay = member(org, Role.FINANCE, username="fay@example.com")
    browser = signed_in_client(fay)
    secret, _ = set_up_two_factor(browser, clock)

    refused = browser.post("/settings/security/disable/", {"code": "000000"})
    assert refused.status_code == 422
    assert "Enter a current code or a recovery code." in page_text(refused)
    clock.shift(timedelta(seconds=30))
    code = code_for(secret, clock.time())
    answer = browser.post("/settings/security/disable/", {"code": code}, follow=True)
    assert "Two-factor authentication is off" in page_text(answer)
    assert len(events(org, "two_factor_disabled")) == 1
    laptop = Client()
    sign_in(laptop, "fay@example.com")
    assert laptop.get("/customers/").status_code == 200


def test_an_admin_without_a_second_factor_reaches_only_the_setup_page(
    org, clock, settings
):
    settings.O2C_REQUIRE_ADMIN_2FA = True
    ada = member(org, Role.ADMIN, username="ada@example.com")
    browser = Client()
    sign_in(browser, "ada@example.com")

    for path in ["/settings/members/", "/settings/api-keys/", "/customers/", "/"]:
        answer = browser.get(path)
        assert answer.status_code == 302, path
        assert answer["Location"].startswith("/settings/security/?next="), path
    assert browser.post("/settings/members/invite/", {}).status_code == 302
    htmx = browser.get(
        "/customers/?q=acme",
        headers={
            "HX-Request": "true",
            "HX-Current-URL": "http://testserver/invoices/?status=open",
        },
    )
    assert htmx.status_code == 204
    assert htmx["HX-Redirect"] == (
        "/settings/security/?next=%2Finvoices%2F%3Fstatus%3Dopen"
    )
    api = browser.get("/api/v1/members/")
    assert api.status_code == 403
    # Integrations with an admin key are not people: no second factor for them.
    assert api_client_for(org, Role.ADMIN).get("/api/v1/members/").status_code == 200

    setup_page = browser.get("/settings/security/?next=/settings/members/")
    assert setup_page.status_code == 200
    assert "Admins must use two-factor authentication" in page_text(setup_page)
    assert '<input type="hidden" name="next" value="/settings/members/">' in (
        setup_page.content.decode()
    )

    secret, _ = set_up_two_factor(browser, clock)
    assert browser.get("/settings/members/").status_code == 200
    # Admins cannot turn it off.
    clock.shift(timedelta(seconds=30))
    off = browser.post(
        "/settings/security/disable/", {"code": code_for(secret, clock.time())}
    )
    assert off.status_code == 422
    assert "Admins must keep two-factor authentication on." in page_text(off)

    # A new sign-in asks for the code.
    laptop = Client()
    sign_in(laptop, ada.username)
    assert laptop.get("/settings/members/")["Location"].startswith("/login/code/")


def test_other_roles_may_go_without_a_second_factor(org, settings):
    settings.O2C_REQUIRE_ADMIN_2FA = True
    member(org, Role.FINANCE, username="fay@example.com")
    browser = Client()
    sign_in(browser, "fay@example.com")
    assert browser.get("/customers/").status_code == 200
