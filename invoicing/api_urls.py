from django.urls import path
from rest_framework.routers import SimpleRouter

from invoicing import apis

router = SimpleRouter()
router.register("invoices", apis.InvoiceViewSet, basename="invoice")
router.register("credit-notes", apis.CreditNoteViewSet, basename="credit-note")
router.register("ledger-entries", apis.LedgerEntryViewSet, basename="ledger-entry")

urlpatterns = [
    path(
        "customers/<int:pk>/balance/",
        apis.CustomerBalanceView.as_view(),
        name="customer-balance",
    ),
    path(
        "portal-settings/",
        apis.PortalSettingsView.as_view(),
        name="portal-settings-api",
    ),
    *router.urls,
]
