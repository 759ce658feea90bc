from django.urls import path
from rest_framework.routers import SimpleRouter

from o2c import apis

router = SimpleRouter()
router.register("members", apis.MembershipViewSet, basename="member")
router.register("api-keys", apis.APIKeyViewSet, basename="api-key")
router.register("fx-rates", apis.FxRateViewSet, basename="fx-rate")
router.register("events", apis.EventViewSet, basename="event")

urlpatterns = [
    path("organization/", apis.OrganizationView.as_view(), name="organization"),
    *router.urls,
]
