"""The database capability (capability.py): index and table health and maintenance.

Reads: catalog (one query per question), drift (declared against present), suggestions
(pg_stat_statements and hypopg; plan_safety: which statements it may plan), analysis (all
of it, with problems and advice), sections.
Writes: maintenance (what to build, rebuild, drop, ANALYZE), runner (how: one session,
one lock, timeouts, progress), reports; writes.py declares them for the doors.
"""
