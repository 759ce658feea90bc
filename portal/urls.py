from django.urls import path

from portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("t/<str:token>/", views.enter, name="enter"),
    path("sign-in/", views.sign_in, name="sign-in"),
    path("sign-in/<str:token>/", views.sign_in_link, name="sign-in-link"),
    path("sign-out/", views.sign_out, name="sign-out"),
    path("invoices/<int:pk>/", views.invoice_detail, name="invoice"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice-pdf"),
    path("invoices/<int:pk>/qr.png", views.invoice_qr, name="invoice-qr"),
    path("invoices/<int:pk>/dispute/", views.dispute, name="dispute"),
    path("invoices/<int:pk>/promise/", views.promise, name="promise"),
    path("credit-notes/<int:pk>/pdf/", views.credit_note_pdf, name="credit-note-pdf"),
    path("statement/", views.statement_download, name="statement"),
    path("remittance/", views.remittance, name="remittance"),
    path("logo/", views.logo, name="logo"),
]
