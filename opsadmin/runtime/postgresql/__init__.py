"""The portal's PostgreSQL engine, ENGINE "opsadmin.runtime.postgresql" (Django loads `base`).

Django's own engine behind the `database` circuit breaker, within client-side deadlines and
the budgets of its process kind: base.py (the wrapper), connecting.py (bounded retries),
deadlines.py (psycopg2's wait callback), budgets.py (web processes or commands),
unavailable.py (what callers catch). SQLite, the embedded default, keeps Django's engine:
it runs in the process, so there is no server to lose or to wait for.
"""
