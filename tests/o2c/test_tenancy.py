from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from o2c.celery import app as celery_app
from o2c.commands import TenantCommand
from o2c.errors import TenantNotSet
from o2c.tasks import tenant_task
from o2c.tenancy import all_tenants, current_organization, tenant_context
from orders.models import Customer, PaymentTerm
from tests.factories import CustomerFactory


def test_reading_tenant_rows_without_an_organization_raises(db):
    with pytest.raises(TenantNotSet):
        list(Customer.objects.all())


def test_rows_are_scoped_to_the_organization_in_context(org, other_org):
    with tenant_context(org):
        mine = CustomerFactory()
    with tenant_context(other_org):
        CustomerFactory()
        assert list(Customer.objects.values_list("pk", flat=True)) != [mine.pk]
        assert not Customer.objects.filter(pk=mine.pk).exists()
    with tenant_context(org):
        assert list(Customer.objects.all()) == [mine]


def test_writing_tenant_rows_without_an_organization_raises(db):
    with pytest.raises(TenantNotSet):
        PaymentTerm.objects.create(name="Net 30")


def test_context_is_restored_after_leaving_a_nested_organization(org, other_org):
    with tenant_context(org):
        with tenant_context(other_org):
            assert current_organization() == other_org
        assert current_organization() == org
    with pytest.raises(TenantNotSet):
        current_organization()


def test_tenant_context_refuses_no_organization():
    with pytest.raises(TenantNotSet), tenant_context(None):
        pass


def test_unscoped_manager_is_the_explicit_way_to_see_every_tenant(org, other_org):
    with tenant_context(org):
        CustomerFactory()
    with tenant_context(other_org):
        CustomerFactory()
    with all_tenants():  # on PostgreSQL, row-level security lets them through
        assert Customer.unscoped.count() == 2


@celery_app.task(name="tests.o2c.customer_numbers")
@tenant_task
def customer_numbers(organization_id):
    return sorted(Customer.objects.values_list("number", flat=True))


def test_tenant_task_without_organization_raises(db):
    with pytest.raises(TenantNotSet):
        customer_numbers()
    with pytest.raises(TenantNotSet):
        customer_numbers.delay()


def test_tenant_task_runs_inside_its_organization_only(org, other_org):
    with tenant_context(org):
        CustomerFactory(number="MINE")
    with tenant_context(other_org):
        CustomerFactory(number="THEIRS")
        # The task's organization wins over whatever the caller had bound.
        assert customer_numbers.delay(org.pk).get() == ["MINE"]
    assert customer_numbers(other_org.pk) == ["THEIRS"]
    with pytest.raises(TenantNotSet):
        current_organization()


def test_tenant_task_for_a_deleted_organization_returns_quietly(db):
    assert customer_numbers(987654) is None


class CustomerCount(TenantCommand):
    def handle_tenant(self, organization, **options):
        self.stdout.write(f"{organization.slug}: {Customer.objects.count()}")


def test_tenant_command_without_org_is_an_error(db):
    with pytest.raises(CommandError, match="--org"):
        call_command(CustomerCount())


def test_tenant_command_with_an_unknown_org_is_an_error(db):
    with pytest.raises(CommandError, match="No organization 'nope'"):
        call_command(CustomerCount(), org="nope")


def test_tenant_command_runs_inside_the_organization_by_slug_or_id(org, other_org):
    with tenant_context(org):
        CustomerFactory()
        CustomerFactory()
    out = StringIO()
    call_command(CustomerCount(), org=org.slug, stdout=out)
    call_command(CustomerCount(), org=str(other_org.pk), stdout=out)
    assert out.getvalue().splitlines() == [f"{org.slug}: 2", f"{other_org.slug}: 0"]
    with pytest.raises(TenantNotSet):
        current_organization()
