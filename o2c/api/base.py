"""Base classes every API view derives from.

They bind the caller's organization and role right after authentication, run each
write in one transaction, and apply ``Idempotency-Key`` to POSTs. Lookups go
through the tenant-scoped managers, so another organization's id is simply not
found (404), never forbidden (403). Bodies are JSON: nested input (lines,
allocations) has no form encoding, and one content type keeps the schema honest.
"""

from django.db import transaction
from rest_framework import generics, viewsets
from rest_framework.views import APIView

from o2c.api import idempotency
from o2c.api.parsers import JSONParser
from o2c.api.schema import TenantAutoSchema
from o2c.middleware import active_membership
from o2c.models import OrganizationAPIKey
from o2c.services import Actor, request_transaction
from o2c.tenancy import activate, deactivate


class TenantAPIMixin:
    parser_classes = [JSONParser]
    schema = TenantAutoSchema()

    def dispatch(self, request, *args, **kwargs):
        self._tenant_token = None
        self._idempotency_record = None
        try:
            if request.method in ("GET", "HEAD", "OPTIONS"):
                return super().dispatch(request, *args, **kwargs)
            with request_transaction():
                response = super().dispatch(request, *args, **kwargs)
                if response.status_code >= 400:
                    # A refused write leaves nothing behind, not even the claim
                    # of its Idempotency-Key (DRF only rolls back ATOMIC_REQUESTS).
                    transaction.set_rollback(True)
                return response
        finally:
            if self._tenant_token is not None:
                deactivate(self._tenant_token)

    def perform_authentication(self, request):
        super().perform_authentication(request)
        organization, role, actor = None, None, None
        if isinstance(request.auth, OrganizationAPIKey):
            key = request.auth
            organization, role = key.organization, key.role
            actor = Actor(label=request.user.get_username(), role=role)
        else:
            # The middleware already found the session user's membership.
            membership = getattr(request._request, "membership", None)
            if membership is None or membership.user_id != request.user.pk:
                membership = active_membership(request._request)
            if membership is not None:
                organization, role = membership.organization, membership.role
                actor = Actor.for_member(membership)
        request.organization = organization
        request.o2c_role = role
        request.actor = actor
        self._tenant_token = activate(organization)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self._names_an_object():
            # Resolve the object named in the path before any input is read, so a
            # foreign or unknown id answers 404 whatever the body or query holds.
            self.get_object()
        key = idempotency.request_key(request)
        if key is not None:
            self._idempotency_record = idempotency.claim(request, key)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(self, "_idempotency_record", None)
        if record is not None and response.status_code < 400:
            idempotency.store(record, response)
        return response

    def _names_an_object(self) -> bool:
        if not isinstance(self, generics.GenericAPIView):
            return False
        return (self.lookup_url_kwarg or self.lookup_field) in self.kwargs

    def get_object(self):
        # initial() resolved it already; the view asks again. Services lock and
        # re-read what they change, so one read per request is enough.
        if getattr(self, "_path_object", None) is None:
            self._path_object = super().get_object()
        return self._path_object

    @property
    def actor(self) -> Actor:
        return self.request.actor


class TenantAPIView(TenantAPIMixin, APIView):
    pass


class TenantGenericAPIView(TenantAPIMixin, generics.GenericAPIView):
    pass


class TenantViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    pass
