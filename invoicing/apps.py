from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    name = "invoicing"

    def ready(self):
        from invoicing import checks, selectors
        from o2c.checks import register_ledger_check
        from orders.services.credit import register_exposure_provider

        register_exposure_provider(selectors.customer_exposure)
        register_ledger_check(checks.check_invoices)
        _register_event_objects()


def _register_event_objects():
    """Events show invoices and credit notes as the REST API does (an invoice as
    listed: without its lines and instalments, which do not change once it is
    issued and would cost two reads per event, ``GET /invoices/{id}/`` has them;
    and without the nightly prediction, a score rather than part of the event)."""
    from invoicing import apis
    from invoicing.models import CreditNote, Invoice
    from o2c.api.serializers import representations
    from o2c.webhooks import register_event_object

    register_event_object(Invoice, "invoice", representations(apis.InvoiceEventOutput))
    register_event_object(
        CreditNote, "credit_note", representations(apis.CreditNoteOutput)
    )
