from django.urls import path

from invoicing.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/status/", views.import_status, name="status"),
    path("templates/<slug:kind>.csv", views.import_template, name="template"),
]
