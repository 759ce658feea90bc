from django.urls import path

from orders import views

# Verb-first names for actions: the API router already names
# "order-confirm", "invoice-void"… ({basename}-{action}).
urlpatterns = [
    path("customers/new/", views.customer_create, name="customer-new"),
    path("customers/pick/", views.customer_picker, name="customer-picker"),
    path("customers/picked/", views.customer_picked, name="customer-picked"),
    path("customers/<int:pk>/", views.customer_detail_page, name="customer"),
    path("customers/<int:pk>/edit/", views.customer_edit, name="customer-edit"),
    path(
        "customers/<int:pk>/contacts/", views.contact_add, name="customer-contact-add"
    ),
    path(
        "customers/<int:pk>/contacts/<int:contact_pk>/",
        views.contact_edit,
        name="customer-contact-edit",
    ),
    path(
        "customers/<int:pk>/contacts/<int:contact_pk>/remove/",
        views.contact_remove,
        name="customer-contact-remove",
    ),
    path("settings/payment-terms/", views.payment_terms_page, name="payment-terms"),
    path(
        "settings/payment-terms/new/",
        views.payment_term_create,
        name="payment-term-new",
    ),
    path(
        "settings/payment-terms/<int:pk>/edit/",
        views.payment_term_edit,
        name="payment-term-edit",
    ),
    path("catalog/options/", views.catalog_options, name="catalog-options"),
    path("orders/", views.order_list, name="orders"),
    path("orders/new/", views.order_create, name="order-new"),
    path("orders/<int:pk>/", views.order_detail_page, name="order"),
    path("orders/<int:pk>/confirm/", views.order_confirm, name="confirm-order"),
    path("orders/<int:pk>/cancel/", views.order_cancel, name="cancel-order"),
    path("orders/<int:pk>/ship/", views.shipment_create, name="order-ship"),
    path(
        "shipments/<int:pk>/deliver/",
        views.fulfillment_deliver,
        name="shipment-deliver",
    ),
]
