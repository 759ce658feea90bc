from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self):
        from o2c.checks import register_ledger_check
        from reports import checks

        register_ledger_check(checks.check_compaction)
