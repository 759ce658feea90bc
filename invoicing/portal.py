"""Links into the customer portal: issued here, where invoice emails are sent,
and by collecting (notices) and reports (statements) through this module; read
by the ``portal`` app, which sits above every stage and is imported by none.

A token is 32 random bytes (:func:`secrets.token_urlsafe`); only its SHA-256 is
stored, so a copy of the database opens no portal. Links are built with
``reverse("portal:enter")`` by name and the public address ``O2C_PUBLIC_URL``.

How long a link works (:func:`access_is_valid`):

- from an invoice email: while the invoice is open, and for the organization's
  link lifetime (``PortalSettings.link_lifetime_days``) after it is settled;
- from a notice, a statement or issued by a person: while the customer has
  anything open, and for the lifetime after its last invoice was settled (or
  after the link was made, when nothing was ever open);
- a sign-in link: once, within :data:`SIGN_IN_MINUTES` minutes;
- never, once revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from invoicing.models import Invoice, PortalAccess, PortalSettings
from o2c.errors import DomainError
from o2c.services import Actor, audit_record
from o2c.tenancy import all_tenants, current_organization
from orders.models import Contact, Customer

SIGN_IN_MINUTES = 15
OPEN = (Invoice.Status.OPEN, Invoice.Status.PARTIALLY_PAID)


def portal_settings() -> PortalSettings:
    """The organization's portal settings, or the defaults when it has none."""
    found = PortalSettings.objects.first()
    return found or PortalSettings(organization=current_organization())


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_url(path: str) -> str:
    return settings.O2C_PUBLIC_URL.rstrip("/") + path


def portal_link_issue(
    *,
    customer: Customer,
    kind: str,
    invoice: Invoice | None = None,
    email: str = "",
) -> str:
    """A new link for ``customer`` (absolute URL). The raw token exists only in
    the returned link; each email carries its own."""
    token = secrets.token_urlsafe(32)
    PortalAccess.objects.create(
        organization=current_organization(),
        customer=customer,
        invoice=invoice,
        kind=kind,
        email=email,
        token_hash=token_hash(token),
        expires_at=timezone.now() + timedelta(minutes=SIGN_IN_MINUTES)
        if kind == PortalAccess.Kind.SIGN_IN
        else None,
    )
    view = (
        "portal:sign-in-link" if kind == PortalAccess.Kind.SIGN_IN else "portal:enter"
    )
    return public_url(reverse(view, args=[token]))


def access_for_token(token: str) -> PortalAccess | None:
    """The access a raw token names, in whichever organization, or None. The
    caller checks :func:`access_is_valid` inside that organization."""
    if not token or len(token) > 100:
        return None
    with all_tenants():
        return (
            PortalAccess.unscoped.select_related("organization", "customer")
            .filter(token_hash=token_hash(token))
            .first()
        )


def access_is_valid(access: PortalAccess, *, for_entry: bool = True) -> bool:
    """Whether ``access`` still opens the portal (in its organization's context).
    ``for_entry``: a single-use link not yet used; else (a session it opened)
    only revocation and the settlement rule count."""
    now = timezone.now()
    if access.revoked_at is not None:
        return False
    if access.single_use:
        if not for_entry:
            return True
        return access.used_at is None and access.expires_at > now
    if access.expires_at is not None and access.expires_at <= now:
        return False
    lifetime = timedelta(days=portal_settings().link_lifetime_days)
    today = current_organization().today()
    if access.invoice_id is not None:
        invoice = Invoice.objects.filter(pk=access.invoice_id).first()
        if invoice is None or invoice.status == Invoice.Status.VOID:
            return False
        if invoice.status in OPEN or invoice.settled_date is None:
            return True
        return today <= invoice.settled_date + lifetime
    invoices = Invoice.objects.filter(customer_id=access.customer_id)
    if invoices.filter(status__in=OPEN).exists():
        return True
    last_settled = invoices.aggregate(last=Max("settled_date"))["last"]
    created = timezone.localtime(access.created_at, current_organization().tzinfo)
    start = max(filter(None, [last_settled, created.date()]))
    return today <= start + lifetime


@transaction.atomic
def access_mark_used(access: PortalAccess) -> bool:
    """Record a use; for a sign-in link, claim it (False if already claimed)."""
    now = timezone.now()
    if access.single_use:
        claimed = PortalAccess.objects.filter(
            pk=access.pk, used_at__isnull=True
        ).update(used_at=now, last_used_at=now)
        return claimed == 1
    PortalAccess.objects.filter(pk=access.pk).update(last_used_at=now)
    return True


@transaction.atomic
def portal_access_revoke(*, customer: Customer, actor: Actor) -> int:
    """Revoke every link of ``customer`` (a contact left, a link was forwarded)."""
    revoked = PortalAccess.objects.filter(
        customer=customer, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    audit_record(
        actor=actor, obj=customer, action="portal_revoked", data={"links": revoked}
    )
    return revoked


def known_addresses(customer: Customer) -> set[str]:
    """The addresses a sign-in link may go to: the customer's and its contacts'."""
    addresses = {customer.email.lower()} if customer.email else set()
    addresses |= {
        email.lower()
        for email in Contact.objects.filter(customer=customer)
        .exclude(email="")
        .values_list("email", flat=True)
    }
    return addresses


def customers_with_address(email: str) -> list[Customer]:
    """The current organization's customers ``email`` is known for."""
    email = email.strip().lower()
    if not email:
        return []
    ids = set(
        Contact.objects.filter(email__iexact=email).values_list(
            "customer_id", flat=True
        )
    )
    ids |= set(
        Customer.objects.filter(email__iexact=email).values_list("pk", flat=True)
    )
    return list(Customer.objects.filter(pk__in=ids).order_by("pk"))


SETTINGS_FIELDS = (
    "offer_pay",
    "offer_dispute",
    "offer_promise",
    "offer_remittance",
    "promise_window_days",
    "link_lifetime_days",
)
LIMITS = {"promise_window_days": (1, 365), "link_lifetime_days": (1, 3650)}


@transaction.atomic
def portal_settings_update(*, actor: Actor, **values) -> PortalSettings:
    """Change what the portal offers; a number out of range names its field."""
    row = portal_settings()
    before = {name: getattr(row, name) for name in SETTINGS_FIELDS}
    for name, value in values.items():
        if name not in SETTINGS_FIELDS:
            raise DomainError("unknown_field", f"Unknown setting {name!r}.", field=name)
        if name in LIMITS:
            low, high = LIMITS[name]
            try:
                value = int(value)
            except (TypeError, ValueError):
                value = None
            if value is None or not low <= value <= high:
                raise DomainError(
                    "invalid",
                    gettext("Enter a whole number from %(low)s to %(high)s.")
                    % {"low": low, "high": high},
                    field=name,
                )
        elif not isinstance(value, bool):
            raise DomainError("invalid", "Must be true or false.", field=name)
        setattr(row, name, value)
    row.save()
    after = {name: getattr(row, name) for name in SETTINGS_FIELDS}
    changes = {
        name: [before[name], after[name]]
        for name in SETTINGS_FIELDS
        if before[name] != after[name]
    }
    if changes:
        audit_record(actor=actor, obj=row, action="updated", data={"changes": changes})
    return row
