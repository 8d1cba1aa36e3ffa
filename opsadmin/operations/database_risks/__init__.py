"""The slow dangers capability (capability.py): what grows quietly until PostgreSQL stops or slows down.

Reads: catalog (one query per question: wraparound, sequences, NOT VALID constraints,
estimated bloat, dead rows and autovacuum, settings, replication; typed rows), tuning
(the settings against advice for the machine's memory), dangers (each question judged
against its threshold), sections (the reads, the status line and the page). health_check
brings one warning per danger: never readiness failing. PostgreSQL only: on SQLite every
read answers "unsupported on sqlite" and the checks pass with nothing to check.
"""
