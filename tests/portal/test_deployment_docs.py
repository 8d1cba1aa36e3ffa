"""docs/deployment.md names every environment variable the code reads, and no `PORTAL_*` variable it doesn't.

The names are found by parsing the source (portal/, opsadmin/, stocks/, manage.py; not tests/ or bench/, whose
variables are the test run's and the benchmarks', not an operator's) with `ast`, not by grepping, so a
variable is found however the call is laid out. A read is:

- a call of one of portal/environment.py's readers (`env_bool`, `env_number`, ...) or `os.environ.get`,
  `os.getenv`, `os.environ.setdefault`, whose first argument is a string literal, a module-level string
  constant (`PASSWORD_ENV = "PORTAL_ADMIN_PASSWORD"`) or an f-string (`f"PORTAL_RATE_LIMIT_{tier.upper()}"`,
  which becomes a pattern: the doc must name at least one variable of it, spelled out);
- `os.environ["NAME"]` read (an assignment to it is the code setting a variable, not reading one), and
  `"NAME" in os.environ`.

Every variable found must appear in backticks in the doc, the portal's own and the others alike: the code
reads `DJANGO_SETTINGS_MODULE` (manage.py and the WSGI/ASGI modules default it) and `PROMETHEUS_MULTIPROC_DIR`
(set by portal/gunicorn.conf.py from `PORTAL_METRICS_DIR`, read by the /metrics view), and an operator meets
both, so the doc says what they are rather than this test excusing them. Not found, and rightly undocumented:
Django's autoreloader's `RUN_MAIN`, which ops_worker reads through Django's own constant (`--reload` is for
development) and the variables libraries read themselves (libpq's `PG*`, `GUNICORN_CMD_ARGS`).

The other way round, every `PORTAL_*` name the doc mentions anywhere must be one the code reads, so a
variable that was renamed or removed does not stay documented. Other names are not checked that way: the doc
may name a platform's or a library's (`PORT` is the Makefile's; `DISABLE_SERVER_SIDE_CURSORS` is Django's).

And where the doc's table gives a default as a literal (`8s`, `0.25`), it is the literal the code passes to
its reader; defaults the doc describes in words ("the next port") are not compared.
"""

from tests.portal.environment_reads import (
    doc_text,
    documented_defaults,
    names_in_backticks,
    portal_names_in,
    variables_the_code_reads,
)


def same_default(documented, code):
    if isinstance(code, str):
        return documented == code
    try:
        return float(documented) == float(code)
    except ValueError:
        return True  # "100MB", a size the doc writes with its unit: not compared


def test_the_source_scan_finds_what_it_should():
    """Guards the scanner itself: each kind of read is found (else the checks below would pass on nothing)."""
    reads = variables_the_code_reads()
    expected = {
        "SECRET_KEY": "os.environ.get",
        "PORTAL_BIND": "os.environ.setdefault",
        "DJANGO_SETTINGS_MODULE": "os.environ.setdefault",
        "PORTAL_BEHIND_PROXY": "env_bool",
        "PORTAL_PROBE_BIND": "env_port and os.environ.get",
        "PORTAL_ADMIN_PASSWORD": "os.environ.get of a module constant",
        "WEB_CONCURRENCY": "os.environ.get in gunicorn.conf.py",
    }
    missing = {name: how for name, how in expected.items() if name not in reads.names}
    assert not missing, f"the scan missed {missing}"
    assert any(pattern.fullmatch("PORTAL_RATE_LIMIT_FREE") for pattern in reads.patterns), reads.patterns
    assert len(reads.names) > 80, sorted(reads.names)


def test_every_variable_the_code_reads_is_documented():
    reads = variables_the_code_reads()
    text = doc_text()
    documented = names_in_backticks(text)
    missing = {name: where for name, where in sorted(reads.names.items()) if name not in documented}
    assert not missing, "docs/deployment.md does not name (in backticks) " + ", ".join(
        f"{name} (read at {where})" for name, where in missing.items()
    )
    spelled_out = documented - set(reads.names)  # a pattern is documented by a variable it alone gives
    unmatched = {
        pattern.pattern: where
        for pattern, where in reads.patterns.items()
        if not any(pattern.fullmatch(name) for name in spelled_out)
    }
    assert not unmatched, f"docs/deployment.md names no variable of these patterns: {unmatched}"


def test_every_portal_variable_the_doc_names_is_read_by_the_code():
    reads = variables_the_code_reads()
    stale = {
        name
        for name in portal_names_in(doc_text())
        if name not in reads.names and not any(pattern.fullmatch(name) for pattern in reads.patterns)
    }
    assert not stale, f"docs/deployment.md names variables the code does not read: {', '.join(sorted(stale))}"


def test_the_documented_defaults_are_the_code_s():
    """A default written as a literal in the doc's tables (`8s`, `0.25`) is the one the code gives its reader."""
    reads = variables_the_code_reads()
    documented = documented_defaults(doc_text())
    wrong = {
        name: (value, sorted(map(str, reads.defaults[name])))
        for name, value in documented.items()
        if name in reads.defaults and not all(same_default(value, code) for code in reads.defaults[name])
    }
    assert not wrong, f"docs/deployment.md's defaults differ from the code's (doc, code): {wrong}"
    assert len(set(documented) & set(reads.defaults)) > 40, "the doc's tables were not found"
