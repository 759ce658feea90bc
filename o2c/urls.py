from django.conf import settings
from django.conf.urls.static import static
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from o2c import views

api_v1 = [
    path("", include("o2c.api_urls")),
    path("", include("orders.api_urls")),
    path("", include("invoicing.api_urls")),
    path("", include("reconciliation.api_urls")),
    path("imports/", include("invoicing.imports.api_urls")),
    path("", include("collecting.api_urls")),
    path("", include("reports.api_urls")),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="o2c/login.html"),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("switch-organization/", views.switch_organization, name="switch_organization"),
    path("", views.home, name="home"),
    path("", include("orders.urls")),
    path("", include("invoicing.urls")),
    path("", include("reconciliation.urls")),
    path("imports/", include("invoicing.imports.urls")),
    path("", include("collecting.urls")),
    path("", include("reports.urls")),
    path("api/v1/", include(api_v1)),
    path("hooks/email/", include("collecting.hook_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema"),
        name="api-docs",
    ),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler404 = "o2c.views.not_found"
handler500 = "o2c.views.server_error"
