from django.conf import settings
from django.conf.urls.static import static
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from o2c import pages, signin, views

api_v1 = [
    path("", include("o2c.api_urls")),
    path("", include("orders.api_urls")),
    path("", include("invoicing.api_urls")),
    path("", include("reconciliation.api_urls")),
    path("imports/", include("invoicing.imports.api_urls")),
    path("", include("collecting.api_urls")),
    path("", include("reports.api_urls")),
]

settings_pages = [
    path(
        "organization/",
        pages.organization_settings_page,
        name="organization-settings",
    ),
    path("organization/logo/", pages.organization_logo, name="organization-logo"),
    path(
        "organization/logo/upload/",
        pages.organization_logo_upload,
        name="organization-logo-upload",
    ),
    path("members/", pages.members_page, name="members"),
    path("members/invite/", pages.member_invite, name="member-invite"),
    path("members/<int:pk>/role/", pages.member_role, name="member-role"),
    path("members/<int:pk>/remove/", pages.member_remove, name="member-remove"),
    path("members/<int:pk>/resend/", pages.member_resend, name="member-resend"),
    path("members/<int:pk>/unlock/", pages.member_unlock, name="member-unlock"),
    path("audit-log/", pages.audit_log_page, name="audit-log"),
    path("security/", signin.security_page, name="security"),
    path(
        "security/authenticator/",
        signin.security_totp_start,
        name="security-totp-start",
    ),
    path(
        "security/authenticator/confirm/",
        signin.security_totp_confirm,
        name="security-totp-confirm",
    ),
    path("security/disable/", signin.security_disable, name="security-disable"),
    path("portal/", include("portal.settings_urls")),
    path("api-keys/", pages.api_keys_page, name="api-keys"),
    path("api-keys/create/", pages.api_key_create, name="api-key-create"),
    path("api-keys/<str:prefix>/revoke/", pages.api_key_revoke, name="api-key-revoke"),
]

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="o2c/login.html"),
        name="login",
    ),
    path("login/code/", signin.sign_in_code, name="login-verify"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("switch-organization/", views.switch_organization, name="switch_organization"),
    path(
        "set-password/<uidb64>/<token>/",
        pages.SetPasswordView.as_view(),
        name="set-password",
    ),
    path("settings/", include(settings_pages)),
    path("fx-rates/", pages.fx_rates_page, name="fx-rates"),
    path("fx-rates/add/", pages.fx_rate_add, name="fx-rate-add"),
    path("fx-rates/upload/", pages.fx_rates_upload, name="fx-rates-upload"),
    path("fx-rates/<int:pk>/", pages.fx_rate_edit, name="fx-rate-edit"),
    path("fx-rates/<int:pk>/delete/", pages.fx_rate_delete, name="fx-rate-delete"),
    path("", include("orders.urls")),
    path("", include("invoicing.urls")),
    path("", include("reconciliation.urls")),
    path("imports/", include("invoicing.imports.urls")),
    path("", include("collecting.urls")),
    path("", include("reports.urls")),
    path("portal/", include("portal.urls")),
    path("api/v1/", include(api_v1)),
    path("hooks/email/", include("collecting.hook_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema"),
        name="api-docs",
    ),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "o2c.views.bad_request"
handler403 = "o2c.views.permission_denied"
handler404 = "o2c.views.not_found"
handler500 = "o2c.views.server_error"
