"""The alert rules (docs/monitoring/alerts.yml): valid for promtool, passing their unit tests, and unable to drift
from the code: every metric and label they select is one /metrics exposes, every admin page they point to exists.

promtool is Debian's `prometheus` package (.ci/run installs it): without it these tests skip, or fail in CI.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.urls import Resolver404, resolve
from prometheus_client.parser import text_string_to_metric_families

from opsadmin.health.readiness import readiness
from portal.accounts.tokens import issue_token
from tests.helpers import VIEWERS, bearer, user_in
from tests.services import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "monitoring" / "alerts.yml"
UNIT_TESTS = ROOT / "tests" / "monitoring" / "alerts_test.yml"

# Series Prometheus makes itself for every target, not the portal.
PROMETHEUS_OWN = {"up"}
# PromQL's own words: aggregations, functions, keywords. A name not here and not exposed is a metric the portal lacks.
PROMQL_WORDS = frozenset({
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "atan2",
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "histogram_quantile",
    "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace", "ln", "log2", "log10",
    "minute", "month", "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt",
    "time", "timestamp", "vector", "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
    "count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time"
})  # fmt: skip
# A family's type gives the sample names it exposes (a labelled family may have no sample yet).
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum", "")}
LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
ADMIN_PATH = re.compile(r"/admin/[\w/-]*")


def rules():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def metric_names(expr):
    """The series names an expression selects: what is left once strings, matchers, ranges, label lists,
    durations, numbers and PromQL's own words are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = LABEL_LISTS.sub(" ", expr)
    expr = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+|ms|s|m|h|d|w|y)?\b", " ", expr)
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS


def selected_labels(expr):
    """{metric name: the label names its matchers use}."""
    selected = {}
    for name, matchers in SELECTOR.findall(expr):
        labels = re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", re.sub(r'"(?:[^"\\]|\\.)*"', "", matchers))
        selected.setdefault(name, set()).update(labels)
    return selected


@pytest.fixture
def promtool():
    path = shutil.which("promtool")
    if path is None:
        skip_or_fail("promtool is not installed (Debian: apt-get install --no-install-recommends prometheus)")
    return path


def run(*command):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_promtool_checks_the_rules(promtool):
    code, output = run(promtool, "check", "rules", str(RULES.relative_to(ROOT)))
    assert code == 0, output
    assert f"SUCCESS: {len(rules())} rules found" in output


def test_the_rules_pass_their_unit_tests(promtool):
    code, output = run(promtool, "test", "rules", str(UNIT_TESTS.relative_to(ROOT)))
    assert code == 0, output
    assert "SUCCESS" in output


def test_every_alert_is_tested_firing_and_not_firing():
    """promtool passes a file that never mentions an alert: each must be seen firing and seen quiet."""
    firing, quiet = set(), set()
    for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case["exp_alerts"] else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in rules()}
    assert alerts - firing == set()
    assert alerts - quiet == set()


def test_every_alert_says_how_bad_what_and_what_to_do():
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description"} <= rule["annotations"].keys(), rule["alert"]


@pytest.mark.django_db
def test_the_rules_select_only_what_the_portal_exposes(client, settings):
    """Every metric named in an expression is one /metrics exposes, with the labels its matchers use."""
    settings.PORTAL_MEMORY_SOFT_LIMIT = 512 * 1024**2  # the limit is exposed only when set
    token = issue_token(user_in(VIEWERS, username="prometheus"), "prometheus")[1]  # audited: an ops run
    readiness.verdict()  # one verdict (a probe here would beat from a pool thread, outside the test's transaction)
    client.get("/metrics", **bearer(token))  # a request, counted at the next scrape
    response = client.get("/metrics", **bearer(token))
    assert response.status_code == 200
    exposed, labels = set(), {}
    for family in text_string_to_metric_families(response.content.decode()):
        exposed.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)

    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names - exposed - PROMETHEUS_OWN == set(), rule["alert"]
        for name, used in selected_labels(rule["expr"]).items():
            assert used <= labels.get(name, set()), (rule["alert"], name)


def page_name(path):
    """The URL name of `path`, None for no page: the admin's unnamed catch-all matches any path under /admin/."""
    try:
        return resolve(path).url_name
    except Resolver404:
        return None


def test_the_admin_pages_the_alerts_name_exist():
    for rule in rules():
        for path in ADMIN_PATH.findall(" ".join(rule["annotations"].values())):
            assert page_name(path), f"{rule['alert']} points to {path}, which is no page of the portal"
    assert page_name("/admin/ops/no-such-page/") is None


def test_names_are_read_from_expressions():
    """The reader itself, on the shapes the rules use."""
    expr = """
        max by (job, operation) (increase(portal_a_total{status=~"failed|x"}[15m]) > 0)
        / on (job) group_left () portal_b{limit="soft"} offset 1d
        and time() - max(portal_c) > 1e9 unless up offset 15m
    """
    assert metric_names(expr) == {"portal_a_total", "portal_b", "portal_c", "up"}
    assert selected_labels(expr) == {"portal_a_total": {"status"}, "portal_b": {"limit"}}
