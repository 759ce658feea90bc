from django.urls import path
from django.views.generic import RedirectView

from reports import views

urlpatterns = [
    # The dashboard is the landing page; its old address keeps working.
    path("", views.dashboard_page, name="home"),
    path(
        "dashboard/",
        RedirectView.as_view(pattern_name="home", query_string=True),
        name="dashboard",
    ),
    path(
        "dashboard/forecast/",
        views.dashboard_forecast_panel,
        name="dashboard-forecast-panel",
    ),
    path(
        "dashboard/collections/",
        views.dashboard_collections_panel,
        name="dashboard-collections-panel",
    ),
    path("search/", views.search_page, name="search"),
    path("search/suggestions/", views.search_suggestions, name="search-suggestions"),
    path("reports/aging/", views.aging_page, name="aging"),
    path("reports/aging/invoices/", views.aging_invoices_page, name="aging-invoices"),
    path(
        "reports/forecast/invoices/",
        views.forecast_invoices_page,
        name="forecast-invoices",
    ),
    path("reports/metrics/", views.metrics_page, name="metrics"),
    path(
        "reports/prediction-accuracy/",
        views.prediction_accuracy_page,
        name="prediction-accuracy",
    ),
    path("reports/exports/", views.export_start, name="report-export"),
    path("reports/exports/<int:pk>/", views.export_job_page, name="report-export-job"),
    path(
        "reports/exports/<int:pk>/download/",
        views.export_download,
        name="report-export-download",
    ),
    path("reports/settings/buckets/", views.bucket_sets_page, name="aging-bucket-sets"),
    path(
        "customers/<int:pk>/history/",
        views.customer_history_page,
        name="customer-history",
    ),
    path(
        "customers/<int:pk>/statement/",
        views.customer_statement_page,
        name="customer-statement",
    ),
]
