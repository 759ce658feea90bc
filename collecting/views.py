"""Pages of collections: the collector's queue ("My day"), dunning runs and the
notices a person must check, policies with a live preview, and a customer's
timeline (an htmx panel the customer page can pull in by URL name).

Every action on a queue row is an htmx POST that answers with the row again, or
with an empty row body when the account has left today's queue.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import PurePath

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from collecting.models import (
    Activity,
    Dispute,
    DunningPolicy,
    DunningRun,
    DunningStep,
    EmailTemplate,
    Notice,
    WorklistEntry,
)
from collecting.selectors import (
    PAUSE_DISPUTE,
    PAUSE_PLAN,
    PAUSE_PROMISE,
    QueueFilters,
    account_contacts,
    callbacks_due,
    customer_timeline,
    disputes_awaiting,
    open_invoices_of,
    paused_invoices,
    promises_broken,
    promises_due,
    queue,
    run_notices,
    run_progress,
)
from collecting.services import accounts, commitments, policies
from collecting.services.dunning import dunning_preview, dunning_run_start
from collecting.services.sending import notice_reconcile, notice_retry
from collecting.services.worklist import LABELS, explain, worklist_refresh
from o2c.dates import OrgDateField, parse_org_date
from o2c.errors import DomainError
from o2c.models import Role
from o2c.money import minor_units, quantize
from o2c.numbers import NotANumber, number_example, parse_number
from o2c.roles import role_can
from o2c.templatetags.o2c_tags import orgdate
from o2c.views import actor_of, capability_required, is_htmx
from orders.models import Customer

PAGE_SIZE = 100


def _members(organization):
    users = get_user_model().objects.filter(
        memberships__organization=organization,
        memberships__role__in=(Role.COLLECTOR, Role.FINANCE, Role.ADMIN),
    )
    return users.order_by("username")


# --- My day ---------------------------------------------------------------------------


class QueueForm(forms.Form):
    collector = forms.CharField(required=False)  # a user id, "all" or "none"
    segment = forms.CharField(required=False, max_length=50)
    currency = forms.CharField(required=False, max_length=3)
    page = forms.IntegerField(required=False, min_value=1)


SECTION_ROWS = 8  # each section above the ranked list is short; the list has all
SECTION_KEYS = {"promises-due", "promises-broken", "callbacks", "disputes"}
PAUSE_LABELS = {
    PAUSE_DISPUTE: gettext_lazy("under dispute"),
    PAUSE_PROMISE: gettext_lazy("under a promise"),
    PAUSE_PLAN: gettext_lazy("in a payment plan"),
}


@capability_required("view")
def my_day(request):
    """The collector's day: promises due today, promises broken since yesterday,
    call-backs due and disputes waiting, then every account needing action, best
    score first. Later pages of the ranked list load as the collector scrolls
    (``?page=N`` with htmx answers only those rows)."""
    form = QueueForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    # A collector starts on their own accounts; finance and admins own none, so
    # they start on everyone's.
    own = request.membership.role == Role.COLLECTOR
    chosen = data.get("collector") or (str(request.user.pk) if own else "all")
    filters = QueueFilters(
        collector_id=int(chosen) if chosen.isdigit() else None,
        unassigned=chosen == "none",
        segment=data.get("segment") or "",
        currency=(data.get("currency") or "").upper(),
    )
    today = request.organization.today()
    page = Paginator(queue(filters=filters), PAGE_SIZE).get_page(data.get("page"))
    entries = list(page.object_list)
    more_rows = is_htmx(request) and page.number > 1
    sections = (
        []
        if more_rows
        else _sections(filters, today, yours=filters.collector_id == request.user.pk)
    )
    contacts = account_contacts(
        {entry.customer for entry in entries}
        | {item.customer for section in sections for item in section["items"]}
    )
    rows = [_row(entry, contacts) for entry in entries]
    for section in sections:
        section["more"] = len(section["items"]) > SECTION_ROWS
        section["rows"] = [
            {
                "item": item,
                "contact": contacts[item.customer_id],
                # Call-backs are queue rows themselves; the others name theirs.
                "account_id": item.pk
                if section["key"] == "callbacks"
                else item.account_id,
            }
            for item in section.pop("items")[:SECTION_ROWS]
        ]
    context = {
        "rows": rows,
        "sections": sections,
        "page": page,
        "next_page": _page_url(request, page.next_page_number())
        if page.has_next()
        else "",
        "chosen": chosen,
        "filters": filters,
        "collectors": _members(request.organization),
        **_filter_choices(),
        "can_reassign": role_can(request.membership.role, "manage_customers"),
        "can_collect": role_can(request.membership.role, "collect"),
        "today": today,
    }
    if more_rows:
        template = "collecting/_rows.html"
    elif is_htmx(request):
        template = "collecting/_queue.html"
    else:
        template = "collecting/my_day.html"
    return render(request, template, context)


def _sections(filters: QueueFilters, today: date, *, yours: bool) -> list[dict]:
    """The short lists above the ranked one, each read one more than shown to
    know whether there are more; an account shows in the first section that has
    it, so a promise due today is not also a call-back."""
    limit = SECTION_ROWS + 1
    due = promises_due(filters=filters, today=today, limit=limit)
    broken = promises_broken(
        filters=filters, since=today - timedelta(days=1), limit=limit
    )
    seen = {(p.customer_id, p.currency) for p in [*due, *broken]}
    callbacks = [
        entry
        for entry in callbacks_due(
            filters=filters, today=today, limit=limit + len(seen)
        )
        if (entry.customer_id, entry.currency) not in seen
    ]
    disputes = disputes_awaiting(filters=filters, limit=limit)
    return [
        {"key": "promises-due", "title": _("Promises due today"), "items": due,
         "empty": _("No promise falls due today.")},
        {"key": "promises-broken", "title": _("Promises broken since yesterday"),
         "items": broken, "empty": _("No promise was broken since yesterday.")},
        {"key": "callbacks", "title": _("Call-backs due"), "items": callbacks,
         "empty": _("No call-back is due.")},
        {"key": "disputes", "items": disputes, "empty": _("No open dispute waits."),
         "title": _("Disputes waiting for you") if yours else _("Disputes waiting")},
    ]  # fmt: skip


def _page_url(request, number: int) -> str:
    query = request.GET.copy()
    query["page"] = number
    return f"{request.path}?{query.urlencode()}"


def _filter_choices() -> dict[str, list[str]]:
    """The segments and currencies of the accounts needing action, read in one
    pass over the queue (the pairs are few)."""
    pairs = (
        WorklistEntry.objects.filter(needs_action=True)
        .values_list("segment", "currency")
        .distinct()
        .order_by()
    )
    segments, currencies = set(), set()
    for segment, currency in pairs:
        segments.add(segment)
        currencies.add(currency)
    return {
        "segments": sorted(segments - {""}),
        "currencies": sorted(currencies - {""}),
    }


def _row(entry: WorklistEntry, contacts: dict) -> dict:
    return {
        "entry": entry,
        # Points as text: a page of rows formats hundreds of them.
        # A broken promise is the part that shows in red.
        "parts": [
            (label, str(points), label == LABELS["broken_promise"])
            for label, points in explain(entry)
        ],
        "contact": contacts[entry.customer_id],
    }


@capability_required("collect")
def account_panel(request, pk):
    """The action forms of one account: under its ranked row, or (``?slot=``)
    under its row in one of the sections above."""
    entry = get_object_or_404(WorklistEntry.objects.select_related("customer"), pk=pk)
    context = _row_context(request, entry, True, slot=request.GET.get("slot", ""))
    return render(request, _row_template(context), context)


def _row_template(context) -> str:
    # A section row keeps its own columns: only its panel is redrawn.
    return "collecting/_row_panel.html" if context["slot"] else "collecting/_row.html"


def _row_context(
    request, entry, open_panel=False, error=None, form_data=None, *, slot=""
):
    slot = slot if slot in SECTION_KEYS else ""
    row_id = f"{slot or 'account'}-{entry.pk}"
    return {
        "row": _row(entry, account_contacts([entry.customer])),
        "row_id": row_id,
        "slot": slot,
        # Forms answer with the whole ranked row, or a section row's panel.
        "target": f"#panel-{row_id}" if slot else f"#{row_id}",
        "open_panel": open_panel,
        "invoices": _invoice_choices(entry, request.organization.today())
        if open_panel
        else None,
        "minor_units": minor_units(entry.currency),
        "error": error,
        "data": form_data or {},
        "outcomes": [o for o in Activity.Outcome.choices if o[0]],
        "reasons": Dispute.Reason.choices,
        "templates": EmailTemplate.objects.all(),
        "members": _members(request.organization),
        "today": request.organization.today(),
        "can_collect": True,
        # The row keeps the queue's columns: the selection box is there for managers.
        "can_reassign": role_can(request.membership.role, "manage_customers"),
    }


def _invoice_choices(
    entry: WorklistEntry, today: date, ticked: list[int] | None = None
) -> dict:
    """The account's open invoices for the panel's one list. Ticked: the ones the
    collector came for, overdue and not already paused, unless ``ticked`` says
    which (a refused form keeps what was ticked)."""
    invoices = [
        invoice
        for invoice in open_invoices_of(entry.customer)
        if invoice.currency == entry.currency
    ]
    paused = paused_invoices(invoice_ids=[invoice.pk for invoice in invoices])
    exponent = minor_units(entry.currency)
    rows = []
    for invoice in invoices:
        overdue = invoice.due_date < today
        rows.append(
            {
                "invoice": invoice,
                "days_overdue": (today - invoice.due_date).days,
                "overdue": overdue,
                "paused": PAUSE_LABELS.get(paused.get(invoice.pk), ""),
                "ticked": invoice.pk in ticked
                if ticked is not None
                else overdue and invoice.pk not in paused,
                "minor": int(
                    quantize(invoice.open_amount, entry.currency).scaleb(exponent)
                ),
            }
        )
    ticked_rows = [row for row in rows if row["ticked"]]
    total = sum((row["invoice"].open_amount for row in ticked_rows), Decimal(0))
    return {
        "rows": rows,
        "count": len(ticked_rows),
        "total": quantize(total, entry.currency),
    }


class CallForm(forms.Form):
    outcome = forms.ChoiceField(choices=[o for o in Activity.Outcome.choices if o[0]])
    note = forms.CharField(required=False, widget=forms.Textarea)
    promise_amount = forms.CharField(
        required=False, label=gettext_lazy("Promised amount")
    )
    promise_date = OrgDateField(required=False, label=gettext_lazy("Promise date"))
    next_action_date = OrgDateField(required=False, label=gettext_lazy("Call back on"))


@require_POST
@capability_required("collect")
def account_action(request, pk, action):
    """Run one action on a queue row; answer with the row (or nothing if it left).

    A refused action answers 422 with the row's panel: the error sits on the form
    that was sent, which keeps what was typed and what was ticked. A section
    row (``slot``) gets its panel back instead of the whole row."""
    if action not in _ACTIONS:
        raise Http404("No such action.")
    entry = get_object_or_404(WorklistEntry.objects.select_related("customer"), pk=pk)
    customer = entry.customer
    actor = actor_of(request)
    slot = request.POST.get("slot", "")
    try:
        with transaction.atomic():
            message = _ACTIONS[action](request, customer, entry, actor)
    except DomainError as error:
        context = _row_context(request, entry, True, error=error.message, slot=slot)
        ticked = [int(i) for i in request.POST.getlist("invoices") if i.isdigit()]
        context.update(
            action=action,
            data=request.POST,
            invoices=_invoice_choices(
                entry, request.organization.today(), ticked=ticked
            ),
        )
        return render(request, _row_template(context), context, status=422)
    worklist_refresh(customer=customer)
    today = request.organization.today()
    entry = WorklistEntry.objects.filter(pk=entry.pk).first()
    if entry is None or not _in_queue(entry, today):
        return render(
            request,
            "collecting/_row_left.html",
            {
                "customer": customer,
                "message": message,
                "next": entry and entry.next_action_date,
                "in_section": slot in SECTION_KEYS,
                "row_id": f"{slot}-{pk}" if slot in SECTION_KEYS else f"account-{pk}",
            },
        )
    context = _row_context(request, entry, slot=slot)
    context["message"] = message
    return render(request, _row_template(context), context)


def _parsed_date(raw: str, *, field: str, label: str) -> date | None:
    return parse_org_date(raw, field=field, label=label.capitalize())


def _parsed_amount(raw: str, *, field: str) -> Decimal:
    """An amount as the organization writes numbers (1,250.00 in en, 1.250,00 in
    de), or plain, as every form's number input reads it (:mod:`o2c.numbers`)."""
    try:
        return parse_number(raw)
    except NotANumber:
        raise DomainError(
            "invalid",
            _("Enter the amount as a number, e.g. %(example)s.")
            % {"example": number_example()},
            field=field,
        ) from None


def _in_queue(entry: WorklistEntry, today: date) -> bool:
    return entry.needs_action and (
        entry.next_action_date is None or entry.next_action_date <= today
    )


def _selected_invoices(request, customer, entry):
    ids = [int(i) for i in request.POST.getlist("invoices") if i.isdigit()]
    invoices = [
        invoice
        for invoice in open_invoices_of(customer)
        if invoice.currency == entry.currency
    ]
    chosen = [invoice for invoice in invoices if invoice.pk in ids]
    if not ids:
        raise DomainError(
            "required", _("Choose at least one invoice."), field="invoices"
        )
    if len(chosen) != len(set(ids)):
        # Paid or credited since the panel opened: say so rather than act on
        # fewer invoices than the collector ticked.
        raise DomainError(
            "stale_invoices",
            _("A ticked invoice is no longer open; close the panel and open it again."),
            field="invoices",
        )
    return chosen


def _call(request, customer, entry, actor) -> str:
    form = CallForm(request.POST)
    if not form.is_valid():
        raise DomainError("invalid", _first_error(form))
    data = form.cleaned_data
    promised = data["outcome"] == Activity.Outcome.PROMISED
    if promised and (not data.get("promise_date") or not data.get("promise_amount")):
        raise DomainError(
            "required", _("A promise needs an amount and a date."), field="promise"
        )
    call_back = data.get("next_action_date")
    accounts.activity_log(
        customer=customer,
        kind=Activity.Kind.CALL,
        outcome=data["outcome"],
        note=data["note"] or "",
        next_action_date=call_back,
        actor=actor,
    )
    if promised:
        commitments.promise_create(
            customer=customer,
            invoices=_selected_invoices(request, customer, entry),
            amount=_parsed_amount(data["promise_amount"], field="promise_amount"),
            promised_date=data["promise_date"],
            note=data["note"] or "",
            next_action_date=call_back,
            actor=actor,
        )
        return _("Call logged; promise to pay by %(date)s.") % {
            "date": orgdate(data["promise_date"])
        }
    return _("Call logged.")


def _note(request, customer, entry, actor) -> str:
    note = request.POST.get("note", "").strip()
    if not note:
        raise DomainError("required", _("Write the note first."), field="note")
    accounts.activity_log(
        customer=customer, kind=Activity.Kind.NOTE, note=note, actor=actor
    )
    return _("Note added.")


def _email(request, customer, entry, actor) -> str:
    if customer.do_not_contact:
        raise DomainError(
            "do_not_contact",
            _("%(name)s is marked do not contact: no email is sent.")
            % {"name": customer.name},
        )
    template_id = request.POST.get("template", "")
    template = (
        EmailTemplate.objects.filter(pk=template_id).first()
        if template_id.isdigit()
        else None
    )
    if template is None:
        raise DomainError("required", _("Choose an email template."), field="template")
    accounts.email_send(
        customer=customer,
        template=template,
        invoices=_selected_invoices(request, customer, entry),
        actor=actor,
    )
    return _("Email “%(name)s” queued.") % {"name": template.name}


def _promise(request, customer, entry, actor) -> str:
    amount = request.POST.get("amount", "").strip()
    promised = _parsed_date(
        request.POST.get("promised_date", ""), field="promised_date", label=_("date")
    )
    if promised is None or not amount:
        raise DomainError(
            "required", _("A promise needs an amount and a date."), field="promise"
        )
    commitments.promise_create(
        customer=customer,
        invoices=_selected_invoices(request, customer, entry),
        amount=_parsed_amount(amount, field="amount"),
        promised_date=promised,
        note=request.POST.get("note", ""),
        actor=actor,
    )
    return _("Promise to pay by %(date)s recorded.") % {"date": orgdate(promised)}


def _dispute(request, customer, entry, actor) -> str:
    owner_id = request.POST.get("owner") or ""
    owner = (
        _members(request.organization).filter(pk=owner_id).first()
        if owner_id.isdigit()
        else None
    )
    commitments.dispute_open(
        customer=customer,
        invoices=_selected_invoices(request, customer, entry),
        reason_code=request.POST.get("reason_code", ""),
        owner=owner,
        description=request.POST.get("description", ""),
        actor=actor,
    )
    return _("Dispute opened; dunning of its invoices is paused.")


def _next_action(request, customer, entry, actor) -> str:
    day = _parsed_date(
        request.POST.get("next_action_date", ""),
        field="next_action_date",
        label=_("next action"),
    )
    accounts.next_action_set(customer=customer, day=day, actor=actor)
    if day:
        return _("Next action on %(date)s.") % {"date": orgdate(day)}
    return _("Next action cleared.")


def _hold(request, customer, entry, actor) -> str:
    accounts.hold_set(
        customer=customer,
        on_hold=True,
        reason=request.POST.get("reason", ""),
        actor=actor,
    )
    return _("Account put on hold.")


_ACTIONS = {
    "call": _call,
    "note": _note,
    "email": _email,
    "promise": _promise,
    "dispute": _dispute,
    "next_action": _next_action,
    "hold": _hold,
}


def _first_error(form) -> str:
    for field, errors in form.errors.items():
        label = form.fields[field].label or field.replace("_", " ").capitalize()
        return f"{label}: {errors[0]}"
    return _("Invalid input.")


@require_POST
@capability_required("manage_customers")
def reassign(request):
    """A manager moves the selected accounts to another collector."""
    ids = [int(i) for i in request.POST.getlist("entries") if i.isdigit()]
    target = request.POST.get("collector", "")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "collecting:my_day"
    # "none" unassigns on purpose; an empty choice must not unassign by accident.
    collector = (
        _members(request.organization).filter(pk=target).first()
        if target.isdigit()
        else None
    )
    if not ids or (target != "none" and collector is None):
        messages.error(
            request,
            _("Tick the accounts to move and choose who gets them.")
            if not ids
            else _("Choose who gets the selected accounts."),
        )
        return redirect(back)
    customers = list(Customer.objects.filter(worklist_entries__pk__in=ids).distinct())
    try:
        moved = accounts.collector_assign(
            customers=customers, collector=collector, actor=actor_of(request)
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d account reassigned.", "%(count)d accounts reassigned.", moved
            )
            % {"count": moved},
        )
    return redirect(back)


# --- Runs and notices to check --------------------------------------------------------

RUN_NOTICES = 100


@capability_required("view")
def runs(request):
    recent = list(DunningRun.objects.order_by("-started_at", "-pk")[:30])
    chosen = request.GET.get("run", "")
    shown = next((run for run in recent if str(run.pk) == chosen), None) or (
        recent[0] if recent else None
    )
    progress = run_progress(runs=recent)
    for run in recent:
        run.counts = progress[run.pk]
    latest = recent[0] if recent else None
    context = {
        "runs": recent,
        "in_progress": latest is not None
        and (
            latest.status in DunningRun.ACTIVE
            or any(run.counts["to_send"] for run in recent[:3])
        ),
        "shown_run": shown,
        "run_notices": run_notices(run=shown, limit=RUN_NOTICES) if shown else [],
        "run_notices_limit": RUN_NOTICES,
        "to_check": Notice.objects.filter(status=Notice.Status.UNKNOWN_CHECK)
        .select_related("customer", "step")
        .order_by("claimed_at"),
        "waiting": Notice.objects.filter(
            status=Notice.Status.PENDING, retry_at__isnull=False
        )
        .select_related("customer", "step")
        .order_by("retry_at")[:50],
        "failed": Notice.objects.filter(status=Notice.Status.FAILED)
        .select_related("customer", "step")
        .order_by("-created_at")[:50],
        "can_collect": role_can(request.membership.role, "collect"),
        "today": request.organization.today(),
    }
    if is_htmx(request) and request.GET.get("part") == "progress":
        return render(request, "collecting/_runs_table.html", context)
    return render(request, "collecting/runs.html", context)


@capability_required("view")
def run_preview(request):
    """What a run started now would write (htmx fragment of the runs page)."""
    return render(
        request, "collecting/_run_preview.html", {"preview": dunning_preview(limit=50)}
    )


@require_POST
@capability_required("collect")
def run_now(request):
    try:
        run = dunning_run_start(actor=actor_of(request))
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("collecting:runs")
    messages.success(
        request,
        _("The dunning run as of %(date)s has started; its progress shows below.")
        % {"date": orgdate(run.run_date)},
    )
    return redirect(f"{reverse('collecting:runs')}?run={run.pk}")


@require_POST
@capability_required("collect")
def notice_check(request, pk):
    """A person's finding about a notice in "unknown — check" (or a retry)."""
    notice = get_object_or_404(Notice.objects.all(), pk=pk)
    outcome = request.POST.get("outcome")
    try:
        if outcome == "retry":
            notice_retry(notice=notice, actor=actor_of(request))
        else:
            notice_reconcile(
                notice=notice,
                sent=outcome == "sent",
                note=request.POST.get("note", ""),
                actor=actor_of(request),
            )
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("collecting:runs")


# --- Policies -------------------------------------------------------------------------


class StepForm(forms.ModelForm):
    class Meta:
        model = DunningStep
        fields = [
            "name", "offset_days", "channel", "attach_invoices", "subject", "body",
            "translations", "fee_amount", "interest_rate", "minimum_amount",
        ]  # fmt: skip
        widgets = {
            "body": forms.Textarea(attrs={"rows": 10}),
            "translations": forms.Textarea(attrs={"rows": 4}),
        }
        labels = {
            "name": gettext_lazy("Name"),
            "offset_days": gettext_lazy("Days from the due date"),
            "channel": gettext_lazy("Channel"),
            "attach_invoices": gettext_lazy("Attach invoice PDFs"),
            "subject": gettext_lazy("Subject"),
            "body": gettext_lazy("Body"),
            "translations": gettext_lazy("Translations"),
            "fee_amount": gettext_lazy("Fee"),
            # xgettext:no-python-format
            "interest_rate": gettext_lazy("Interest % a year"),
            "minimum_amount": gettext_lazy("Minimum total"),
        }
        help_texts = {
            "translations": gettext_lazy(
                'Per language, e.g. {"de": {"subject": "…", "body": "…"}}'
            ),
            "attach_invoices": gettext_lazy(
                "Attach each listed invoice's PDF to the email."
            ),
            "interest_rate": gettext_lazy("Percent a year on the overdue amount."),
            "minimum_amount": gettext_lazy("Notices totalling less are not sent."),
        }


@capability_required("view")
def policy_list(request):
    return _policies_page(request)


def _policies_page(request, status=200, **form_state):
    """The policies page; ``form_state`` brings a refused form back with what was
    typed and why (``policy_data``/``policy_error``, ``template_data``/…)."""
    context = {
        "policies": DunningPolicy.objects.prefetch_related("steps"),
        "templates": EmailTemplate.objects.all(),
        "can_edit": role_can(request.membership.role, "administer"),
        "can_edit_texts": role_can(request.membership.role, "edit_templates"),
        **form_state,
    }
    return render(request, "collecting/policies.html", context, status=status)


@require_POST
@capability_required("administer")
def template_new(request):
    """A collector's email template (sent by hand from My day)."""
    try:
        policies.template_create(
            actor=actor_of(request),
            name=request.POST.get("name", ""),
            subject=request.POST.get("subject", ""),
            body=request.POST.get("body", ""),
        )
    except DomainError as error:
        return _policies_page(
            request, 400, template_data=request.POST, template_error=error.message
        )
    messages.success(request, _("Email template added."))
    return redirect("collecting:policies")


@capability_required("administer")
def policy_new(request):
    if request.method != "POST":
        return redirect("collecting:policies")
    try:
        if request.POST.get("standard"):
            policy = policies.standard_policy_create(
                actor=actor_of(request), name=request.POST.get("name") or "Standard"
            )
        else:
            policy = policies.policy_create(
                actor=actor_of(request),
                name=request.POST.get("name", ""),
                is_default=bool(request.POST.get("is_default")),
                segments=_segments(request.POST.get("segments", "")),
            )
    except DomainError as error:
        return _policies_page(
            request, 400, policy_data=request.POST, policy_error=error.message
        )
    return redirect("collecting:policy", pk=policy.pk)


def _whole_number(raw: str, *, field: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise DomainError(
            "invalid", "Enter a whole number of days.", field=field
        ) from None


def _segments(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


@capability_required("view")
def policy_detail(request, pk):
    policy = get_object_or_404(DunningPolicy.objects.prefetch_related("steps"), pk=pk)
    can_edit = role_can(request.membership.role, "administer")
    context = {
        "policy": policy,
        "steps": policy.steps.all(),
        "can_edit": can_edit,
        "can_edit_texts": role_can(request.membership.role, "edit_templates"),
        "customers": Customer.objects.order_by("name")[:200],
    }
    if request.method == "POST" and can_edit:
        try:
            policies.policy_update(
                policy=policy,
                actor=actor_of(request),
                name=request.POST.get("name", policy.name),
                description=request.POST.get("description", ""),
                is_default=bool(request.POST.get("is_default")),
                segments=_segments(request.POST.get("segments", "")),
                min_days_between_notices=_whole_number(
                    request.POST.get(
                        "min_days_between_notices",
                        str(policy.min_days_between_notices),
                    ),
                    field="min_days_between_notices",
                ),
                fee_period_days=_whole_number(
                    request.POST.get("fee_period_days", str(policy.fee_period_days)),
                    field="fee_period_days",
                ),
            )
        except DomainError as error:
            context.update(form_data=request.POST, error=error.message)
            return render(request, "collecting/policy_detail.html", context, status=400)
        messages.success(request, _("Policy saved."))
        return redirect("collecting:policy", pk=policy.pk)
    return render(request, "collecting/policy_detail.html", context)


@capability_required("administer")
def step_edit(request, pk=None, policy_pk=None):
    """Create (under ``policy_pk``) or edit a step; a bad template comes back with
    its error."""
    step = get_object_or_404(DunningStep.objects.all(), pk=pk) if pk else None
    policy = (
        step.policy
        if step
        else get_object_or_404(DunningPolicy.objects.all(), pk=policy_pk)
    )
    # Validating a bound ModelForm writes the input onto the instance: keep the
    # saved name for the heading of a refused edit.
    saved_name = step.name if step else ""
    form = StepForm(request.POST or None, instance=step)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in StepForm.Meta.fields}
        fields["translations"] = fields["translations"] or {}
        try:
            if step:
                policies.step_update(step=step, actor=actor_of(request), **fields)
            else:
                policies.step_create(policy=policy, actor=actor_of(request), **fields)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Step saved."))
            return redirect("collecting:policy", pk=policy.pk)
    return render(
        request,
        "collecting/step_form.html",
        {"form": form, "step": step, "policy": policy, "saved_name": saved_name,
         "customers": Customer.objects.order_by("name")[:200]},
        status=400 if form.errors else 200,
    )  # fmt: skip


@capability_required("view")
def step_preview(request, pk):
    """The step's message for a real customer (htmx panel)."""
    step = get_object_or_404(DunningStep.objects.all(), pk=pk)
    customer_id = request.GET.get("customer", "")
    customer = (
        Customer.objects.filter(pk=customer_id).first()
        if customer_id.isdigit()
        else None
    )
    context = {"step": step, "customer": customer}
    if customer is not None:
        try:
            context["rendered"] = policies.step_preview(step=step, customer=customer)
        except DomainError as error:
            context["error"] = error.message
    return render(request, "collecting/_preview.html", context)


# --- Customer timeline ----------------------------------------------------------------


TIMELINE_PAGE_EVENTS = 300
TIMELINE_PANEL_EVENTS = 15  # the customer page shows the latest; the page has more


@capability_required("view")
def timeline(request, pk):
    customer = get_object_or_404(Customer.objects.all(), pk=pk)
    panel = is_htmx(request)
    limit = TIMELINE_PANEL_EVENTS if panel else TIMELINE_PAGE_EVENTS
    events = customer_timeline(customer=customer, limit=limit)
    template = "collecting/_timeline.html" if panel else "collecting/timeline.html"
    context = {
        "customer": customer,
        "events": events,
        "panel": panel,
        "limited": len(events) >= limit,
        "limit": limit,
    }
    return render(request, template, context)


@capability_required("view")
def dispute_attachment(request, pk):
    """The file a customer sent with a dispute, for staff of its organization
    only (another organization's id answers 404), always as a download."""
    dispute = get_object_or_404(Dispute.objects.all(), pk=pk)
    if not dispute.attachment:
        raise Http404("This dispute has no attachment.")
    suffix = PurePath(dispute.attachment.name).suffix.lower()
    response = FileResponse(
        dispute.attachment.open("rb"),
        content_type=settings.PORTAL_ATTACHMENT_TYPES.get(
            suffix, "application/octet-stream"
        ),
        as_attachment=True,
        filename=f"dispute-{dispute.pk}{suffix}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
