from django.apps import AppConfig


class InvoicingConfig(AppConfig):
    name = "invoicing"

    def ready(self):
        from invoicing import checks, selectors
        from o2c.checks import register_ledger_check
        from orders.services.credit import register_exposure_provider

        register_exposure_provider(selectors.customer_exposure)
        register_ledger_check(checks.check_invoices)
