from django.urls import path

from reports import apis

urlpatterns = [
    path("reports/aging/", apis.AgingView.as_view(), name="api-aging"),
    path(
        "reports/aging/invoices/",
        apis.AgingInvoicesView.as_view(),
        name="api-aging-invoices",
    ),
    path("reports/forecast/", apis.ForecastView.as_view(), name="api-forecast"),
    path("reports/metrics/", apis.MetricsView.as_view(), name="api-metrics"),
    path(
        "reports/prediction-accuracy/",
        apis.PredictionAccuracyView.as_view(),
        name="api-prediction-accuracy",
    ),
]
