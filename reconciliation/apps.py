from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self):
        from invoicing.references import register_pay_to_provider
        from o2c.checks import register_ledger_check
        from reconciliation import checks, selectors

        register_ledger_check(checks.check_payments)
        register_ledger_check(checks.check_discounts)
        register_pay_to_provider(selectors.default_pay_to)
        _register_event_objects()


def _register_event_objects():
    """Events show payments, allocations and write-offs as the REST API does."""
    from o2c.api.serializers import representations
    from o2c.webhooks import register_event_object
    from reconciliation import apis
    from reconciliation.models import Allocation, Payment, WriteOff

    for model, name, serializer in [
        (Payment, "payment", apis.PaymentOutput),
        (Allocation, "allocation", apis.AllocationOutput),
        (WriteOff, "write_off", apis.WriteOffOutput),
    ]:
        register_event_object(model, name, representations(serializer))
