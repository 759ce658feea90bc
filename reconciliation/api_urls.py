from django.urls import path
from rest_framework.routers import SimpleRouter

from reconciliation import apis, bank_apis

router = SimpleRouter()
router.register("payments", apis.PaymentViewSet, basename="payment")
router.register("allocations", apis.AllocationViewSet, basename="allocation")
router.register("write-offs", apis.WriteOffViewSet, basename="write-off")
router.register("bank-accounts", bank_apis.BankAccountViewSet, basename="bank-account")
router.register(
    "bank-statements", bank_apis.BankStatementViewSet, basename="bank-statement"
)
router.register(
    "bank-statement-jobs", bank_apis.StatementJobViewSet, basename="bank-statement-job"
)
router.register(
    "statement-lines", bank_apis.StatementLineViewSet, basename="statement-line"
)
router.register(
    "customer-bank-accounts",
    bank_apis.CustomerBankAccountViewSet,
    basename="customer-bank-account",
)

urlpatterns = [
    *router.urls,
    path(
        "reconciliation-settings/",
        bank_apis.ReconciliationSettingsView.as_view(),
        name="reconciliation-settings",
    ),
]
