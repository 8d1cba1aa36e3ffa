"""The database capability (capability.py): index and table health and maintenance.

Reads: catalog (one query per question), drift (declared against present), suggestions
(pg_stat_statements and hypopg; plan_safety: which statements it may plan), ownership
(the project's tables or a third-party app's), history (what the portal built, and when),
analysis (all of it, with checks, problems and advice), sections (the reads and the page).
Numbers read as people read them through opsadmin.spine.humanize.
Writes: maintenance (what to build, rebuild, drop, ANALYZE), runner (how: one session,
one lock, timeouts, progress), reports; writes.py declares them for the doors.
Both: locks (a bounded wait for table locks while reading the catalog).
Growth: growth (the task worker's scheduled, audited captures: sizes daily, pg_stat_statements hourly, the
declared indexes nightly; bounded by PORTAL_DATABASE_HISTORY_DAYS), growth_read (the `history` read),
growth_chart (its SVG charts, drawn as the Memory page draws its hour).
"""
