from django.urls import path

from reconciliation import bank_views, desk_views, views

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
    path("payments/new/", desk_views.payment_create, name="payment-new"),
    path("payments/<int:pk>/", desk_views.payment_detail_page, name="payment"),
    path(
        "payments/<int:pk>/reverse/",
        desk_views.payment_reverse,
        name="payment-reverse",
    ),
    path(
        "allocations/<int:pk>/reverse/",
        desk_views.allocation_reverse,
        name="allocation-reverse",
    ),
    path(
        "customers/<int:pk>/apply-cash/",
        desk_views.apply_cash,
        name="customer-apply-cash",
    ),
    path(
        "invoices/<int:pk>/write-off/",
        desk_views.write_off_create,
        name="invoice-write-off",
    ),
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
