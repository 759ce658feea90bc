"""Events as records of their own: deliveries reference one, several deliveries
of an event to one endpoint are allowed (resends), and an endpoint keeps its
previous secret for a day after a roll."""

import django.db.models.deletion
from django.db import migrations, models


def flag_organizations(apps, schema_editor):
    Organization = apps.get_model("o2c", "Organization")
    WebhookEndpoint = apps.get_model("o2c", "WebhookEndpoint")
    Organization.objects.filter(
        pk__in=WebhookEndpoint.objects.filter(active=True).values("organization_id")
    ).update(has_webhook_endpoints=True)


def deliveries_to_events(apps, schema_editor):
    """Each existing delivery's payload becomes (or joins) its event."""
    Event = apps.get_model("o2c", "Event")
    WebhookDelivery = apps.get_model("o2c", "WebhookDelivery")
    for delivery in WebhookDelivery.objects.order_by("pk").iterator():
        payload = delivery.payload or {}
        data = payload.get("data") or {}
        object_type = delivery.event.split(".")[0]
        # The old payloads named their object by its type ("promise": 7).
        object_id = data.get("id", data.get(object_type, ""))
        event, _ = Event.objects.get_or_create(
            id=delivery.event_id,
            defaults={
                "organization_id": delivery.organization_id,
                "type": delivery.event,
                "created": payload.get("created") or delivery.created_at,
                "api_version": "v1",
                "object_type": object_type,
                "object_id": str(object_id),
                "data": data,
            },
        )
        delivery.event_record_id = event.pk
        delivery.save(update_fields=["event_record"])


class Migration(migrations.Migration):
    dependencies = [
        ("o2c", "0004_idempotency_created"),
    ]

    operations = [
        migrations.CreateModel(
            name="Event",
            fields=[
                (
                    "id",
                    models.CharField(
                        editable=False, max_length=40, primary_key=True, serialize=False
                    ),
                ),
                ("type", models.CharField(max_length=60)),
                ("created", models.DateTimeField()),
                ("api_version", models.CharField(max_length=20)),
                ("object_type", models.CharField(max_length=40)),
                ("object_id", models.CharField(max_length=40)),
                (
                    "data",
                    models.JSONField(
                        help_text="The object as it was when the event happened."
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="o2c.organization",
                    ),
                ),
            ],
            options={
                "ordering": ["-created", "-id"],
                "indexes": [
                    models.Index(
                        fields=["organization", "created"], name="event_created"
                    ),
                    models.Index(
                        fields=["organization", "object_type", "object_id"],
                        name="event_object",
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="organization",
            name="has_webhook_endpoints",
            field=models.BooleanField(
                default=False,
                editable=False,
                help_text="Whether an active webhook endpoint exists (kept by "
                "o2c.webhooks), so services emitting events skip the endpoint "
                "lookup when none does.",
            ),
        ),
        migrations.RunPython(flag_organizations, migrations.RunPython.noop),
        migrations.AddField(
            model_name="webhookendpoint",
            name="previous_secret",
            field=models.CharField(
                blank=True,
                help_text="The secret before the last roll; deliveries are signed "
                "with it too until previous_secret_expires_at.",
                max_length=100,
            ),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="previous_secret_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="event_record",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="o2c.event",
            ),
        ),
        migrations.RunPython(deliveries_to_events, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="webhookdelivery", name="webhookdelivery_unique_event"
        ),
        migrations.RemoveField(model_name="webhookdelivery", name="payload"),
        migrations.RemoveField(model_name="webhookdelivery", name="event_id"),
        migrations.RemoveField(model_name="webhookdelivery", name="event"),
        migrations.RenameField(
            model_name="webhookdelivery", old_name="event_record", new_name="event"
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="event",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="o2c.event",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                fields=["endpoint", "status"], name="webhookdelivery_pending"
            ),
        ),
    ]
