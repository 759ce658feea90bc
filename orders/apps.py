from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self):
        from o2c.api.serializers import representations
        from o2c.webhooks import register_event_object
        from orders import apis
        from orders.models import Customer

        # As the REST API shows a customer (GET /customers/{id}/).
        register_event_object(
            Customer, "customer", representations(apis.CustomerOutput)
        )
