"""The README's production environment passes Django's deploy checks; the development default honestly
does not; without SECRET_KEY and with DEBUG off the portal refuses to serve, while commands that sign
nothing still run; HTTPS spares the probes; the content security and permissions policies are sent;
static files are collected under hashed names, pre-compressed, and served in the coding the client accepts."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HTTPS_WARNINGS = ("security.W004", "security.W008", "security.W012", "security.W016")


def readme_production_environment():
    """The variables of the README's "Production" block, as an operator would export them."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Production\n.*?```sh\n(.*?)```", text, re.S).group(1)
    pairs = (line.split("#")[0].strip().split("=", 1) for line in block.splitlines() if "=" in line)
    return {name: value for name, value in pairs}


def manage(*args, **environment):
    """manage.py in a process of its own, with only `environment` beside PATH (nothing of this test run's)."""
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **environment}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=clean, capture_output=True, text=True, timeout=120
    )


def test_the_readme_production_environment_passes_check_deploy_with_no_warning():
    environment = readme_production_environment()
    assert environment["DEBUG"] == "0"
    assert len(environment["SECRET_KEY"]) >= 50
    done = manage("check", "--deploy", "--fail-level", "WARNING", **environment)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_the_development_default_fails_check_deploy_honestly():
    done = manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="1")
    assert done.returncode == 1
    for warning in (*HTTPS_WARNINGS, "security.W018"):
        assert warning in done.stderr, done.stderr


def test_without_secret_key_and_debug_off_the_portal_refuses_to_start_with_one_line():
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "DEBUG": "0"}
    done = subprocess.run(  # what gunicorn and runserver load: the WSGI entry point
        [sys.executable, "-c", "import portal.wsgi"], cwd=REPO, env=clean, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("SECRET_KEY is not set: with DEBUG off the portal does not start without it.")


def test_without_secret_key_commands_that_sign_nothing_still_run():
    done = manage("makemigrations", "--check", "--dry-run", DEBUG="0")
    assert done.returncode == 0, done.stderr
    assert "No changes detected" in done.stdout


PROBE_OR_PAGE = """
from django.test import Client
client = Client()
for path in ("/health/live/", "/health/ready/", "/admin/login/", "/api/ops/status/"):
    response = client.get(path)
    print(path, response.status_code, response.get("Location", ""), response.get("Strict-Transport-Security", ""))
secure = client.get("/admin/login/", secure=True)
print("cookies", " ".join(f"{name}:{bool(cookie['secure'])}" for name, cookie in secure.cookies.items()))
print("hsts", secure.get("Strict-Transport-Security", ""))
print("csp", secure.get("Content-Security-Policy", ""))
print("permissions", secure.get("Permissions-Policy", ""))
"""


def served_here(tmp_path):
    """The README's production environment on a SQLite file of its own, migrated, its static files collected."""
    environment = readme_production_environment() | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.sqlite3'}",
        "REDIS_URL": "",
        "ALLOWED_HOSTS": "testserver",
        "STATIC_ROOT": str(tmp_path / "static"),
        "PORTAL_CRITICAL_CHECKS": "",  # the README names redis, which this one has not
    }
    for command in (("migrate", "--no-input"), ("collectstatic", "--no-input")):
        assert manage(*command, **environment).returncode == 0
    return environment


def test_the_checklist_passes_every_item_under_the_readme_production_environment(tmp_path):
    done = manage("security_checklist", "--fail-on", "warning", **served_here(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "score 100 of 100" in done.stdout
    grades = [line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()]
    assert set(grades) <= {"pass", "info"}, done.stdout


def test_https_redirects_pages_but_not_the_probes_and_marks_cookies_secure(tmp_path):
    environment = served_here(tmp_path)
    done = manage("shell", "-c", PROBE_OR_PAGE, **environment)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip().splitlines()
    lines = dict(line.split(" ", 1) for line in printed if line.startswith(("/", "cookies", "hsts", "csp", "perm")))
    assert lines["/health/live/"].startswith("200 ")
    assert not lines["/health/ready/"].startswith("301")
    assert lines["/admin/login/"].startswith("301 https://testserver/admin/login/")
    assert lines["/api/ops/status/"].startswith("301 https://testserver/api/ops/status/")
    assert lines["cookies"] == "csrftoken:True"
    assert lines["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert "default-src 'self'" in lines["csp"]
    assert "frame-ancestors 'none'" in lines["csp"]
    assert "camera=()" in lines["permissions"]


SERVE_STATIC = """
import gzip, hashlib, brotli
from django.templatetags.static import static
from django.test import Client
decode = {"br": brotli.decompress, "gzip": gzip.decompress, "identity": bytes}
url = static("opsadmin/ops.css")
print("url", url)
for accepted in decode:
    response = Client().get(url, secure=True, HTTP_ACCEPT_ENCODING=accepted)
    body = b"".join(response.streaming_content)
    coding = response.get("Content-Encoding", "identity")
    print(accepted, response.status_code, coding, response["Vary"], response["Cache-Control"].replace(" ", ""))
    print("sha256", accepted, hashlib.sha256(decode[coding](body)).hexdigest())
"""


def test_static_files_are_hashed_precompressed_and_served_in_the_coding_accepted(tmp_path):
    environment = served_here(tmp_path)
    done = manage("shell", "-c", SERVE_STATIC, **environment)
    assert done.returncode == 0, done.stderr
    printed = [line.split() for line in done.stdout.splitlines() if line.strip()]
    url = next(words[1] for words in printed if words[0] == "url")
    served = {words[0]: words[1:] for words in printed if words[0] in ("br", "gzip", "identity")}
    digests = {words[1]: words[2] for words in printed if words[0] == "sha256"}

    assert re.fullmatch(r"/static/opsadmin/ops\.[0-9a-f]{12}\.css", url)
    hashed = Path(environment["STATIC_ROOT"], url.removeprefix("/static/"))
    assert Path(f"{hashed}.br").is_file()
    assert Path(f"{hashed}.gz").is_file()
    forever = "max-age=315360000,public,immutable"  # a hashed name never changes content
    for coding in ("br", "gzip", "identity"):
        assert served[coding] == ["200", coding, "Accept-Encoding", forever]
        assert digests[coding] == hashlib.sha256(hashed.read_bytes()).hexdigest()  # decoded: the collected file


def test_a_sqlite_database_url_waits_for_the_write_lock_as_the_embedded_file_does(tmp_path):
    """The task worker and a web process writing at once: a deferred transaction would fail at its first write
    ("database is locked") and could leave a run unfinished; IMMEDIATE with a timeout waits its turn."""
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"
    embedded = manage("shell", "-c", show, DEBUG="1")
    named = manage("shell", "-c", show, DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}")
    assert embedded.returncode == named.returncode == 0, embedded.stderr + named.stderr
    assert named.stdout.strip().splitlines()[-1] == embedded.stdout.strip().splitlines()[-1]
    assert "'transaction_mode': 'IMMEDIATE'" in named.stdout
