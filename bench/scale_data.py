"""N realistic jobs, written by PostgreSQL itself (INSERT … SELECT over
generate_series): 1,000,000 jobs take about a minute, where the ORM would take
an hour.

The shape (bench/README.md, "Scale"):
- ``users`` users (default 10,000) named ``scale00000``…; ``scale00000`` is
  the heavy user and owns ``heavy_share`` (10 %) of the jobs, the others share
  the rest evenly;
- creation times spread evenly over the last ``days`` (60) days, so half of
  the finished jobs are past the 30-day retention (what cleanup_jobs finds);
- the newest ``queued`` jobs (10,000) are pending, at most one per ordinary
  user and 3 for the heavy user, as the per-user limit allows, each with a
  row in django-q2's queue table (a placeholder payload: no worker runs
  during the measurements); 2 are processing; of the rest 85 % completed
  (with an audio name and its size), 8 % failed, 7 % cancelled;
- dialogues of 3 to 8 short turns, and one job in 200 with a 20,000-character
  turn (stored out of line, as big ones are).

The job-count triggers are switched off during the load and the counts
rebuilt in one pass afterwards (JobCount.objects.rebuild()'s SQL), then the
tables are vacuumed and analysed, as autovacuum would have done on a live
system.
"""

TITLE_WORDS = "'{Hello,Meeting,Podcast,Interview,Lesson,Story,Call,Briefing,Radio,Scene}'"


def build(conn, jobs: int, *, users: int = 10_000, heavy_share: float = 0.10, days: int = 60, queued: int = 10_000):
    """Fill an empty, migrated database through ``conn`` (psycopg, autocommit)."""
    users = max(2, min(users, jobs))
    queued = min(queued, 2 * (users - 1) + 3)
    heavy_every = max(2, round(1 / heavy_share))
    # The window of newest jobs that are pending: the heavy user's share of
    # it is pending only for its newest 3, so the window is widened to leave
    # `queued` pending jobs in all.
    window = min(round((queued - 3) * heavy_every / (heavy_every - 1)), jobs // 2)
    conn.execute(
        """
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                               is_active, date_joined)
        SELECT '!', false, 'scale' || lpad(g::text, 5, '0'), '', '', '', false, true, now() - interval '90 days'
        FROM generate_series(0, %s - 1) AS g
        """,
        (users,),
    )
    first_user = conn.execute("SELECT min(id) FROM auth_user WHERE username LIKE 'scale%%'").fetchone()[0]
    conn.execute("ALTER TABLE synthesis_job DISABLE TRIGGER USER")
    # g runs oldest (1) to newest (jobs). Job g belongs to the heavy user when
    # g % heavy_every = 0; the newest `queued` are pending: the heavy user's
    # among them are only its newest 3, the others go to distinct users.
    conn.execute(
        f"""
        INSERT INTO synthesis_job (id, owner_id, job_type, status, provider, title, input_params, audio,
            result_metadata, error_code, error_message, retry_count, progress_done, progress_total,
            created_at, started_at, completed_at, heartbeat_at, deadline_at, worker_name, run_token, task_id,
            idempotency_key, request_hash, audio_file_id, attempts, first_started_at, retake_turns, lexicon)
        SELECT gen_random_uuid(), owner, 'multi_role_tts', status, 'espeak',
            ({TITLE_WORDS}::text[])[1 + g %% 10] || ' ' || g || CASE WHEN turns > 3 THEN ' …' ELSE '' END,
            jsonb_build_object(
                'turns', (SELECT jsonb_agg(jsonb_build_object(
                              'speaker', (ARRAY['Alice', 'Bob', 'Carol'])[1 + t %% 3],
                              'text', CASE WHEN big AND t = 0 THEN repeat('A long line of dialogue. ', 800)
                                           ELSE 'Line ' || t || ' of dialogue ' || g || ', said clearly.' END,
                              'index', t)) FROM generate_series(0, turns - 1) AS t),
                'voice_assignments', '[{{"speaker": "Alice", "voice_id": "en-us+f3"}},
                                       {{"speaker": "Bob", "voice_id": "en-us+m3"}},
                                       {{"speaker": "Carol", "voice_id": "en-gb"}}]'::jsonb,
                'language', 'en', 'output_format', 'mp3', 'gap_ms', 300, 'crossfade_ms', 50),
            CASE WHEN status = 'completed' THEN 'audio/bench/' || g || '.mp3' ELSE '' END,
            CASE WHEN status = 'completed' THEN jsonb_build_object(
                'duration_ms', 2000 * turns, 'latency_ms', 900, 'size_bytes', 16000 * turns,
                'synthesis_mode', 'segmented', 'format', 'mp3', 'sample_rate', 22050) ELSE '{{}}'::jsonb END,
            CASE status WHEN 'failed' THEN 'PROVIDER_ERROR' WHEN 'cancelled' THEN 'CANCELLED' ELSE '' END,
            CASE status WHEN 'failed' THEN 'The engine refused the text.'
                        WHEN 'cancelled' THEN 'Cancelled before it started.' ELSE '' END,
            0,
            CASE WHEN status = 'completed' THEN turns WHEN status = 'processing' THEN 1 ELSE 0 END,
            turns,
            created,
            CASE WHEN status IN ('completed', 'failed', 'processing') THEN created + interval '0.1 s' END,
            CASE WHEN status IN ('completed', 'failed', 'cancelled') THEN created + interval '1.5 s' END,
            CASE WHEN status IN ('completed', 'failed', 'processing') THEN created + interval '1.4 s' END,
            CASE WHEN status = 'processing' THEN now() + interval '10 min' END,
            CASE WHEN status = 'processing' THEN 'bench' ELSE '' END,
            NULL, '', '', '',
            CASE WHEN status = 'completed' THEN gen_random_uuid() END,
            CASE WHEN status IN ('completed', 'failed', 'processing') THEN 1 ELSE 0 END,
            CASE WHEN status IN ('completed', 'failed', 'processing') THEN created + interval '0.1 s' END,
            '[]'::jsonb, '[]'::jsonb
        FROM (
            SELECT g, turns, big, created,
                CASE WHEN heavy THEN %(first_user)s
                     WHEN pending THEN %(first_user)s + 1 + (%(jobs)s - g) %% (%(users)s - 1)
                     ELSE %(first_user)s + 1 + (g::bigint * 7919) %% (%(users)s - 1) END AS owner,
                CASE WHEN pending AND (NOT heavy OR g > %(jobs)s - 3 * %(heavy_every)s) THEN 'pending'
                     WHEN pending THEN 'completed'
                     WHEN g > %(jobs)s - %(queued)s - 2 THEN 'processing'
                     WHEN g %% 100 < 85 THEN 'completed' WHEN g %% 100 < 93 THEN 'failed'
                     ELSE 'cancelled' END AS status
            FROM (
                SELECT g, 3 + g %% 6 AS turns, g %% 200 = 7 AS big,
                    g %% %(heavy_every)s = 0 AS heavy, g > %(jobs)s - %(queued)s AS pending,
                    now() - interval '1 day' * %(days)s * (%(jobs)s - g) / %(jobs)s
                        - interval '1 ms' * (g %% 1000) AS created
                FROM generate_series(1, %(jobs)s) AS g
            ) AS shape
        ) AS job
        """,
        {
            "jobs": jobs,
            "users": users,
            "first_user": first_user,
            "heavy_every": heavy_every,
            "queued": window,
            "days": days,
        },
    )
    conn.execute("ALTER TABLE synthesis_job ENABLE TRIGGER USER")
    conn.execute(
        """
        INSERT INTO synthesis_jobcount (owner_id, status, jobs, files, bytes)
        SELECT owner_id, status, COUNT(*), SUM(CASE WHEN audio <> '' THEN 1 ELSE 0 END),
               COALESCE(SUM(CASE WHEN audio <> '' THEN (result_metadata ->> 'size_bytes')::bigint ELSE 0 END), 0)
        FROM synthesis_job GROUP BY owner_id, status
        """
    )
    conn.execute(
        """
        INSERT INTO django_q_ormq (key, payload, lock)
        SELECT 'ttsjobs', 'bench placeholder for ' || id, NULL FROM synthesis_job WHERE status = 'pending'
        """
    )
    for table in ("auth_user", "synthesis_job", "synthesis_jobcount", "django_q_ormq"):
        conn.execute(f"VACUUM ANALYZE {table}")
    return dict(
        conn.execute(
            "SELECT 'jobs', count(*) FROM synthesis_job UNION ALL "
            "SELECT 'heavy_user_jobs', count(*) FROM synthesis_job WHERE owner_id = %s UNION ALL "
            "SELECT 'pending', count(*) FROM synthesis_job WHERE status = 'pending' UNION ALL "
            "SELECT 'queued_tasks', count(*) FROM django_q_ormq UNION ALL "
            "SELECT 'users', count(*) FROM auth_user WHERE username LIKE 'scale%%'",
            (first_user,),
        ).fetchall()
    )
