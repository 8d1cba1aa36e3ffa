"""bench/settings.py with Django's connection pool (psycopg 3 only) sized by BENCH_POOL, psycopg_pool.ConnectionPool's
keyword arguments as JSON: bench/connection_pool.py's pooled server. Nothing else loads this."""

import json
import os

from bench.settings import *  # noqa: F403

DATABASES["default"]["OPTIONS"]["pool"] = json.loads(os.environ["BENCH_POOL"])  # noqa: F405
