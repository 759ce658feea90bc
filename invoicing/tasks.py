"""Background work of invoicing: emailing issued documents."""

from celery import shared_task

from invoicing.services.delivery import delivery_send
from o2c.tasks import tenant_task


# Rendering takes well under a second and SMTP gives up after EMAIL_TIMEOUT, so a
# task still running after minutes is stuck: the soft limit records the delivery
# failed; the hard limit kills it and leaves it "sending", for a person.
@shared_task(
    name="invoicing.send_invoice_delivery",
    acks_late=True,
    soft_time_limit=120,
    time_limit=180,
)
@tenant_task
def send_invoice_delivery(organization_id: int, delivery_id: int) -> None:
    """Send one pending invoice or credit-note email; a no-op once claimed."""
    delivery_send(delivery_id=delivery_id)
