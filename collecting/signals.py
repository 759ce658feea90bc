"""Keep the queue current when money moves: an invoice's status changing (paid,
partially paid, reopened) or an allocation being written refreshes its
customer's accounts, through a task enqueued once the transaction commits.

Allocations live in ``reconciliation``, above which this app must not reach: the
receiver is connected by the model's label, without importing it.
"""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from invoicing.models import Invoice


def _enqueue_refresh(organization_id: int, customer_id: int) -> None:
    from collecting.tasks import refresh_account

    def enqueue():
        refresh_account.delay(organization_id, customer_id)

    transaction.on_commit(enqueue, robust=True)


@receiver(post_save, sender=Invoice, dispatch_uid="collecting_invoice_status")
def invoice_status_changed(sender, instance, created, update_fields=None, **kwargs):
    if created or (update_fields is not None and "status" not in update_fields):
        return
    _enqueue_refresh(instance.organization_id, instance.customer_id)


@receiver(
    post_save, sender="reconciliation.Allocation", dispatch_uid="collecting_allocation"
)
def allocation_saved(sender, instance, created, **kwargs):
    if created:
        _enqueue_refresh(instance.organization_id, instance.invoice.customer_id)
