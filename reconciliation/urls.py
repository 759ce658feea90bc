from django.urls import path

from reconciliation import views

urlpatterns = [
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
