"""Background work of the portal: sign-in links, looked up and sent away from
the request, so its answer (and its time) says nothing about the address."""

from __future__ import annotations

import logging
from email.utils import formataddr, parseaddr

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from invoicing.models import PortalAccess
from invoicing.portal import SIGN_IN_MINUTES, portal_link_issue
from o2c.document_language import speaking
from o2c.models import Organization
from o2c.tenancy import all_tenants, tenant_context
from orders.models import Contact, Customer

logger = logging.getLogger(__name__)
MAX_LINKS = 5  # one address known at many customers gets at most this many


@shared_task(
    name="portal.send_sign_in_links", acks_late=True, soft_time_limit=60, time_limit=120
)
def send_sign_in_links(email: str) -> int:
    """Email a single-use sign-in link for each customer ``email`` is a known
    address of (the customer's own or a contact's), in any organization."""
    email = email.strip().lower()
    with all_tenants():
        pairs = set(
            Contact.unscoped.filter(email__iexact=email).values_list(
                "organization_id", "customer_id"
            )
        )
        pairs |= set(
            Customer.unscoped.filter(email__iexact=email).values_list(
                "organization_id", "pk"
            )
        )
    sent = 0
    for organization_id, customer_id in sorted(pairs)[:MAX_LINKS]:
        organization = Organization.objects.get(pk=organization_id)
        with tenant_context(organization):
            customer = Customer.objects.get(pk=customer_id)
            _send(organization, customer, email)
            sent += 1
    return sent


def _send(organization: Organization, customer: Customer, email: str) -> None:
    link = portal_link_issue(
        customer=customer, kind=PortalAccess.Kind.SIGN_IN, email=email
    )
    with speaking(customer.language, organization):
        subject = render_to_string(
            "portal/email/sign_in_subject.txt", {"organization": organization}
        )
        body = render_to_string(
            "portal/email/sign_in.txt",
            {
                "organization": organization,
                "customer": customer,
                "link": link,
                "minutes": SIGN_IN_MINUTES,
            },
        )
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        from_email=formataddr((organization.name, sender)),
        to=[email],
    ).send()
