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


@shared_task(name="invoicing.send_invoice_deliveries", acks_late=True)
@tenant_task
def send_invoice_deliveries(organization_id: int, delivery_ids: list[int]) -> None:
    """Enqueue the sending of each of a batch's deliveries: one task each, so the
    workers send them side by side and each is retried on its own."""
    for delivery_id in delivery_ids:
        send_invoice_delivery.delay(organization_id, delivery_id)
