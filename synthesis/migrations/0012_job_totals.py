"""JobTotal: the whole table's counts per status, in a few shards, kept from
synthesis_jobcount by triggers, so that job_stats reads at most 16 rows per
status instead of every user's counters (see JobTotal's docstring)."""

from django.db import migrations, models

SHARDS = 16  # JobTotal.SHARDS when this migration was written

# A copy of synthesis.models.JOB_TOTAL_REBUILD_SQL as it was when this
# migration was written: from the per-user counters (about 4 rows a user),
# never from the job table, so it takes a moment at a million jobs.
FILL = (
    "INSERT INTO synthesis_jobtotal (shard, status, jobs, files, bytes) "
    f"SELECT owner_id % {SHARDS}, status, SUM(jobs), SUM(files), SUM(bytes) FROM synthesis_jobcount "
    f"GROUP BY owner_id % {SHARDS}, status"
)

POSTGRESQL = [
    # Writers of synthesis_jobcount (every job insert, move and delete) wait
    # until this transaction commits: none is missed between the fill and
    # the trigger, none counted twice.
    "LOCK TABLE synthesis_jobcount IN SHARE ROW EXCLUSIVE MODE",
    """
    CREATE FUNCTION synthesis_jobtotal_add(p_owner bigint, p_status text, p_jobs bigint, p_files bigint,
                                           p_bytes bigint) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF p_jobs = 0 AND p_files = 0 AND p_bytes = 0 THEN
            RETURN;
        END IF;
        INSERT INTO synthesis_jobtotal (shard, status, jobs, files, bytes)
        VALUES (p_owner % 16, p_status, p_jobs, p_files, p_bytes)
        ON CONFLICT (shard, status) DO UPDATE SET jobs = synthesis_jobtotal.jobs + EXCLUDED.jobs,
            files = synthesis_jobtotal.files + EXCLUDED.files, bytes = synthesis_jobtotal.bytes + EXCLUDED.bytes;
    END $$
    """,
    """
    CREATE FUNCTION synthesis_jobcount_totals() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM synthesis_jobtotal_add(NEW.owner_id, NEW.status, NEW.jobs, NEW.files, NEW.bytes);
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM synthesis_jobtotal_add(OLD.owner_id, OLD.status, -OLD.jobs, -OLD.files, -OLD.bytes);
        ELSIF OLD.owner_id = NEW.owner_id AND OLD.status = NEW.status THEN
            -- The usual case (the job triggers' upserts): one row, the difference.
            PERFORM synthesis_jobtotal_add(NEW.owner_id, NEW.status, NEW.jobs - OLD.jobs,
                                           NEW.files - OLD.files, NEW.bytes - OLD.bytes);
        ELSE
            PERFORM synthesis_jobtotal_add(OLD.owner_id, OLD.status, -OLD.jobs, -OLD.files, -OLD.bytes);
            PERFORM synthesis_jobtotal_add(NEW.owner_id, NEW.status, NEW.jobs, NEW.files, NEW.bytes);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER synthesis_jobcount_totals AFTER INSERT OR UPDATE OR DELETE ON synthesis_jobcount
    FOR EACH ROW EXECUTE FUNCTION synthesis_jobcount_totals()
    """,
    FILL,
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS synthesis_jobcount_totals ON synthesis_jobcount",
    "DROP FUNCTION IF EXISTS synthesis_jobcount_totals()",
    "DROP FUNCTION IF EXISTS synthesis_jobtotal_add(bigint, text, bigint, bigint, bigint)",
]

_SQLITE_ADD = """
    INSERT INTO synthesis_jobtotal (shard, status, jobs, files, bytes)
    VALUES ({row}.owner_id % 16, {row}.status, {sign}{row}.jobs, {sign}{row}.files, {sign}{row}.bytes)
    ON CONFLICT (shard, status) DO UPDATE SET jobs = jobs + excluded.jobs, files = files + excluded.files,
        bytes = bytes + excluded.bytes;
"""
SQLITE = [
    "CREATE TRIGGER synthesis_jobcount_totals_insert AFTER INSERT ON synthesis_jobcount "
    f"BEGIN {_SQLITE_ADD.format(row='NEW', sign='')} END",
    "CREATE TRIGGER synthesis_jobcount_totals_delete AFTER DELETE ON synthesis_jobcount "
    f"BEGIN {_SQLITE_ADD.format(row='OLD', sign='-')} END",
    "CREATE TRIGGER synthesis_jobcount_totals_update AFTER UPDATE OF owner_id, status, jobs, files, bytes "
    "ON synthesis_jobcount "
    f"BEGIN {_SQLITE_ADD.format(row='OLD', sign='-')} {_SQLITE_ADD.format(row='NEW', sign='')} END",
    FILL,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS synthesis_jobcount_totals_update",
    "DROP TRIGGER IF EXISTS synthesis_jobcount_totals_delete",
    "DROP TRIGGER IF EXISTS synthesis_jobcount_totals_insert",
]


def create_triggers(apps, schema_editor):
    for sql in {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)


def drop_triggers(apps, schema_editor):
    for sql in {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('synthesis', '0011_segment_sentences'),
    ]

    operations = [
        migrations.CreateModel(
            name='JobTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('shard', models.SmallIntegerField()),
                ('status', models.CharField(max_length=16)),
                ('jobs', models.BigIntegerField(default=0)),
                ('files', models.BigIntegerField(default=0)),
                ('bytes', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('shard', 'status'), name='jobtotal_shard_status')],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
