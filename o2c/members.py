"""Members of an organization: invite by email with a role, change a role, remove.

An invited person who has no account gets one with an unusable password and an
email with a link to set it (Django's password-reset token: single use, it stops
working once the password is set, and expires after ``PASSWORD_RESET_TIMEOUT``).
Someone who already has an account elsewhere is added and told by email.

An organization always keeps at least one admin: the last one can be neither
removed nor given another role. The admins' rows are locked while this is checked,
so two admins removing each other at the same moment cannot both succeed.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from o2c.errors import ConflictError, DomainError
from o2c.models import Membership, Organization, Role
from o2c.services import Actor, audit_record


def _role(value: str) -> str:
    if value not in Role.values:
        raise DomainError(
            "invalid_choice",
            _("Choose a role: %(roles)s.")
            % {"roles": ", ".join(label for _, label in Role.choices)},
            field="role",
        )
    return value


def _email(value: str) -> str:
    email = (value or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise DomainError(
            "invalid_email",
            _("'%(value)s' is not an email address.") % {"value": value},
            field="email",
        ) from None
    return email


@transaction.atomic
def member_invite(
    *, organization: Organization, email: str, role: str, actor: Actor
) -> Membership:
    """Add the person with ``email`` to ``organization``; send the email after
    commit with :func:`invitation_send`."""
    email, role = _email(email), _role(role)
    users = get_user_model().objects
    user = users.filter(username__iexact=email).first()
    if user is None:
        user = users.filter(email__iexact=email).first()
    if user is None:
        user = users.create_user(username=email, email=email)  # unusable password
    elif Membership.objects.filter(organization=organization, user=user).exists():
        raise ConflictError(
            "duplicate",
            _("%(email)s is already a member.") % {"email": email},
            field="email",
        )
    membership = Membership.objects.create(
        organization=organization, user=user, role=role
    )
    audit_record(
        actor=actor,
        obj=membership,
        action="member_invited",
        to_status=role,
        data={"email": email},
    )
    return membership


def needs_password(membership: Membership) -> bool:
    """Invited and not signed in yet: the invitation can be sent again."""
    return not membership.user.has_usable_password()


def invitation_send(*, membership: Membership, site_url: str, actor: Actor) -> str:
    """Email the invitation (a set-password link while the person has none);
    returns the address. SMTP errors reach the caller, who offers to resend."""
    user, organization = membership.user, membership.organization
    site_url = site_url.rstrip("/")
    link = site_url + reverse("login")
    if needs_password(membership):
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        link = site_url + reverse("set-password", args=[uid, token])
    context = {
        "organization": organization,
        "role": membership.get_role_display(),
        "invited_by": actor.label,
        "link": link,
        "needs_password": needs_password(membership),
    }
    message = EmailMessage(
        subject=f"You are invited to {organization.name} on O2C",
        body=render_to_string("o2c/email/invitation.txt", context),
        to=[user.email or user.username],
    )
    message.send()
    audit_record(
        actor=actor,
        obj=membership,
        action="invitation_sent",
        data={"email": message.to[0]},
    )
    return message.to[0]


@transaction.atomic
def member_role_change(*, membership: Membership, role: str, actor: Actor):
    role = _role(role)
    locked = _locked_with_admins(membership)
    if locked.role == role:
        return locked
    if locked.role == Role.ADMIN:
        _keep_an_admin(
            locked,
            _(
                "You cannot give the last admin another role: make another member "
                "admin first."
            ),
        )
    previous = locked.role
    locked.role = role
    locked.save(update_fields=["role"])
    audit_record(
        actor=actor,
        obj=locked,
        action="member_role_changed",
        from_status=previous,
        to_status=role,
        data={"user": locked.user.get_username()},
    )
    return locked


@transaction.atomic
def member_remove(*, membership: Membership, actor: Actor) -> None:
    """Take the person out of the organization; their account and what they did
    (audit events, activities) stay."""
    locked = _locked_with_admins(membership)
    if locked.role == Role.ADMIN:
        _keep_an_admin(
            locked,
            _("You cannot remove the last admin: make another member admin first."),
        )
    audit_record(
        actor=actor,
        obj=locked,
        action="member_removed",
        from_status=locked.role,
        data={"user": locked.user.get_username()},
    )
    locked.delete()


def _locked_with_admins(membership: Membership) -> Membership:
    """Lock the organization's admins (and the member), then re-read the member."""
    list(
        Membership.objects.select_for_update()
        .filter(organization_id=membership.organization_id, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("user", "organization")
        .get(pk=membership.pk, organization_id=membership.organization_id)
    )


def _keep_an_admin(membership: Membership, refusal: str) -> None:
    others = (
        Membership.objects.filter(
            organization_id=membership.organization_id, role=Role.ADMIN
        )
        .exclude(pk=membership.pk)
        .exists()
    )
    if not others:
        raise ConflictError(
            "last_admin",
            refusal,
            field="role",
        )
