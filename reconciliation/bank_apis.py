"""REST API of bank accounts, statement imports and the exceptions queue.

``POST /api/v1/bank-statements/`` takes multipart form data (``file``,
``bank_account``, optionally ``format``) and answers 202 with the import job;
``GET /api/v1/bank-statement-jobs/{id}/`` reports its progress and result, which
names the matching job that follows it. Statement lines are worked through
``statement-lines/{id}/apply/``, ``not-receivable/`` and ``undo/``.
"""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.reverse import reverse

from invoicing.models import Invoice
from o2c.api.base import TenantAPIView, TenantViewSet
from o2c.api.fields import MoneyField, TenantRelatedField
from o2c.api.filters import TenantIdFilter
from o2c.api.serializers import ModelSerializer, Serializer
from o2c.errors import DomainError
from o2c.models import Job
from orders.models import Customer
from reconciliation.models import (
    BankAccount,
    BankStatement,
    CustomerBankAccount,
    MatchSuggestion,
    ReconciliationSettings,
    StatementLine,
)
from reconciliation.services import bank_accounts, lines, matching, statements

# --- bank accounts --------------------------------------------------------------------


class BankAccountSerializer(ModelSerializer):
    class Meta:
        model = BankAccount
        fields = [
            "id", "name", "iban", "account_number", "bic", "routing_number",
            "currency", "is_default", "column_mapping", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]
        # Uniqueness is the service's to check (with a clear message); the
        # serializer's own validators would query without the partial index.
        validators = []
        extra_kwargs = {"iban": {"validators": []}}


class BankAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = BankAccountSerializer
    capability = "receive_cash"
    filterset_fields = ["currency", "is_default"]

    def get_queryset(self):
        return BankAccount.objects.all()

    @extend_schema(
        request=BankAccountSerializer, responses={201: BankAccountSerializer}
    )
    def create(self, request):
        data = BankAccountSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        account = bank_accounts.bank_account_save(
            actor=self.actor, **data.validated_data
        )
        return Response(
            BankAccountSerializer(account).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=BankAccountSerializer, responses=BankAccountSerializer)
    def partial_update(self, request, pk=None):
        account = self.get_object()
        data = BankAccountSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        account = bank_accounts.bank_account_save(
            bank_account=account, actor=self.actor, **data.validated_data
        )
        return Response(BankAccountSerializer(account).data)


# --- statements and their jobs --------------------------------------------------------


class StatementUploadInput(Serializer):
    file = serializers.FileField(help_text="camt.053/054, MT940, BAI2, CSV or XLSX.")
    bank_account = TenantRelatedField(BankAccount)
    format = serializers.ChoiceField(
        choices=list(statements.FORMATS),
        required=False,
        help_text="Default: recognised from the file.",
    )


class StatementJobOutput(ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "url", "kind", "status", "progress", "total", "percent",
            "input_name", "input_sha256", "result", "errors", "created_at",
            "started_at", "finished_at",
        ]  # fmt: skip

    def get_url(self, job) -> str:
        return reverse(
            "bank-statement-job-detail",
            args=[job.pk],
            request=self.context.get("request"),
        )


class BankStatementOutput(ModelSerializer):
    opening_balance = MoneyField(allow_null=True)
    closing_balance = MoneyField(allow_null=True)

    class Meta:
        model = BankStatement
        fields = [
            "id", "bank_account", "statement_id", "kind", "source_name",
            "file_format", "file_hash", "currency", "opening_balance",
            "closing_balance", "opening_date", "closing_date", "line_count",
            "new_line_count", "imported_at",
        ]  # fmt: skip


class BankStatementViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = BankStatementOutput
    # A file travels in multipart only; a form-encoded body has none (415).
    parser_classes = [MultiPartParser]
    capability = "receive_cash"
    filterset_fields = ["bank_account", "kind"]

    def get_queryset(self):
        return BankStatement.objects.order_by("-imported_at", "-id")

    @extend_schema(request=StatementUploadInput, responses={202: StatementJobOutput})
    def create(self, request):
        data = StatementUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        job = statements.statement_import_job_create(
            bank_account=values["bank_account"],
            file=values["file"],
            file_format=values.get("format"),
            actor=self.actor,
        )
        job.refresh_from_db()
        body = StatementJobOutput(job, context={"request": request}).data
        return Response(
            body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]}
        )


class StatementJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = StatementJobOutput
    filterset_fields = ["status", "kind"]

    def get_queryset(self):
        return Job.objects.filter(
            kind__in=[statements.IMPORT_JOB, matching.MATCH_JOB]
        ).order_by("-created_at", "-id")


# --- statement lines and the queue ----------------------------------------------------


class SuggestionOutput(ModelSerializer):
    customer_number = serializers.CharField(source="customer.number")
    customer_name = serializers.CharField(source="customer.name")

    class Meta:
        model = MatchSuggestion
        fields = [
            "id", "rank", "customer", "customer_number", "customer_name",
            "invoices", "confidence", "reasons", "action",
        ]  # fmt: skip


class StatementLineOutput(ModelSerializer):
    amount = MoneyField()
    suggestions = SuggestionOutput(many=True, read_only=True)
    payments = serializers.SerializerMethodField()

    class Meta:
        model = StatementLine
        fields = [
            "id", "statement", "bank_account", "booking_date", "value_date",
            "amount", "currency", "direction", "bank_reference", "entry_reference",
            "end_to_end_id", "remittance", "structured_reference", "payer_name",
            "payer_account", "payer_bic", "is_reversal", "status", "matched_by",
            "match_reason", "confidence", "customer", "payments",
            "reversed_line", "note", "suggestions", "created_at",
        ]  # fmt: skip

    def get_payments(self, line) -> list[int]:
        return [payment.pk for payment in line.payments.all()]


class StatementLineFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=StatementLine.Status.choices)
    queue = django_filters.BooleanFilter(
        method="filter_queue", label="Open lines (new or needs review)"
    )
    bank_account = TenantIdFilter(field_name="bank_account_id", model=BankAccount)
    statement = TenantIdFilter(field_name="statement_id", model=BankStatement)
    direction = django_filters.ChoiceFilter(choices=StatementLine.Direction.choices)
    booking_date_after = django_filters.DateFilter("booking_date", lookup_expr="gte")
    booking_date_before = django_filters.DateFilter("booking_date", lookup_expr="lte")

    class Meta:
        model = StatementLine
        fields = []

    def filter_queue(self, queryset, name, value):
        if value:
            return queryset.filter(status__in=StatementLine.OPEN)
        return queryset.exclude(status__in=StatementLine.OPEN)


class AllocationItem(Serializer):
    invoice = TenantRelatedField(Invoice)
    amount = MoneyField()


class ApplyInput(Serializer):
    suggestion = TenantRelatedField(
        MatchSuggestion, required=False, help_text="Take this suggestion as it is."
    )
    allocations = AllocationItem(
        many=True,
        required=False,
        help_text="Invoices (of one or several customers) and amounts.",
    )
    on_account = TenantRelatedField(
        Customer,
        required=False,
        help_text="The customer whose account takes what is not allocated.",
    )

    def validate(self, attrs):
        if not attrs.get("suggestion") and not (
            attrs.get("allocations") or attrs.get("on_account")
        ):
            raise serializers.ValidationError(
                "Give a suggestion, allocations or an on_account customer."
            )
        if attrs.get("suggestion") and (
            attrs.get("allocations") or attrs.get("on_account")
        ):
            raise serializers.ValidationError(
                "Give a suggestion or allocations, not both."
            )
        return attrs


class NotReceivableInput(Serializer):
    reason = serializers.CharField(max_length=300)


class StatementLineViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = StatementLineOutput
    filterset_class = StatementLineFilter
    capability = "receive_cash"

    def get_queryset(self):
        return StatementLine.objects.prefetch_related(
            "suggestions__customer", "payments"
        )

    @extend_schema(request=ApplyInput, responses=StatementLineOutput)
    @action(detail=True, methods=["post"])
    def apply(self, request, pk=None):
        """Apply the line: a suggestion, a split over invoices, or on account."""
        line = self.get_object()
        data = ApplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if values.get("suggestion"):
            line = matching.line_apply_suggestion(
                line=line, suggestion=values["suggestion"], actor=self.actor
            )
        else:
            line = lines.line_apply(
                line=line,
                allocations=[
                    lines.LineAllocation(item["invoice"], item["amount"])
                    for item in values.get("allocations", [])
                ],
                on_account=values.get("on_account"),
                reason="applied by hand",
                actor=self.actor,
            )
        return Response(self._output(line))

    @extend_schema(request=NotReceivableInput, responses=StatementLineOutput)
    @action(detail=True, methods=["post"], url_path="not-receivable")
    def not_receivable(self, request, pk=None):
        line = self.get_object()
        data = NotReceivableInput(data=request.data)
        data.is_valid(raise_exception=True)
        line = lines.line_not_receivable(
            line=line, reason=data.validated_data["reason"], actor=self.actor
        )
        return Response(self._output(line))

    @extend_schema(request=None, responses=StatementLineOutput)
    @action(detail=True, methods=["post"])
    def undo(self, request, pk=None):
        """Reverse what the line did and put it back in the queue."""
        line = lines.line_undo(line=self.get_object(), actor=self.actor)
        return Response(self._output(line))

    def _output(self, line):
        return StatementLineOutput(self.get_queryset().get(pk=line.pk)).data


# --- customers' bank accounts and settings --------------------------------------------


class CustomerBankAccountSerializer(ModelSerializer):
    customer = TenantRelatedField(Customer)

    class Meta:
        model = CustomerBankAccount
        fields = [
            "id", "customer", "account", "payer_name", "learnt_from", "confirmed",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "learnt_from", "created_at"]
        validators = []
        extra_kwargs = {"payer_name": {"required": False}}


class CustomerBankAccountViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = CustomerBankAccountSerializer
    capability = "receive_cash"
    filterset_fields = ["customer", "confirmed", "account"]

    def get_queryset(self):
        return CustomerBankAccount.objects.order_by("-id")

    @extend_schema(
        request=CustomerBankAccountSerializer,
        responses={201: CustomerBankAccountSerializer},
    )
    def create(self, request):
        data = CustomerBankAccountSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = bank_accounts.customer_bank_account_save(
            actor=self.actor, **data.validated_data
        )
        return Response(
            CustomerBankAccountSerializer(record).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=CustomerBankAccountSerializer, responses=CustomerBankAccountSerializer
    )
    def partial_update(self, request, pk=None):
        record = self.get_object()
        data = CustomerBankAccountSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        record = bank_accounts.customer_bank_account_save(
            customer_bank_account=record, actor=self.actor, **data.validated_data
        )
        return Response(CustomerBankAccountSerializer(record).data)


class ReconciliationSettingsSerializer(ModelSerializer):
    class Meta:
        model = ReconciliationSettings
        fields = [
            "auto_apply_threshold", "auto_apply_margin",
            "short_payment_tolerance_percent", "short_payment_tolerance_amounts",
            "short_payment_action", "early_payment_discount",
            "discount_grace_days",
        ]  # fmt: skip


class ReconciliationSettingsView(TenantAPIView):
    capabilities = {"PATCH": "administer"}

    @extend_schema(responses=ReconciliationSettingsSerializer)
    def get(self, request):
        return Response(
            ReconciliationSettingsSerializer(
                bank_accounts.reconciliation_settings()
            ).data
        )

    @extend_schema(
        request=ReconciliationSettingsSerializer,
        responses=ReconciliationSettingsSerializer,
    )
    def patch(self, request):
        data = ReconciliationSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if not data.validated_data:
            raise DomainError("required", "Give at least one setting to change.")
        saved = bank_accounts.reconciliation_settings_update(
            actor=self.actor, **data.validated_data
        )
        return Response(ReconciliationSettingsSerializer(saved).data)
