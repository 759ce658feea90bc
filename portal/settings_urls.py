from django.urls import path

from portal import settings_views

urlpatterns = [
    path("", settings_views.portal_settings_page, name="portal-settings"),
]
