"""REST API of imports: upload a file (202 + job), then poll the job.

``POST /api/v1/imports/`` takes multipart form data: ``file`` (CSV or XLSX),
``kind`` (``invoices`` or ``customers``), optionally ``date_format`` and, for
invoices, ``customers_file``. The answer is the queued job; ``GET
/api/v1/imports/{id}/`` reports its progress and, once finished, its result counts
or its errors (each with ``line``, ``column``, ``message``).
"""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse

from invoicing.imports import selectors, services
from invoicing.imports.parsing import DATE_FORMATS, ISO, RowError
from o2c.api.base import TenantViewSet
from o2c.api.serializers import ModelSerializer, Serializer
from o2c.models import Job
from o2c.roles import role_can


class ImportInput(Serializer):
    file = serializers.FileField(help_text="CSV (UTF-8) or XLSX, at most 20 MB.")
    kind = serializers.ChoiceField(choices=list(services.JOB_KINDS))
    date_format = serializers.ChoiceField(
        choices=list(DATE_FORMATS),
        default=ISO,
        help_text="How dates are written; ISO (YYYY-MM-DD) is always accepted.",
    )
    customers_file = serializers.FileField(
        required=False,
        help_text="Invoices only: customers to create first, in the same import.",
    )


class ImportJobListOutput(ModelSerializer):
    kind = serializers.SerializerMethodField()
    percent = serializers.IntegerField(read_only=True)
    date_format = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "url", "kind", "status", "progress", "total", "percent",
            "input_name", "input_sha256", "date_format", "result", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip

    def get_kind(self, job) -> str:
        return services.kind_of(job)

    def get_date_format(self, job) -> str:
        return job.parameters.get("date_format", ISO)

    def get_url(self, job) -> str:
        return reverse(
            "import-detail", args=[job.pk], request=self.context.get("request")
        )


class ImportErrorOutput(Serializer):
    line = serializers.IntegerField(allow_null=True, help_text="Header is line 1.")
    column = serializers.CharField(help_text="As named in the file.")
    message = serializers.CharField()
    source = serializers.CharField(
        required=False, help_text="The file or sheet, when the import read several."
    )
    text = serializers.CharField(help_text='e.g. line 4, column "amount": …')


class ImportJobOutput(ImportJobListOutput):
    errors = serializers.SerializerMethodField()

    class Meta(ImportJobListOutput.Meta):
        fields = [*ImportJobListOutput.Meta.fields, "errors"]

    @extend_schema_field(ImportErrorOutput(many=True))
    def get_errors(self, job) -> list[dict]:
        return [error | {"text": str(RowError(**error))} for error in job.errors or []]


class ImportJobFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(
        choices=[(kind, kind) for kind in services.JOB_KINDS], method="filter_kind"
    )
    status = django_filters.ChoiceFilter(choices=Job.Status.choices)

    class Meta:
        model = Job
        fields = []

    def filter_kind(self, queryset, name, value):
        return queryset.filter(kind=services.JOB_KINDS[value])


class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    # A file travels in multipart only; a form-encoded body has none (415).
    parser_classes = [MultiPartParser]
    filterset_class = ImportJobFilter
    # Uploading needs "bill" (invoices) or "manage_customers" (customers); which
    # one depends on the body, so ``create`` checks it once the kind is known.
    capabilities = {"create": "view"}

    def get_queryset(self):
        return selectors.import_jobs()

    def get_serializer_class(self):
        return ImportJobListOutput if self.action == "list" else ImportJobOutput

    @extend_schema(request=ImportInput, responses={202: ImportJobOutput})
    def create(self, request):
        data = ImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        kind = data.validated_data["kind"]
        if not role_can(request.o2c_role, services.KIND_CAPABILITY[kind]):
            raise exceptions.PermissionDenied(f"Your role cannot import {kind}.")
        job = services.import_job_create(actor=self.actor, **data.validated_data)
        body = ImportJobOutput(job, context={"request": request}).data
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
        )
