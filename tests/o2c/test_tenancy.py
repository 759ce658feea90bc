import pytest

from o2c.errors import TenantNotSet
from o2c.tenancy import tenant_context
from orders.models import Customer
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
