"""REST API of collections: policies and steps, runs, notices, activities, promises,
disputes, payment plans, the worklist, customer timelines, email templates,
settings and webhook endpoints.

Collectors' actions need the "collect" capability; policies, templates, settings
and webhooks need "administer".
"""

import django_filters
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from collecting.models import (
    Activity,
    CollectingSettings,
    Dispute,
    DunningPolicy,
    DunningRun,
    DunningStep,
    EmailEvent,
    EmailProviderEndpoint,
    EmailTemplate,
    Notice,
    NoticeItem,
    PaymentPlan,
    PaymentPlanInstalment,
    PromiseToPay,
    SuppressedAddress,
    WorklistEntry,
)
from collecting.selectors import (
    QueueFilters,
    collecting_settings,
    customer_timeline,
    queue,
)
from collecting.services import accounts, commitments, delivery, policies
from collecting.services.dunning import dunning_preview, dunning_run_start
from collecting.services.sending import notice_reconcile, notice_retry
from collecting.services.worklist import profile_for
from invoicing.models import CreditNote, Invoice
from o2c import webhooks
from o2c.api.base import TenantAPIView, TenantViewSet
from o2c.api.errors import input_named
from o2c.api.fields import (
    DateField,
    MemberField,
    MoneyField,
    PlainDecimalField,
    TenantRelatedField,
)
from o2c.api.filters import ChoicesFilter, MemberIdFilter, TenantIdFilter
from o2c.api.serializers import ModelSerializer, QuerySerializer, Serializer
from o2c.errors import ForeignObject
from o2c.models import WebhookDelivery, WebhookEndpoint
from o2c.money import quantize
from o2c.tenancy import current_organization
from orders.models import Customer

# --- policies and steps ------------------------------------------------------------


class StepSerializer(ModelSerializer):
    policy = TenantRelatedField(DunningPolicy)
    fee_amount = PlainDecimalField(
        max_digits=18, decimal_places=3, required=False, allow_null=True
    )
    minimum_amount = PlainDecimalField(max_digits=18, decimal_places=3, required=False)

    class Meta:
        model = DunningStep
        fields = [
            "id", "policy", "name", "offset_days", "channel", "attach_invoices",
            "subject", "body", "translations", "fee_amount", "interest_rate",
            "minimum_amount",
        ]  # fmt: skip
        # The service answers a second step at the same offset with 409; DRF's
        # unique-together check would also make a PATCH repeat policy and offset.
        validators = []


class NestedStepInput(StepSerializer):
    class Meta(StepSerializer.Meta):
        fields = [f for f in StepSerializer.Meta.fields if f not in ("id", "policy")]


class PolicySerializer(ModelSerializer):
    steps = StepSerializer(many=True, read_only=True)

    class Meta:
        model = DunningPolicy
        fields = [
            "id", "name", "description", "is_default", "segments",
            "min_days_between_notices", "fee_period_days", "steps",
        ]  # fmt: skip


class PolicyInput(ModelSerializer):
    steps = NestedStepInput(many=True, required=False)

    class Meta:
        model = DunningPolicy
        fields = [
            "name", "description", "is_default", "segments",
            "min_days_between_notices", "fee_period_days", "steps",
        ]  # fmt: skip
        extra_kwargs = {
            name: {"min_value": low, "max_value": high}
            for name, (low, high, _message) in policies.POLICY_RANGES.items()
        }


class PolicyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """Dunning policies; a customer's policy is its own, its segment's, or the
    default."""

    serializer_class = PolicySerializer
    capability = "administer"

    def get_queryset(self):
        return DunningPolicy.objects.prefetch_related("steps")

    @extend_schema(request=PolicyInput, responses={201: PolicySerializer})
    def create(self, request):
        data = PolicyInput(data=request.data)
        data.is_valid(raise_exception=True)
        policy = policies.policy_create(actor=self.actor, **data.validated_data)
        return Response(self._output(policy), status=status.HTTP_201_CREATED)

    @extend_schema(request=PolicyInput, responses=PolicySerializer)
    def partial_update(self, request, pk=None):
        data = PolicyInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("steps", None)
        policy = policies.policy_update(
            policy=self.get_object(), actor=self.actor, **values
        )
        return Response(self._output(policy))

    def perform_destroy(self, instance):
        policies.policy_delete(policy=instance, actor=self.actor)

    def _output(self, policy):
        return PolicySerializer(self.get_queryset().get(pk=policy.pk)).data


class PreviewInput(QuerySerializer):
    customer = TenantRelatedField(Customer)


class PreviewOutput(Serializer):
    subject = serializers.CharField()
    body = serializers.CharField()


class StepViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    serializer_class = StepSerializer
    capability = "administer"
    filterset_class = type(
        "StepFilter",
        (django_filters.FilterSet,),
        {
            "policy": TenantIdFilter(field_name="policy_id", model=DunningPolicy),
            "Meta": type("Meta", (), {"model": DunningStep, "fields": []}),
        },
    )

    def get_queryset(self):
        return DunningStep.objects.all()

    @extend_schema(request=StepSerializer, responses={201: StepSerializer})
    def create(self, request):
        data = StepSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        step = policies.step_create(actor=self.actor, **data.validated_data)
        return Response(StepSerializer(step).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StepSerializer, responses=StepSerializer)
    def partial_update(self, request, pk=None):
        data = StepSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("policy", None)
        step = policies.step_update(step=self.get_object(), actor=self.actor, **values)
        return Response(StepSerializer(step).data)

    def perform_destroy(self, instance):
        policies.step_delete(step=instance, actor=self.actor)

    @extend_schema(parameters=[PreviewInput], responses=PreviewOutput)
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The step's message for a real customer and its open invoices."""
        query = PreviewInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        rendered = policies.step_preview(
            step=self.get_object(), customer=query.validated_data["customer"]
        )
        return Response({"subject": rendered.subject, "body": rendered.body})


class EmailTemplateSerializer(ModelSerializer):
    class Meta:
        model = EmailTemplate
        fields = ["id", "name", "subject", "body", "translations"]


class EmailTemplateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    serializer_class = EmailTemplateSerializer
    capability = "administer"

    def get_queryset(self):
        return EmailTemplate.objects.all()

    @extend_schema(
        request=EmailTemplateSerializer, responses={201: EmailTemplateSerializer}
    )
    def create(self, request):
        data = EmailTemplateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = policies.template_create(actor=self.actor, **data.validated_data)
        return Response(
            EmailTemplateSerializer(template).data, status=status.HTTP_201_CREATED
        )


class SettingsSerializer(ModelSerializer):
    class Meta:
        model = CollectingSettings
        fields = [
            "dunning_hour", "promise_grace_days", "plan_grace_days",
            "stale_sending_minutes",
        ]  # fmt: skip
        # The service's ranges, so the schema states them too.
        extra_kwargs = {
            name: {"min_value": low, "max_value": high}
            for name, (low, high, _message) in policies.SETTINGS_RANGES.items()
        }


class SettingsView(TenantAPIView):
    capabilities = {"PATCH": "administer"}

    @extend_schema(responses=SettingsSerializer)
    def get(self, request):
        return Response(SettingsSerializer(collecting_settings()).data)

    @extend_schema(request=SettingsSerializer, responses=SettingsSerializer)
    def patch(self, request):
        data = SettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = policies.settings_update(actor=self.actor, **data.validated_data)
        return Response(SettingsSerializer(saved).data)


# --- runs and notices --------------------------------------------------------------


class RunSerializer(ModelSerializer):
    class Meta:
        model = DunningRun
        fields = [
            "id", "run_date", "trigger", "status", "caught_up_from", "started_at",
            "finished_at", "notices_created", "invoices_noticed", "steps_passed_over",
            "customers_held", "error",
        ]  # fmt: skip


class PreviewQuery(QuerySerializer):
    limit = serializers.IntegerField(min_value=0, max_value=1000, default=100)


class PreviewInvoiceSerializer(Serializer):
    invoice = serializers.IntegerField()
    number = serializers.CharField()
    step = serializers.CharField()
    days_overdue = serializers.IntegerField()
    open_amount = MoneyField(currency_source="currency")


class PreviewNoticeSerializer(Serializer):
    customer = serializers.IntegerField()
    customer_name = serializers.CharField()
    customer_number = serializers.CharField()
    policy = serializers.CharField()
    step = serializers.CharField()
    channel = serializers.CharField()
    currency = serializers.CharField()
    total = MoneyField()
    fee = MoneyField()
    invoices = serializers.SerializerMethodField()

    @extend_schema_field(PreviewInvoiceSerializer(many=True))
    def get_invoices(self, row) -> list:
        return [
            {**item, "open_amount": str(quantize(item["open_amount"], row["currency"]))}
            for item in row["invoices"]
        ]


class PreviewSummarySerializer(Serializer):
    policy = serializers.CharField()
    step = serializers.CharField()
    offset_days = serializers.IntegerField()
    channel = serializers.CharField()
    currency = serializers.CharField()
    notices = serializers.IntegerField()
    invoices = serializers.IntegerField()
    total = MoneyField()
    fees = MoneyField()


class PreviewSerializer(Serializer):
    as_of = serializers.DateField()
    caught_up_from = serializers.DateField(allow_null=True)
    notices_count = serializers.IntegerField()
    customers_held = serializers.IntegerField()
    steps_passed_over = serializers.IntegerField()
    summary = PreviewSummarySerializer(many=True)
    notices = PreviewNoticeSerializer(many=True)


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Dunning runs. POST starts one as of today in the background (202 with the
    run; poll it); ``preview/`` says what a run now would write."""

    serializer_class = RunSerializer
    capability = "collect"

    def get_queryset(self):
        return DunningRun.objects.all()

    @extend_schema(request=None, responses={202: RunSerializer})
    def create(self, request):
        run = dunning_run_start(actor=self.actor)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=[PreviewQuery], responses=PreviewSerializer)
    @action(detail=False, methods=["get"])
    def preview(self, request):
        """What a run started now would write (nothing is written)."""
        query = PreviewQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        preview = dunning_preview(limit=query.validated_data["limit"])
        return Response(PreviewSerializer(preview).data)


class NoticeItemSerializer(ModelSerializer):
    open_amount = MoneyField(currency_source="notice.currency")
    interest_amount = MoneyField(currency_source="notice.currency")
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)

    class Meta:
        model = NoticeItem
        fields = [
            "invoice", "invoice_number", "step", "offset_days", "days_overdue",
            "open_amount", "interest_amount", "left_off_reason",
        ]  # fmt: skip


class NoticeSerializer(ModelSerializer):
    total_amount = MoneyField()
    fee_amount = MoneyField()
    items = NoticeItemSerializer(many=True, read_only=True)
    has_document = serializers.SerializerMethodField()

    class Meta:
        model = Notice
        fields = [
            "id", "customer", "run", "step", "template", "plan_instalment",
            "channel", "currency", "notice_date", "status", "total_amount",
            "fee_amount", "recipients", "subject", "message_id", "error",
            "has_document", "created_at", "claimed_at", "sent_at", "items",
        ]  # fmt: skip

    def get_has_document(self, notice) -> bool:
        return bool(notice.document)


class NoticeFilter(django_filters.FilterSet):
    customer = TenantIdFilter(field_name="customer_id", model=Customer)
    run = TenantIdFilter(field_name="run_id", model=DunningRun)
    status = ChoicesFilter(choices=Notice.Status.choices)
    channel = django_filters.ChoiceFilter(choices=DunningStep.Channel.choices)
    notice_date = django_filters.DateFilter()

    class Meta:
        model = Notice
        fields = []


def _customer_filter(model, **extra):
    """A FilterSet on ``customer`` (resolved in the caller's organization) and
    ``extra`` plain filters."""
    attrs = {
        "customer": TenantIdFilter(field_name="customer_id", model=Customer),
        **extra,
        "Meta": type("Meta", (), {"model": model, "fields": []}),
    }
    return type(f"{model.__name__}Filter", (django_filters.FilterSet,), attrs)


ActivityFilter = _customer_filter(
    Activity,
    kind=django_filters.ChoiceFilter(choices=Activity.Kind.choices),
    outcome=django_filters.ChoiceFilter(choices=Activity.Outcome.choices),
)
PromiseFilter = _customer_filter(
    PromiseToPay,
    status=ChoicesFilter(choices=PromiseToPay.Status.choices),
)
DisputeFilter = _customer_filter(
    Dispute,
    status=ChoicesFilter(choices=Dispute.Status.choices),
    reason_code=django_filters.ChoiceFilter(choices=Dispute.Reason.choices),
    owner=MemberIdFilter(field_name="owner_id"),
)
PlanFilter = _customer_filter(
    PaymentPlan,
    status=ChoicesFilter(choices=PaymentPlan.Status.choices),
)


class ReconcileInput(Serializer):
    sent = serializers.BooleanField(
        help_text="Whether the mail server's log shows the Message-ID as accepted."
    )
    note = serializers.CharField(required=False, default="", allow_blank=True)


class NoticeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Notices. One in ``unknown_check`` waits for a person to check the mail log
    and record whether it left (``reconcile``); nothing resends it by itself."""

    serializer_class = NoticeSerializer
    filterset_class = NoticeFilter
    capability = "collect"

    def get_queryset(self):
        return Notice.objects.prefetch_related("items__invoice")

    @extend_schema(request=ReconcileInput, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def reconcile(self, request, pk=None):
        data = ReconcileInput(data=request.data)
        data.is_valid(raise_exception=True)
        notice = notice_reconcile(
            notice=self.get_object(), actor=self.actor, **data.validated_data
        )
        return Response(NoticeSerializer(self.get_queryset().get(pk=notice.pk)).data)

    @extend_schema(request=None, responses=NoticeSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        notice = notice_retry(notice=self.get_object(), actor=self.actor)
        return Response(NoticeSerializer(self.get_queryset().get(pk=notice.pk)).data)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def document(self, request, pk=None):
        """The letter PDF of a letter notice."""
        notice = self.get_object()
        if not notice.document:
            raise ForeignObject("not_found", "This notice has no letter.")
        return FileResponse(
            notice.document.open("rb"),
            content_type="application/pdf",
            as_attachment=True,
            filename=f"notice-{notice.pk}.pdf",
        )


# --- activities, promises, disputes, plans -----------------------------------------


class ActivitySerializer(ModelSerializer):
    customer = TenantRelatedField(Customer)
    next_action_date = DateField(required=False, write_only=True)

    class Meta:
        model = Activity
        fields = [
            "id", "customer", "kind", "outcome", "note", "occurred_at",
            "actor_label", "notice", "next_action_date",
        ]  # fmt: skip
        read_only_fields = ["actor_label", "notice"]
        extra_kwargs = {"occurred_at": {"required": False}}


class ActivityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = ActivitySerializer
    capability = "collect"
    filterset_class = ActivityFilter

    def get_queryset(self):
        return Activity.objects.all()

    @extend_schema(request=ActivitySerializer, responses={201: ActivitySerializer})
    def create(self, request):
        data = ActivitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        activity = accounts.activity_log(actor=self.actor, **data.validated_data)
        return Response(
            ActivitySerializer(activity).data, status=status.HTTP_201_CREATED
        )


class PromiseSerializer(ModelSerializer):
    customer = TenantRelatedField(Customer)
    invoices = TenantRelatedField(Invoice, many=True)
    amount = MoneyField()
    promised_date = DateField()
    paid_amount = MoneyField(read_only=True)
    grace_days = serializers.IntegerField(min_value=0, max_value=60, required=False)

    class Meta:
        model = PromiseToPay
        fields = [
            "id", "customer", "invoices", "currency", "amount", "promised_date",
            "grace_days", "made_on", "status", "paid_amount", "note", "created_at",
            "evaluated_at",
        ]  # fmt: skip
        read_only_fields = ["currency", "made_on", "status", "evaluated_at"]


class PromiseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Promises to pay: active ones pause dunning of their invoices."""

    serializer_class = PromiseSerializer
    capability = "collect"
    filterset_class = PromiseFilter

    def get_queryset(self):
        return PromiseToPay.objects.prefetch_related("invoices")

    @extend_schema(request=PromiseSerializer, responses={201: PromiseSerializer})
    def create(self, request):
        data = PromiseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promise = commitments.promise_create(actor=self.actor, **data.validated_data)
        return Response(self._output(promise), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PromiseSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        promise = commitments.promise_cancel(
            promise=self.get_object(), actor=self.actor
        )
        return Response(self._output(promise))

    def _output(self, promise):
        return PromiseSerializer(self.get_queryset().get(pk=promise.pk)).data


class DisputeSerializer(ModelSerializer):
    customer = TenantRelatedField(Customer)
    invoices = TenantRelatedField(Invoice, many=True)
    owner = MemberField(required=False, allow_null=True)

    class Meta:
        model = Dispute
        fields = [
            "id", "customer", "invoices", "reason_code", "description", "owner",
            "status", "credit_note", "resolution_note", "opened_on", "created_at",
            "resolved_at",
        ]  # fmt: skip
        read_only_fields = [
            "status", "credit_note", "resolution_note", "opened_on", "resolved_at",
        ]  # fmt: skip


class ResolveInput(Serializer):
    resolution = serializers.ChoiceField(
        choices=[
            Dispute.Status.RESOLVED_CREDIT_NOTE,
            Dispute.Status.RESOLVED_COMPANY_FAVOUR,
            Dispute.Status.WITHDRAWN,
        ]
    )
    credit_note = TenantRelatedField(CreditNote, required=False, allow_null=True)
    note = serializers.CharField(required=False, default="", allow_blank=True)


class DisputeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Disputes: open ones pause dunning of their invoices."""

    serializer_class = DisputeSerializer
    capability = "collect"
    filterset_class = DisputeFilter

    def get_queryset(self):
        return Dispute.objects.prefetch_related("invoices")

    @extend_schema(request=DisputeSerializer, responses={201: DisputeSerializer})
    def create(self, request):
        data = DisputeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = commitments.dispute_open(actor=self.actor, **data.validated_data)
        return Response(self._output(dispute), status=status.HTTP_201_CREATED)

    @extend_schema(request=ResolveInput, responses=DisputeSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        data = ResolveInput(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = commitments.dispute_resolve(
            dispute=self.get_object(), actor=self.actor, **data.validated_data
        )
        return Response(self._output(dispute))

    def _output(self, dispute):
        return DisputeSerializer(self.get_queryset().get(pk=dispute.pk)).data


class InstalmentSerializer(ModelSerializer):
    amount = MoneyField(currency_source="plan.currency")

    class Meta:
        model = PaymentPlanInstalment
        fields = ["sequence", "due_date", "amount", "status"]


class InstalmentInput(Serializer):
    due_date = DateField()
    amount = MoneyField()


class PlanSerializer(ModelSerializer):
    customer = TenantRelatedField(Customer)
    invoices = TenantRelatedField(Invoice, many=True)
    total_amount = MoneyField(read_only=True)
    instalments = InstalmentSerializer(many=True, read_only=True)

    class Meta:
        model = PaymentPlan
        fields = [
            "id", "customer", "invoices", "currency", "total_amount", "start_date",
            "status", "note", "instalments", "created_at",
        ]  # fmt: skip
        read_only_fields = ["currency", "start_date", "status"]


class PlanInput(PlanSerializer):
    schedule = InstalmentInput(many=True, required=False, allow_empty=False)
    count = serializers.IntegerField(required=False, min_value=1, max_value=60)
    first_date = DateField(required=False)
    interval_days = serializers.IntegerField(required=False, min_value=1, max_value=366)

    class Meta(PlanSerializer.Meta):
        fields = [
            "customer", "invoices", "note", "schedule", "count", "first_date",
            "interval_days",
        ]  # fmt: skip


class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Payment plans: instalments chased by their own dates."""

    serializer_class = PlanSerializer
    capability = "collect"
    filterset_class = PlanFilter

    def get_queryset(self):
        return PaymentPlan.objects.prefetch_related("invoices", "instalments__plan")

    @extend_schema(request=PlanInput, responses={201: PlanSerializer})
    def create(self, request):
        data = PlanInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        schedule = values.pop("schedule", None)
        if schedule:
            values["instalments"] = [(i["due_date"], i["amount"]) for i in schedule]
        with input_named("instalments", "schedule"):
            plan = commitments.payment_plan_create(actor=self.actor, **values)
        return Response(self._output(plan), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=PlanSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        plan = commitments.payment_plan_cancel(plan=self.get_object(), actor=self.actor)
        return Response(self._output(plan))

    def _output(self, plan):
        return PlanSerializer(self.get_queryset().get(pk=plan.pk)).data


# --- worklist, account, timeline ---------------------------------------------------


class WorklistSerializer(ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    amount_overdue = MoneyField()
    amount_paused = MoneyField()
    score = PlainDecimalField(max_digits=8, decimal_places=1)

    class Meta:
        model = WorklistEntry
        fields = [
            "id", "customer", "customer_name", "currency", "collector", "segment",
            "risk_class", "amount_overdue", "amount_paused", "invoices_overdue",
            "days_overdue", "broken_promises", "unanswered_notices",
            "next_action_date", "score", "score_parts", "computed_on",
        ]  # fmt: skip


class WorklistQuery(QuerySerializer):
    collector = MemberField(required=False)
    unassigned = serializers.BooleanField(required=False, default=False)
    segment = serializers.CharField(required=False, default="")
    currency = serializers.CharField(required=False, default="")


class ReassignInput(Serializer):
    customers = TenantRelatedField(Customer, many=True)
    collector = MemberField(allow_null=True)


class WorklistViewSet(mixins.ListModelMixin, TenantViewSet):
    """Accounts needing action today, best score first, with the parts of the
    score (``score_parts``)."""

    serializer_class = WorklistSerializer
    capability = "collect"
    capabilities = {"reassign": "manage_customers"}
    pagination_class = None

    def get_queryset(self):
        query = WorklistQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        values = query.validated_data
        return queue(
            filters=QueueFilters(
                collector_id=values["collector"].pk if "collector" in values else None,
                unassigned=values["unassigned"],
                segment=values["segment"],
                currency=values["currency"].upper(),
            )
        )[:500]

    @extend_schema(parameters=[WorklistQuery])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ReassignInput, responses={200: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def reassign(self, request):
        """A manager moves accounts to another collector."""
        data = ReassignInput(data=request.data)
        data.is_valid(raise_exception=True)
        moved = accounts.collector_assign(actor=self.actor, **data.validated_data)
        return Response({"moved": moved})


class AccountSerializer(Serializer):
    policy = TenantRelatedField(DunningPolicy, required=False, allow_null=True)
    next_action_date = DateField(required=False, allow_null=True)
    on_hold = serializers.BooleanField(required=False)
    hold_reason = serializers.CharField(required=False, allow_blank=True)
    agency_review = serializers.BooleanField(read_only=True)
    call_requested = serializers.BooleanField(read_only=True)
    last_contact_at = serializers.DateTimeField(read_only=True, allow_null=True)


class AccountView(TenantAPIView):
    """A customer's collection profile: policy, next action, hold."""

    capabilities = {"PATCH": "collect"}

    @extend_schema(responses=AccountSerializer)
    def get(self, request, pk):
        customer = get_object_or_404(Customer.objects.all(), pk=pk)
        return Response(AccountSerializer(profile_for(customer)).data)

    @extend_schema(request=AccountSerializer, responses=AccountSerializer)
    def patch(self, request, pk):
        customer = get_object_or_404(Customer.objects.all(), pk=pk)
        data = AccountSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        if "policy" in values:
            policies.policy_assign(
                customer=customer, policy=values["policy"], actor=self.actor
            )
        if "next_action_date" in values:
            accounts.next_action_set(
                customer=customer, day=values["next_action_date"], actor=self.actor
            )
        if "on_hold" in values:
            accounts.hold_set(
                customer=customer,
                on_hold=values["on_hold"],
                reason=values.get("hold_reason", ""),
                actor=self.actor,
            )
        return Response(AccountSerializer(profile_for(customer)).data)


class EmailInput(Serializer):
    template = TenantRelatedField(EmailTemplate)
    invoices = TenantRelatedField(Invoice, many=True, required=False)


class CustomerEmailView(TenantAPIView):
    """Send a templated email to the customer about its open invoices."""

    capability = "collect"

    @extend_schema(request=EmailInput, responses={201: NoticeSerializer})
    def post(self, request, pk):
        customer = get_object_or_404(Customer.objects.all(), pk=pk)
        data = EmailInput(data=request.data)
        data.is_valid(raise_exception=True)
        notice = accounts.email_send(
            customer=customer, actor=self.actor, **data.validated_data
        )
        return Response(NoticeSerializer(notice).data, status=status.HTTP_201_CREATED)


class TimelineEventSerializer(Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.IntegerField()
    amount = PlainDecimalField(max_digits=18, decimal_places=3, allow_null=True)
    currency = serializers.CharField()
    status = serializers.CharField()


class TimelineQuery(QuerySerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)


class CustomerTimelineView(TenantAPIView):
    """Every notice, email, call, note, promise, dispute, payment and status change
    of a customer, newest first."""

    @extend_schema(
        parameters=[TimelineQuery], responses=TimelineEventSerializer(many=True)
    )
    def get(self, request, pk):
        customer = get_object_or_404(Customer.objects.all(), pk=pk)
        query = TimelineQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        # The API speaks English whatever the organization's locale.
        with translation.override("en"):
            events = customer_timeline(
                customer=customer, limit=query.validated_data.get("limit", 200)
            )
            return Response(TimelineEventSerializer(events, many=True).data)


# --- webhooks ------------------------------------------------------------------------


class EndpointSerializer(ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(webhooks.EVENTS)),
        required=False,
        help_text="Events to receive; empty for all.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "events", "active", "created_at"]

    def validate_url(self, value):
        return webhooks.check_endpoint_url(value)


class EndpointCreatedSerializer(EndpointSerializer):
    secret = serializers.CharField(
        help_text="Shown once: sign-check deliveries with it."
    )

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class SecretOutput(Serializer):
    secret = serializers.CharField(
        help_text="Shown once. The previous secret keeps signing deliveries (as a "
        "second `v1=`) until `previous_secret_expires_at`."
    )
    previous_secret_expires_at = serializers.DateTimeField()


class DeliverySerializer(ModelSerializer):
    event = serializers.CharField(source="event.type", help_text="The event type.")
    event_id = serializers.CharField(help_text="The event id (`evt_…`).")
    payload = serializers.SerializerMethodField(
        help_text="The envelope the endpoint receives."
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "endpoint", "event", "event_id", "payload", "status", "attempts",
            "response_status", "last_error", "created_at", "delivered_at",
        ]  # fmt: skip

    def get_payload(self, delivery) -> dict:
        return webhooks.envelope(delivery.event)


class DeliveryFilter(django_filters.FilterSet):
    event = django_filters.ChoiceFilter(
        field_name="event__type",
        choices=sorted((name, name) for name in webhooks.EVENTS),
    )
    event_id = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices)

    class Meta:
        model = WebhookDelivery
        fields = []


class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """Webhook endpoints. Deliveries are signed: ``X-O2C-Signature: t=<unix>,
    v1=<hex HMAC-SHA256 of "<t>.<body>" with the endpoint's secret>``; for 24 hours
    after a roll a second ``v1=`` is made with the previous secret."""

    serializer_class = EndpointSerializer
    capability = "administer"
    capabilities = {"list": "administer", "retrieve": "administer"}

    def get_queryset(self):
        return WebhookEndpoint.objects.all()

    @extend_schema(
        request=EndpointSerializer, responses={201: EndpointCreatedSerializer}
    )
    def create(self, request):
        data = EndpointSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = WebhookEndpoint.objects.create(
            organization=current_organization(),
            secret=webhooks.new_secret(),
            **data.validated_data,
        )
        return Response(
            EndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=EndpointSerializer, responses=EndpointSerializer)
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = EndpointSerializer(endpoint, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        data.save()
        return Response(data.data)

    @extend_schema(request=None, responses=SecretOutput)
    @action(detail=True, methods=["post"], url_path="roll-secret")
    def roll_secret(self, request, pk=None):
        """A new secret, shown once; the old one stays valid for 24 hours."""
        endpoint = webhooks.endpoint_roll_secret(
            endpoint=self.get_object(), actor=self.actor
        )
        return Response(SecretOutput(endpoint).data)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The endpoint's delivery log, newest first (``/webhook-deliveries/``
        filters it by event and status)."""
        queryset = WebhookDelivery.objects.filter(
            endpoint=self.get_object()
        ).select_related("event")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={201: DeliverySerializer},
        parameters=[
            OpenApiParameter(
                "delivery_id", int, OpenApiParameter.PATH, description="A delivery."
            )
        ],
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"deliveries/(?P<delivery_id>[0-9]+)/resend",
    )
    def resend(self, request, pk=None, delivery_id=None):
        """Send the delivery's event again (same id and envelope) as a new
        delivery, whatever became of the first."""
        delivery = get_object_or_404(
            WebhookDelivery.objects.filter(endpoint=self.get_object()),
            pk=delivery_id,
        )
        resent = webhooks.delivery_resend(delivery=delivery, actor=self.actor)
        return Response(DeliverySerializer(resent).data, status=status.HTTP_201_CREATED)


class WebhookDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    """The delivery log of all endpoints."""

    serializer_class = DeliverySerializer
    capability = "administer"
    capabilities = {"list": "administer", "retrieve": "administer"}
    filterset_class = type(
        "DeliveryLogFilter",
        (DeliveryFilter,),
        {
            "endpoint": TenantIdFilter(field_name="endpoint_id", model=WebhookEndpoint),
            "Meta": DeliveryFilter.Meta,
        },
    )

    def get_queryset(self):
        return WebhookDelivery.objects.select_related("event")


# --- delivery tracking: email provider endpoints, events, suppressed addresses -----


class ProviderEndpointSerializer(ModelSerializer):
    inbound_url = serializers.SerializerMethodField(
        help_text="Give this URL to the provider (for Postmark with the basic-auth "
        "credentials in it)."
    )
    has_signing_key = serializers.SerializerMethodField()

    class Meta:
        model = EmailProviderEndpoint
        fields = [
            "id", "provider", "inbound_url", "token", "has_signing_key",
            "topic_arn", "basic_auth_username", "created_at", "rotated_at",
        ]  # fmt: skip

    def get_inbound_url(self, endpoint) -> str:
        path = reverse(
            "email-provider-events",
            kwargs={"provider": endpoint.provider, "token": endpoint.token},
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_has_signing_key(self, endpoint) -> bool:
        return bool(endpoint.signing_key)


class ProviderEndpointCreatedSerializer(ProviderEndpointSerializer):
    basic_auth_password = serializers.CharField(
        help_text="Postmark only, shown once: put it in Postmark's webhook URL."
    )

    class Meta(ProviderEndpointSerializer.Meta):
        fields = [*ProviderEndpointSerializer.Meta.fields, "basic_auth_password"]


class ProviderEndpointInput(Serializer):
    provider = serializers.ChoiceField(choices=EmailProviderEndpoint.Provider.choices)
    signing_key = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="SendGrid: the signed Event Webhook's verification key. Mailgun: "
        "the HTTP webhook signing key.",
    )
    topic_arn = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Amazon SES: accept only this SNS topic (recommended).",
    )
    basic_auth_username = serializers.CharField(
        required=False, allow_blank=True, help_text="Postmark: basic-auth user name."
    )


class ProviderEndpointRotateInput(Serializer):
    signing_key = serializers.CharField(required=False, allow_blank=True)
    topic_arn = serializers.CharField(required=False, allow_blank=True)
    basic_auth_username = serializers.CharField(required=False, allow_blank=True)


class EmailProviderEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    """Where email providers post bounces and complaints: one endpoint per
    provider. Creating or rotating answers the new URL (and for Postmark a new
    password, shown once); after a rotation the old URL answers 404."""

    serializer_class = ProviderEndpointSerializer
    capability = "administer"
    capabilities = {"list": "administer", "retrieve": "administer"}

    def get_queryset(self):
        return EmailProviderEndpoint.objects.all()

    @extend_schema(
        request=ProviderEndpointInput,
        responses={201: ProviderEndpointCreatedSerializer},
    )
    def create(self, request):
        data = ProviderEndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, password = delivery.email_provider_endpoint_create(
            actor=self.actor, **data.validated_data
        )
        return self._created(endpoint, password, status.HTTP_201_CREATED)

    @extend_schema(
        request=ProviderEndpointRotateInput,
        responses={200: ProviderEndpointCreatedSerializer},
    )
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        data = ProviderEndpointRotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, password = delivery.email_provider_endpoint_rotate(
            endpoint=self.get_object(), actor=self.actor, **data.validated_data
        )
        return self._created(endpoint, password, status.HTTP_200_OK)

    def _created(self, endpoint, password, code):
        output = ProviderEndpointCreatedSerializer(
            endpoint, context=self.get_serializer_context()
        ).data
        output["basic_auth_password"] = password
        return Response(output, status=code)


class EmailEventSerializer(ModelSerializer):
    class Meta:
        model = EmailEvent
        fields = [
            "id", "provider", "event_id", "kind", "recipient", "message_id",
            "description", "occurred_at", "received_at", "notice",
            "invoice_delivery", "customer", "raw",
        ]  # fmt: skip


class EmailEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    """Delivery events as the providers reported them (the audit log)."""

    serializer_class = EmailEventSerializer
    capability = "collect"
    capabilities = {"list": "view", "retrieve": "view"}
    filterset_class = type(
        "EmailEventFilter",
        (django_filters.FilterSet,),
        {
            "notice": TenantIdFilter(field_name="notice_id", model=Notice),
            "customer": TenantIdFilter(field_name="customer_id", model=Customer),
            "kind": django_filters.ChoiceFilter(choices=EmailEvent.Kind.choices),
            "Meta": type("Meta", (), {"model": EmailEvent, "fields": []}),
        },
    )

    def get_queryset(self):
        return EmailEvent.objects.order_by("-received_at", "-pk")


class SuppressedAddressSerializer(ModelSerializer):
    class Meta:
        model = SuppressedAddress
        fields = [
            "id", "address", "reason", "detail", "customer", "event",
            "suppressed_at", "released_at",
        ]  # fmt: skip


class SuppressedAddressViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet
):
    """Addresses no email goes to after a hard bounce or a complaint. Releasing
    one (the mailbox was fixed) lets email go to it again."""

    serializer_class = SuppressedAddressSerializer
    capability = "collect"
    capabilities = {"list": "view", "retrieve": "view"}
    filterset_class = type(
        "SuppressedAddressFilter",
        (django_filters.FilterSet,),
        {
            "customer": TenantIdFilter(field_name="customer_id", model=Customer),
            "active": django_filters.BooleanFilter(
                field_name="released_at", lookup_expr="isnull"
            ),
            "Meta": type("Meta", (), {"model": SuppressedAddress, "fields": []}),
        },
    )

    def get_queryset(self):
        return SuppressedAddress.objects.order_by("-suppressed_at", "-pk")

    @extend_schema(request=None, responses=SuppressedAddressSerializer)
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        suppression = delivery.suppression_release(
            suppression=self.get_object(),
            actor=self.actor,
            note=str(request.data.get("note", "")),
        )
        return Response(SuppressedAddressSerializer(suppression).data)
