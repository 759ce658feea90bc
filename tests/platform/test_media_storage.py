"""With ``AWS_STORAGE_BUCKET_NAME`` set, uploaded and generated files live in an
S3-compatible bucket (django-storages), so web and workers on several hosts share
them. Here moto's in-process S3 stands in for the bucket; nothing may land in the
local MEDIA_ROOT."""

import csv
import io
import re

import boto3
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from moto import mock_aws
from PIL import Image
from pypdf import PdfReader

from invoicing.documents import StaticFilesFetcher, render_invoice_pdf
from invoicing.imports.services import import_job_create
from o2c.models import Job, Role
from o2c.services import Actor
from o2c.settings import base
from o2c.tenancy import tenant_context
from reports import exports, services
from tests.factories import CustomerFactory, issued_invoice, member

BUCKET = "o2c-media-test"


@pytest.fixture
def bucket(settings, monkeypatch, tmp_path):
    """The settings' S3 storage, as the environment would configure it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_S3_REGION_NAME", "eu-central-1")
    monkeypatch.setattr(base, "AWS_STORAGE_BUCKET_NAME", BUCKET)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-central-1")
        s3.create_bucket(
            Bucket=BUCKET,
            CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
        )
        settings.STORAGES = {**settings.STORAGES, "default": base.media_storage()}
        yield s3
    assert not (tmp_path / "media").exists()  # nothing written to the local disk


def keys(s3, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def stored(s3, name: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=f"media/{name}")["Body"].read()


def test_the_settings_choose_s3_storage_when_a_bucket_is_named(bucket):
    default_storage.save("probe.txt", io.BytesIO(b"shared"))
    assert default_storage.bucket_name == BUCKET
    assert stored(bucket, "probe.txt") == b"shared"


@pytest.mark.django_db
def test_an_export_file_goes_to_the_bucket_and_downloads_from_it(
    bucket, org, django_capture_on_commit_callbacks
):
    with tenant_context(org):
        customer = CustomerFactory(name="Bucket Brigade AG")
        invoice = issued_invoice(customer, "123.45")
        user = member(org, Role.FINANCE)
        with django_capture_on_commit_callbacks(execute=True):
            job = services.export_job_create(
                spec=exports.export_spec("invoices", "csv", {}),
                actor=Actor.for_user(user, org),
            )
        job = Job.objects.get(pk=job.pk)
    assert job.status == Job.Status.SUCCEEDED
    assert keys(bucket, "media/exports/") == [f"media/{job.output_file.name}"]

    in_bucket = stored(bucket, job.output_file.name).decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(in_bucket))
    assert (row["Invoice"], row["Customer"]) == (invoice.number, "Bucket Brigade AG")

    client = Client()
    client.force_login(user)
    response = client.get(f"/reports/exports/{job.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode("utf-8-sig") == in_bucket


@pytest.mark.django_db
def test_an_uploaded_import_is_kept_in_the_bucket_and_read_back_by_the_job(
    bucket, org, django_capture_on_commit_callbacks
):
    content = (
        "number,customer,invoice_date,due_date,amount,currency,settled_date\n"
        "S3-1,C1,2024-01-10,2024-02-09,100.00,EUR,\n"
    )
    with tenant_context(org):
        CustomerFactory(number="C1", currency="EUR")
        with django_capture_on_commit_callbacks(execute=True):
            job = import_job_create(
                kind="invoices",
                file=SimpleUploadedFile("s3.csv", content.encode()),
                actor=Actor.system(),
            )
        job = Job.objects.get(pk=job.pk)

    assert job.status == Job.Status.SUCCEEDED, job.errors
    assert job.result["created"] == 1
    (key,) = keys(bucket, "media/jobs/")
    assert stored(bucket, key.removeprefix("media/")).decode() == content


@pytest.mark.django_db
def test_a_logo_in_the_bucket_is_printed_on_the_invoice(bucket, org):
    admin = member(org, Role.ADMIN)
    client = Client()
    client.force_login(admin)
    png = io.BytesIO()
    Image.new("RGB", (300, 100), (200, 30, 30)).save(png, "PNG")
    png.seek(0)
    png.name = "logo.png"

    response = client.post("/settings/organization/logo/upload/", {"logo": png})

    assert response.status_code == 302
    (key,) = keys(bucket, "media/logos/")
    assert re.fullmatch(rf"media/logos/{org.pk}-[0-9a-f]+\.png", key)
    org.refresh_from_db()
    with tenant_context(org):
        invoice = issued_invoice(CustomerFactory(), "100.00")
        pdf = PdfReader(io.BytesIO(render_invoice_pdf(invoice)))
    assert [image.image.size for image in pdf.pages[0].images] == [(300, 100)]
    served = client.get("/settings/organization/logo/")
    assert served["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    "uri",
    [
        "o2c-logo:jobs/2026/01/statement.xml",
        "o2c-logo:logos/../jobs/2026/01/statement.xml",
        "o2c-logo:logos/sub/1-a.png",
        "o2c-logo:/etc/passwd",
        "o2c-logo:",
    ],
)
def test_the_pdf_fetcher_reads_logos_and_no_other_stored_file(uri):
    with pytest.raises(PermissionError):
        StaticFilesFetcher(logos=True)(uri)
