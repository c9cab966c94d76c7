"""The admin searches titles by their beginning (JobAdmin.get_search_results):
a btree on UPPER(title) with the pattern operators answers ``LIKE 'X%'`` as
an index range, read in its order (``ORDER BY … USING ~<~``) and cut after
the first JobAdmin.TITLE_MATCHES titles, whatever the size of the table. It
replaces 0005's trigram index, whose lists for a "contains" search grow with
the table, and which every insert had to update."""

from django.db import migrations

POSTGRESQL = [
    "DROP INDEX IF EXISTS job_title_trgm",
    "CREATE INDEX IF NOT EXISTS job_title_prefix ON synthesis_job (UPPER(title) text_pattern_ops)",
    # The same search's username prefix (UPPER(username) LIKE 'X%'): an index
    # range instead of reading every user.
    "CREATE INDEX IF NOT EXISTS user_username_prefix ON auth_user (UPPER(username) text_pattern_ops)",
]
POSTGRESQL_REVERSE = [
    "DROP INDEX IF EXISTS user_username_prefix",
    "DROP INDEX IF EXISTS job_title_prefix",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS job_title_trgm ON synthesis_job USING gin (UPPER(title) gin_trgm_ops)",
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRESQL:
            schema_editor.execute(sql, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRESQL_REVERSE:
            schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('synthesis', '0012_job_totals'),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
