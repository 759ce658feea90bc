from rest_framework.routers import SimpleRouter

from reconciliation import apis

router = SimpleRouter()
router.register("payments", apis.PaymentViewSet, basename="payment")
router.register("allocations", apis.AllocationViewSet, basename="allocation")
router.register("write-offs", apis.WriteOffViewSet, basename="write-off")

urlpatterns = router.urls
