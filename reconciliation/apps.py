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
