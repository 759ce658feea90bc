from django.urls import path
from rest_framework.routers import SimpleRouter

from collecting import apis

router = SimpleRouter()
router.register("dunning-policies", apis.PolicyViewSet, basename="dunning-policy")
router.register("dunning-steps", apis.StepViewSet, basename="dunning-step")
router.register("dunning-runs", apis.RunViewSet, basename="dunning-run")
router.register("notices", apis.NoticeViewSet, basename="notice")
router.register("activities", apis.ActivityViewSet, basename="activity")
router.register("promises", apis.PromiseViewSet, basename="promise")
router.register("disputes", apis.DisputeViewSet, basename="dispute")
router.register("payment-plans", apis.PlanViewSet, basename="payment-plan")
router.register("worklist", apis.WorklistViewSet, basename="worklist")
router.register("email-templates", apis.EmailTemplateViewSet, basename="email-template")
router.register(
    "webhook-endpoints", apis.WebhookEndpointViewSet, basename="webhook-endpoint"
)
router.register(
    "webhook-deliveries", apis.WebhookDeliveryViewSet, basename="webhook-delivery"
)
router.register(
    "email-provider-endpoints",
    apis.EmailProviderEndpointViewSet,
    basename="email-provider-endpoint",
)
router.register("email-events", apis.EmailEventViewSet, basename="email-event")
router.register(
    "suppressed-addresses",
    apis.SuppressedAddressViewSet,
    basename="suppressed-address",
)

urlpatterns = [
    path(
        "customers/<int:pk>/timeline/",
        apis.CustomerTimelineView.as_view(),
        name="customer-timeline",
    ),
    path(
        "customers/<int:pk>/collection/",
        apis.AccountView.as_view(),
        name="customer-collection",
    ),
    path(
        "customers/<int:pk>/emails/",
        apis.CustomerEmailView.as_view(),
        name="customer-emails",
    ),
    path(
        "collecting-settings/", apis.SettingsView.as_view(), name="collecting-settings"
    ),
    *router.urls,
]
