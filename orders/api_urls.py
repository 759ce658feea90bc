from rest_framework.routers import SimpleRouter

from orders import apis

router = SimpleRouter()
router.register("payment-terms", apis.PaymentTermViewSet, basename="payment-term")
router.register("customers", apis.CustomerViewSet, basename="customer")
router.register("items", apis.ItemViewSet, basename="item")
router.register("orders", apis.SalesOrderViewSet, basename="order")
router.register("fulfillments", apis.FulfillmentViewSet, basename="fulfillment")

urlpatterns = router.urls
