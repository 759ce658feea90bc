from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"

    def ready(self):
        from o2c.checks import register_ledger_check
        from reconciliation import checks

        register_ledger_check(checks.check_payments)
