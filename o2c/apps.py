from django.apps import AppConfig


class O2CConfig(AppConfig):
    name = "o2c"
    verbose_name = "O2C platform"

    def ready(self):
        from o2c import rls  # noqa: F401  (registers the row-level security check)
        from o2c.api import schema  # noqa: F401  (registers the OpenAPI extensions)
