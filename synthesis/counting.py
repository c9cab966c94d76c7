"""Counting rows without reading a million of them.

A COUNT(*) reads every row it counts. Where a figure only has to be right
while it is small (a dry run, a page count), count_or_estimate() reads at most
``exact_up_to + 1`` rows and, past that, asks PostgreSQL's planner for its
estimate (from the table's statistics, as of the last ANALYZE) instead.
"""

import json

from django.db import connection


def count_or_estimate(queryset, exact_up_to: int) -> tuple[int, bool]:
    """(count, exact). Exact up to ``exact_up_to``; beyond it the planner's
    estimate on PostgreSQL (never below what was counted), an exact count on
    other databases (SQLite: small installations)."""
    ids = queryset.order_by().values("pk")
    counted = ids[: exact_up_to + 1].count()
    if counted <= exact_up_to:
        return counted, True
    if connection.vendor != "postgresql":
        return ids.count(), True
    sql, params = ids.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return max(counted, int(plan[0]["Plan"]["Plan Rows"])), False
