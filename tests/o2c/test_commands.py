"""Management commands: create_org, and verify_ledger's refusal to guess a tenant."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from o2c.models import Membership, Organization, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def create_org(*args, **options):
    out = StringIO()
    call_command("create_org", *args, stdout=out, **options)
    return out.getvalue()


def test_create_org_makes_the_tenant_and_its_first_admin():
    out = create_org(
        "Acme Trading GmbH",
        slug="acme",
        admin_email="cfo@acme.example",
        admin_password="s3cret-pass-zurich",
        currency="chf",
        timezone="Europe/Zurich",
    )

    organization = Organization.objects.get(slug="acme")
    assert organization.name == "Acme Trading GmbH"
    assert organization.base_currency == "CHF"
    assert organization.timezone == "Europe/Zurich"
    admin = get_user_model().objects.get(username="cfo@acme.example")
    assert admin.check_password("s3cret-pass-zurich")
    membership = Membership.objects.get(organization=organization)
    assert (membership.user, membership.role) == (admin, Role.ADMIN)
    assert "Created Acme Trading GmbH (acme); admin cfo@acme.example" in out


def test_create_org_defaults_to_eur_and_utc():
    create_org(
        "Beta", slug="beta", admin_email="a@b.example", admin_password="beta-ledger-42"
    )
    organization = Organization.objects.get(slug="beta")
    assert (organization.base_currency, organization.timezone) == ("EUR", "UTC")


def test_create_org_keeps_an_existing_users_password():
    user = UserFactory(username="shared@example.com")
    create_org(
        "Second Co",
        slug="second",
        admin_email="shared@example.com",
        admin_password="other-password",
    )
    user.refresh_from_db()
    assert user.check_password("correct-horse-1")
    assert Membership.objects.filter(user=user, role=Role.ADMIN).count() == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"currency": "EURO"}, "currency: Unknown currency 'EURO'"),
        ({"timezone": "Mars/Olympus"}, "timezone: Unknown timezone 'Mars/Olympus'"),
        ({"slug": "not a slug"}, "slug: 'not a slug' is not a slug"),
        ({"name": "  "}, "name: Name is required"),
        (
            {"admin_password": "short-pw"},
            "admin_password: This password is too short",
        ),
        ({"admin_password": "123456789012"}, "admin_password: .*entirely numeric"),
    ],
)
def test_create_org_refuses_bad_input_and_creates_nothing(options, message):
    arguments = {
        "name": "Gamma",
        "slug": "gamma",
        "admin_email": "a@gamma.example",
        "admin_password": "long-password",
        **options,
    }
    with pytest.raises(CommandError, match=message):
        create_org(arguments.pop("name"), **arguments)
    assert not Organization.objects.exists()
    assert not get_user_model().objects.exists()


def test_create_org_refuses_a_taken_slug():
    create_org(
        "One", slug="taken", admin_email="1@x.example", admin_password="one-two-ledger"
    )
    with pytest.raises(CommandError, match="slug: Slug 'taken' is taken"):
        create_org(
            "Two",
            slug="taken",
            admin_email="2@x.example",
            admin_password="one-two-ledger",
        )
    assert Organization.objects.get(slug="taken").name == "One"
    assert not get_user_model().objects.filter(username="2@x.example").exists()


def test_create_org_requires_slug_and_admin():
    with pytest.raises(CommandError, match="--slug"):
        create_org(
            "Nameless", admin_email="a@x.example", admin_password="one-two-ledger"
        )


def test_verify_ledger_without_org_or_all_is_an_error():
    with pytest.raises(CommandError, match="one of the arguments --org --all"):
        call_command("verify_ledger")


def test_verify_ledger_refuses_org_and_all_together(org):
    with pytest.raises(CommandError, match="not allowed with"):
        call_command("verify_ledger", "--all", org=org.slug)


def test_verify_ledger_with_an_unknown_org_is_an_error():
    with pytest.raises(CommandError, match="No organization 'ghost'"):
        call_command("verify_ledger", org="ghost")
