from django.urls import path

from reconciliation import bank_views, views

urlpatterns = [
    path("bank/accounts/", bank_views.bank_account_list, name="bank-accounts"),
    path("bank/statements/", bank_views.statement_upload, name="bank-statements"),
    path(
        "bank/statements/jobs/<int:pk>/",
        bank_views.statement_job,
        name="bank-statement-job",
    ),
    path("bank/queue/", bank_views.bank_queue, name="bank-queue"),
    path(
        "bank/lines/<int:pk>/invoices/",
        bank_views.line_invoice_search,
        name="bank-line-invoices",
    ),
    path(
        "bank/lines/<int:pk>/<slug:action>/",
        bank_views.line_action,
        name="bank-line-action",
    ),
    path("customers/", views.customer_list, name="customers"),
    path("payments/", views.payment_list, name="payments"),
    path("payments/<int:pk>/", views.payment_detail_page, name="payment"),
    path(
        "customers/<int:pk>/payments/",
        views.customer_payments_panel,
        name="customer-payments-panel",
    ),
    path(
        "invoices/<int:pk>/settlements/",
        views.invoice_settlements_panel,
        name="invoice-settlements-panel",
    ),
]
