from django.apps import AppConfig


class CollectingConfig(AppConfig):
    name = "collecting"

    def ready(self):
        from collecting import signals  # noqa: F401
