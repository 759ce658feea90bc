"""Status transitions with their audit trail, and gap-free document numbers."""

import pytest
from django.db import transaction

from o2c.errors import ConflictError
from o2c.models import AuditEvent, Job, Sequence
from o2c.services import Actor, next_number, transition
from o2c.tenancy import all_tenants, tenant_context
from tests.factories import SYSTEM, issued_invoice, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(tenant):
    return Job.objects.create(organization=tenant, kind="export")


def audit_of(obj):
    return list(
        AuditEvent.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)
        ).order_by("pk")
    )


def test_allowed_transition_changes_status_and_records_who_from_and_to(job, tenant):
    user = member(tenant)
    actor = Actor.for_user(user, tenant)

    result = transition(obj=job, to_status=Job.Status.RUNNING, actor=actor)

    assert result.status == job.status == Job.Status.RUNNING
    assert Job.objects.get(pk=job.pk).status == Job.Status.RUNNING
    (event,) = audit_of(job)
    assert event.actor_user == user
    assert event.actor_label == user.username
    assert (event.from_status, event.to_status) == ("queued", "running")
    assert event.action == "status:running"
    assert event.organization == tenant


def test_transition_saves_extra_fields_and_data_with_the_status(job):
    transition(
        obj=job,
        to_status=Job.Status.FAILED,
        actor=SYSTEM,
        action="gave_up",
        data={"reason": "file unreadable"},
        extra_fields={"progress": 7},
    )
    job.refresh_from_db()
    assert (job.status, job.progress) == ("failed", 7)
    (event,) = audit_of(job)
    assert event.action == "gave_up"
    assert event.data == {"reason": "file unreadable"}
    assert event.actor_label == "tests"


def test_transition_outside_the_table_is_refused_and_changes_nothing(job):
    transition(obj=job, to_status=Job.Status.RUNNING, actor=SYSTEM)
    transition(obj=job, to_status=Job.Status.SUCCEEDED, actor=SYSTEM)

    with pytest.raises(ConflictError) as refused:
        transition(obj=job, to_status=Job.Status.RUNNING, actor=SYSTEM)

    assert refused.value.code == "invalid_transition"
    assert refused.value.field == "status"
    assert "succeeded" in refused.value.message
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED
    assert [(e.from_status, e.to_status) for e in audit_of(job)] == [
        ("queued", "running"),
        ("running", "succeeded"),
    ]


def test_skipping_a_step_of_the_table_is_refused(job):
    with pytest.raises(ConflictError):
        transition(obj=job, to_status=Job.Status.SUCCEEDED, actor=SYSTEM)
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED
    assert audit_of(job) == []


def test_transition_to_the_current_status_is_a_no_op_without_audit(job):
    transition(obj=job, to_status=Job.Status.QUEUED, actor=SYSTEM)
    assert audit_of(job) == []


def test_transition_reads_the_row_not_the_stale_object(job):
    stale = Job.objects.get(pk=job.pk)
    transition(obj=job, to_status=Job.Status.RUNNING, actor=SYSTEM)
    transition(obj=job, to_status=Job.Status.SUCCEEDED, actor=SYSTEM)

    with pytest.raises(ConflictError):
        transition(obj=stale, to_status=Job.Status.FAILED, actor=SYSTEM)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_numbers_count_up_per_sequence(tenant):
    assert next_number("invoice", prefix="INV-") == "INV-000001"
    assert next_number("invoice", prefix="INV-") == "INV-000002"
    assert next_number("credit_note", prefix="CN-") == "CN-000001"
    assert next_number("invoice", prefix="INV-") == "INV-000003"


def test_each_organization_has_its_own_sequence(org, other_org):
    with tenant_context(org):
        assert next_number("invoice", prefix="INV-") == "INV-000001"
        assert next_number("invoice", prefix="INV-") == "INV-000002"
    with tenant_context(other_org):
        assert next_number("invoice", prefix="INV-") == "INV-000001"
    with tenant_context(org):
        assert next_number("invoice", prefix="INV-") == "INV-000003"
    with all_tenants():
        assert Sequence.unscoped.filter(name="invoice").count() == 2


def test_a_rolled_back_number_is_given_out_again(tenant):
    assert next_number("invoice", prefix="INV-") == "INV-000001"
    with pytest.raises(RuntimeError), transaction.atomic():
        assert next_number("invoice", prefix="INV-") == "INV-000002"
        raise RuntimeError("issuing failed after numbering")
    assert next_number("invoice", prefix="INV-") == "INV-000002"


def test_a_sequence_created_in_a_rolled_back_transaction_starts_again_at_one(tenant):
    with pytest.raises(RuntimeError), transaction.atomic():
        assert next_number("payment", prefix="PAY-") == "PAY-000001"
        raise RuntimeError
    assert not Sequence.objects.filter(name="payment").exists()
    assert next_number("payment", prefix="PAY-") == "PAY-000001"


def test_stored_prefix_and_padding_win_over_the_callers(tenant):
    Sequence.objects.create(
        organization=tenant, name="invoice", prefix="RE-2026-", padding=4
    )
    assert next_number("invoice", prefix="INV-") == "RE-2026-0001"


def test_issued_invoices_are_numbered_without_gaps_after_a_failed_issue(tenant):
    from tests.factories import CustomerFactory

    customer = CustomerFactory()
    first = issued_invoice(customer, "100.00")
    with pytest.raises(RuntimeError), transaction.atomic():
        issued_invoice(customer, "200.00")
        raise RuntimeError("mail server down, issue rolled back")
    second = issued_invoice(customer, "300.00")
    assert [first.number, second.number] == ["INV-000001", "INV-000002"]
