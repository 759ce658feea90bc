"""Inbound webhooks of email providers (mounted at ``/hooks/email/``)."""

from django.urls import path

from collecting import inbound

urlpatterns = [
    path(
        "<str:provider>/<str:token>/",
        inbound.email_events_view,
        name="email-provider-events",
    ),
]
