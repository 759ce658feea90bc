from django.urls import path

from invoicing import email_views, views

urlpatterns = [
    path(
        "customers/<int:pk>/account/",
        views.customer_account,
        name="customer-account-panel",
    ),
    path(
        "customers/<int:pk>/portal/",
        views.customer_portal_panel,
        name="customer-portal-panel",
    ),
    path(
        "customers/<int:pk>/portal/revoke/",
        views.customer_portal_revoke,
        name="customer-portal-revoke",
    ),
    path("receivables/summary/", views.receivables_panel, name="receivables-panel"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/new/", views.invoice_create, name="invoice-new"),
    path(
        "invoices/email-text/",
        email_views.invoice_email_texts,
        name="invoice-email-texts",
    ),
    path(
        "invoices/email-text/preview/",
        email_views.invoice_email_preview,
        name="invoice-email-preview",
    ),
    path(
        "preview-customers/",
        email_views.preview_customers,
        name="preview-customers",
    ),
    path("invoices/<int:pk>/edit/", views.invoice_edit, name="invoice-edit"),
    path("invoices/<int:pk>/issue/", views.invoice_issue, name="issue-invoice"),
    path("invoices/<int:pk>/void/", views.invoice_void, name="void-invoice"),
    path(
        "invoices/<int:pk>/credit/",
        views.credit_note_create,
        name="invoice-credit-note-new",
    ),
    path(
        "orders/<int:pk>/invoice/",
        views.order_invoice_create,
        name="order-invoice-new",
    ),
    path("invoices/<int:pk>/", views.invoice_detail_page, name="invoice"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice-pdf"),
    path("credit-notes/<int:pk>/pdf/", views.credit_note_pdf, name="credit-note-pdf"),
    path(
        "orders/<int:pk>/invoices/",
        views.order_invoices_panel,
        name="order-invoices-panel",
    ),
]
