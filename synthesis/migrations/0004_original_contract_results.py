"""The original contract's result shape: completed jobs get an
``audio_file_id``, and the per-turn timings stored as ``turns: [{index, …}]``
become ``turn_timings: [{turn_index, …}]``. Reversible, batched, one row at a
time so a large table is never held in memory."""

import uuid

from django.db import migrations, models


def to_turn_timings(apps, schema_editor):
    Job = apps.get_model("synthesis", "Job")
    for job in Job.objects.filter(status="completed").only("pk", "audio", "result_metadata").iterator(chunk_size=500):
        meta = dict(job.result_metadata or {})
        fields = {}
        if "turns" in meta and "turn_timings" not in meta:
            meta["turn_timings"] = [
                {"turn_index": t.get("index"), **{k: v for k, v in t.items() if k != "index"}}
                for t in meta.pop("turns") or []
            ]
            fields["result_metadata"] = meta
        if job.audio:
            fields["audio_file_id"] = uuid.uuid4()
        if fields:
            Job.objects.filter(pk=job.pk).update(**fields)


def to_turns(apps, schema_editor):
    Job = apps.get_model("synthesis", "Job")
    for job in Job.objects.filter(status="completed").only("pk", "result_metadata").iterator(chunk_size=500):
        meta = dict(job.result_metadata or {})
        if "turn_timings" in meta:
            meta["turns"] = [
                {"index": t.get("turn_index"), **{k: v for k, v in t.items() if k != "turn_index"}}
                for t in meta.pop("turn_timings") or []
            ]
            Job.objects.filter(pk=job.pk).update(result_metadata=meta)


class Migration(migrations.Migration):
    dependencies = [
        ("synthesis", "0003_job_idempotency_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="audio_file_id",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(to_turn_timings, to_turns),
    ]
