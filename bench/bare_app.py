"""The baseline for bench/health.py: a bare WSGI app answering what /health/live/ answers."""

BODY = b'{"status": "ok"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY))), ("Cache-Control", "no-store")]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
