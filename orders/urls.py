from django.urls import path

from orders import views

urlpatterns = [
    path("customers/<int:pk>/", views.customer_detail_page, name="customer"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:pk>/", views.order_detail_page, name="order"),
]
