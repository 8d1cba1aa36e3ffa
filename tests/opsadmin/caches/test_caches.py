"""Cache panels and scoped clearing, on a real Redis of our own (and the local-memory path).

Each Redis test points two django-redis aliases ("default", prefix "scanner"; "ratelimit",
prefix "ratelimit") at one database of a throwaway redis-server started for this module,
next to keys written with the raw client that belong to no alias. Starting our own server
lets these tests run in both passes of `make test`; without redis-server they skip (fail in CI).
"""

import datetime
import time

import pytest
from django.core.cache import caches

from opsadmin.models import OpsRun
from opsadmin.operations.caches import clearing, inventory
from opsadmin.operations.caches.clearing import InvalidPattern
from opsadmin.operations.caches.stock_entries import invalidate_stocks
from opsadmin.spine import registry, targets
from opsadmin.spine.runs import InvalidArguments, OperationFailed
from stocks.cache_keys import stock_bars_key, stock_key, stock_keys_glob, stock_snapshot_key, ticker_of_key
from stocks.cached import stock_snapshot
from stocks.models import Stock
from tests.helpers import run_write
from tests.opsadmin.caches.conftest import LOCMEM, UNRELATED, fill, locmem_alias, redis_alias
from tests.services import HangingServer, redis_unavailable, skip_or_fail, throwaway_redis
from tests.stocks.factories import make_stock


def count(client, match):
    return sum(1 for _ in client.scan_iter(match=match, count=1000))


def unrelated_kept(client):
    return [key for key in UNRELATED if client.exists(key)]


# --- Clearing one alias ---------------------------------------------------------------------------------


def test_clearing_one_alias_leaves_the_other_alias_and_unrelated_keys(raw, monkeypatch):
    fill("default", 2500)
    fill("ratelimit", 1500)
    before = raw.dbsize()
    progress = []
    monkeypatch.setattr(clearing, "PROGRESS_INTERVAL", 0)

    report = clearing.clear_alias("default", batch=100, progress=lambda **counts: progress.append(counts))

    assert report.keys_deleted == report.keys_matched == 2500
    assert report.match == "scanner:1:*"
    assert count(raw, "scanner:1:*") == 0
    assert count(raw, "ratelimit:1:*") == 1500
    assert unrelated_kept(raw) == UNRELATED
    assert raw.dbsize() == before - 2500
    assert progress[-1] == {"deleted": 2500, "scanned": 2500}
    assert len(progress) > 10  # a batch at a time
    assert report.summary.startswith("Deleted 2,500 keys of default (scanner:1:*)")


def test_a_prefix_with_glob_characters_matches_only_itself(raw, settings, redis_url):
    settings.CACHES = {
        "default": redis_alias(redis_url, "we*ird[1]?\\"),
        "ratelimit": redis_alias(redis_url, "ratelimit"),
    }
    fill("default", 30)
    lookalikes = [b"weXXird1x\\:1:k1", b"we*ird[1]?\\:2:k1", b"weird1:1:k1", b"we*ird[1]?:1:k1"]
    for key in lookalikes:
        raw.set(key, b"keep")

    report = clearing.clear_alias("default")

    assert report.keys_deleted == 30
    assert all(raw.exists(key) for key in lookalikes)
    assert report.match == "we\\*ird\\[1\\]\\?\\\\:1:*"


def test_keys_of_another_version_stay(raw):
    fill("default", 10)
    caches["default"].set("old", 1, version=2)

    assert clearing.clear_alias("default").keys_deleted == 10
    assert caches["default"].get("old", version=2) == 1


def test_dry_run_counts_and_deletes_nothing(raw):
    fill("default", 120)
    before = raw.dbsize()

    alias = clearing.clear_alias("default", dry_run=True)
    pattern = clearing.clear_pattern("default", "k1*", dry_run=True)

    assert (alias.keys_matched, alias.keys_deleted) == (120, 0)
    assert (pattern.keys_matched, pattern.keys_deleted) == (31, 0)  # k1, k10..k19, k100..k119
    assert raw.dbsize() == before
    assert alias.summary == "Dry run: 120 keys of default (scanner:1:*) would be deleted; nothing was deleted."


def test_djangos_own_redis_backend_is_cleared_by_prefix_too(raw, settings, redis_url):
    own = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url, "KEY_PREFIX": "own"}
    settings.CACHES = {**settings.CACHES, "own": own | {"OPTIONS": {"socket_timeout": 1}}}
    fill("own", 25)
    fill("default", 5)

    panel = inventory.cache_panel("own")
    report = clearing.clear_alias("own")

    assert (panel.kind, panel.redis.keys_under_prefix) == ("redis", 25)
    assert panel.shared_with == ["default", "ratelimit"]
    assert report.keys_deleted == 25
    assert count(raw, "scanner:1:*") == 5
    assert unrelated_kept(raw) == UNRELATED


def test_the_page_says_where_sessions_live(settings):
    assert "not kept in a cache" in inventory.session_storage()
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = "ratelimit"

    assert inventory.session_storage() == (
        "Sessions are kept in the cache alias 'ratelimit' (django.contrib.sessions.backends.cache): "
        "clearing or flushing it logs everyone out."
    )
    assert [panel.holds_sessions for panel in inventory.cache_panels()] == [False, True]


# --- Patterns -------------------------------------------------------------------------------------------


def test_a_pattern_applies_only_inside_its_alias(raw):
    for alias in ("default", "ratelimit"):
        caches[alias].set_many({"stock:AAPL:snapshot": 1, "stock:AAPL:bars:a:b": 2, "stock:MSFT:snapshot": 3})

    report = clearing.clear_pattern("default", "stock:AAPL:*")

    assert report.keys_deleted == 2
    assert report.match == "scanner:1:stock:AAPL:*"
    assert caches["default"].get("stock:MSFT:snapshot") == 3
    assert caches["ratelimit"].get_many(["stock:AAPL:snapshot", "stock:AAPL:bars:a:b"]) == {
        "stock:AAPL:snapshot": 1,
        "stock:AAPL:bars:a:b": 2,
    }
    assert unrelated_kept(raw) == UNRELATED


BAD_PATTERNS = [
    "",
    "a\x00b",
    "a\nb",
    "\u200b*",  # zero-width space
    "x" * 201,
    "[abc",
    "abc]",
    "a[]b",
    "[a-]",
    "[\\]]",
    "a\\",
    "*" * 11,
]


@pytest.mark.parametrize("pattern", BAD_PATTERNS)
def test_malformed_patterns_are_refused_and_change_nothing(raw, pattern):
    fill("default", 20)
    before = raw.dbsize()

    with pytest.raises(InvalidPattern):
        clearing.clear_pattern("default", pattern)

    assert raw.dbsize() == before


@pytest.mark.django_db
def test_a_refused_pattern_is_a_form_error_and_an_audited_refusal(raw):
    fill("default", 20)
    before = raw.dbsize()

    with pytest.raises(InvalidArguments) as refused:
        run_write("clear_cache", {"alias": "default", "pattern": "[abc"})

    assert "Unbalanced '['" in refused.value.errors["pattern"][0]
    assert raw.dbsize() == before
    run = OpsRun.objects.get()
    assert (run, run.status, run.arguments) == (refused.value.run, "refused", {"alias": "default", "pattern": "[abc"})
    assert "Unbalanced '['" in run.error


GOOD_PATTERNS = ["*", "k?", "k[0-4]*", "k[^1]", "[--z]1", "k\\*", "k[4-0]", "*1*2", "k[a1]?", "\\[x\\]"]
KEYS = ["k1", "k2", "k12", "k5", "k*", "kk", "k10", "k21", "-1", "z1", "[x]", "x", "k:1", "k4"]


@pytest.mark.parametrize("pattern", GOOD_PATTERNS)
def test_local_memory_matches_patterns_as_redis_does(raw, pattern):
    caches["default"].set_many(dict.fromkeys(KEYS, 1))
    literal = "scanner:1:"
    by_redis = sorted(key.decode()[len(literal) :] for key in raw.scan_iter(match=literal + pattern, count=1000))

    by_regex = sorted(key for key in KEYS if clearing.parse_glob(pattern).fullmatch(key))

    assert by_regex == by_redis


# --- Flushing a database --------------------------------------------------------------------------------


def test_flush_refuses_without_the_database_number_and_works_with_it(raw, settings):
    settings.PORTAL_REDIS_SHARED_COMPONENTS = {"circuit breakers": "ratelimit", "elsewhere": "redis://10.0.0.1:6379/0"}
    fill("default", 10)
    before = raw.dbsize()

    for wrong in ("", "1", "00", "0; FLUSHALL", "db0"):
        with pytest.raises(OperationFailed, match="type the database number 0"):
            clearing.flush_database("default", wrong)
    assert raw.dbsize() == before
    dry = clearing.flush_database("default", "0", dry_run=True)
    assert raw.dbsize() == before

    report = clearing.flush_database("default", " 0 ")

    assert raw.dbsize() == 0
    assert (dry.keys_before, report.keys_before) == (before, before)
    assert report.shared_with == ["ratelimit"]
    assert report.shared_components == ["circuit breakers"]
    assert report.summary == (
        f"Flushed Redis {report.server} db 0: {before:,} keys, including the keys of ratelimit, circuit breakers."
    )


@pytest.mark.django_db
def test_flush_form_needs_the_number_and_a_redis_alias(raw, settings):
    fill("default", 5)
    with pytest.raises(InvalidArguments) as wrong:
        run_write("flush_redis_db", {"alias": "default", "confirm": "1"})
    settings.CACHES = {**settings.CACHES, "local": locmem_alias("local", "l")}
    with pytest.raises(InvalidArguments) as not_redis:
        run_write("flush_redis_db", {"alias": "local", "confirm": "0"})

    expected = f"Type the database number 0 to confirm flushing db 0 of {_address(raw)}."  # the service's words
    assert wrong.value.errors == {"confirm": [expected]}
    assert not_redis.value.errors["alias"] == [f"local is not a Redis cache ({LOCMEM}): there is no database to flush."]
    assert raw.dbsize() == 5 + len(UNRELATED)
    assert list(OpsRun.objects.order_by("pk").values_list("status", "error")) == [
        ("refused", f"confirm: {expected}"),
        ("refused", f"alias: {not_redis.value.errors['alias'][0]}"),
    ]


def _address(client):
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs['host']}:{kwargs['port']}"


# --- Panels ---------------------------------------------------------------------------------------------


def test_redis_panels_count_keys_and_name_their_neighbours(raw, settings):
    settings.PORTAL_REDIS_SHARED_COMPONENTS = {"circuit breakers": "default"}
    fill("default", 300)
    fill("ratelimit", 40)
    caches["default"].get("k1")
    caches["default"].get("missing")

    memo = {}
    default, ratelimit = inventory.cache_panels(memo)
    (server,) = inventory.redis_servers([default, ratelimit], memo)  # one server: its figures shown once

    assert default.error == ""
    assert (default.alias, default.kind, default.key_prefix, default.version) == ("default", "redis", "scanner", 1)
    assert default.key_pattern == "scanner:1:*"
    assert default.purpose == settings.PORTAL_CACHE_PURPOSES["default"]
    stats = default.redis
    assert (stats.keys_in_db, stats.keys_under_prefix, stats.keys_under_prefix_estimated) == (345, 300, False)
    assert ratelimit.redis.keys_under_prefix == 40
    assert stats.db == 0
    assert stats.server == server.address == _address(raw)
    assert server.aliases == ["default", "ratelimit"]
    assert server.hits >= 1
    assert server.misses >= 1
    assert 0 < server.hit_ratio < 1
    assert server.used_memory > 0
    assert server.peak_memory >= server.used_memory
    assert server.maxmemory_policy == "noeviction"
    assert server.uptime_seconds >= 0
    assert server.connected_clients >= 1
    assert stats.keys_with_expiry == 340
    assert (default.shared_with, default.shared_components) == (["ratelimit"], ["circuit breakers"])
    assert (ratelimit.shared_with, ratelimit.shared_components) == (["default"], ["circuit breakers"])  # same db
    assert default.overlapping == []
    assert not default.holds_sessions


def test_a_huge_database_is_sampled_and_says_so(raw, settings):
    settings.PORTAL_CACHE_COUNT_SCAN_LIMIT = 100
    fill("default", 1000)
    fill("ratelimit", 1000)

    stats = inventory.cache_panel("default").redis

    assert stats.keys_under_prefix_estimated
    assert stats.keys_sample == 2000
    assert 0 < stats.keys_under_prefix_margin < 200
    assert abs(stats.keys_under_prefix - 1000) <= 2 * stats.keys_under_prefix_margin


def test_hit_ratio_counts_a_shared_server_once(raw):
    caches["default"].set("a", 1)
    for _ in range(3):
        caches["default"].get("a")
        caches["ratelimit"].get("nothing")
    server = raw.info("stats")
    hits, misses = server["keyspace_hits"], server["keyspace_misses"]

    summary = inventory.hit_ratio_summary()

    assert summary.servers == [_address(raw)]
    assert summary.aliases == ["default", "ratelimit"]
    assert (summary.hits, summary.misses) == (hits, misses)
    assert summary.ratio == pytest.approx(hits / (hits + misses))


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("redis://:s3cret@cache.internal:6379/1", "redis://:***@cache.internal:6379/1"),
        ("rediss://app:s3cret@cache.internal:6380/0", "rediss://app:***@cache.internal:6380/0"),
        ("redis://s3cret@cache.internal/0", "redis://***@cache.internal/0"),
        ("redis://cache.internal:6379/0?password=s3cret&db=2", "redis://cache.internal:6379/0?password=***&db=2"),
        ("unix://:s3cret@/run/redis.sock?db=3", "unix://:***@/run/redis.sock?db=3"),
        (["redis://:a@p:1/0", "redis://:b@r:1/0"], "redis://:***@p:1/0,redis://:***@r:1/0"),
        ("redis://cache.internal:6379/0", "redis://cache.internal:6379/0"),
        ("default", "default"),
    ],
)
def test_locations_are_shown_with_passwords_masked(location, shown):
    assert inventory.mask_location(location) == shown


# --- Redis down or hanging ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stopped_redis_gives_a_clear_error_not_a_traceback(settings):
    if reason := redis_unavailable():
        skip_or_fail(reason)
    with throwaway_redis() as url:
        settings.CACHES = {"default": redis_alias(url, "scanner"), "ratelimit": redis_alias(url, "ratelimit")}
        fill("default", 10)  # the pool now holds a connection to a server about to go away
        address = url.removeprefix("redis://").removesuffix("/0")
    expected = f"Redis at {address} is not answering"

    panels = inventory.cache_panels()
    with pytest.raises(OperationFailed, match=expected) as clear:
        clearing.clear_alias("default")
    with pytest.raises(OperationFailed, match=expected):
        clearing.flush_database("default", "0")
    run = run_write("clear_cache", {"alias": "default"})

    assert [panel.error.startswith(expected) for panel in panels] == [True, True]
    assert all(panel.redis is None for panel in panels)
    assert str(clear.value).endswith("; nothing was deleted")
    assert inventory.hit_ratio_summary().servers == []  # nobody answered: the dashboard says so, in red
    assert inventory.hit_ratio_summary().errors[0].startswith(expected)
    assert run.status == OpsRun.Status.FAILED
    assert run.error.startswith(expected)
    assert "Traceback" not in run.error
    assert stock_snapshot_fallback_works()


def stock_snapshot_fallback_works():
    make_stock("AAPL")
    return stock_snapshot("AAPL")["ticker"] == "AAPL"  # from the database: the cache is down


def test_a_hanging_redis_gives_an_error_within_the_socket_timeout(settings):
    server = HangingServer()
    try:
        url = f"redis://127.0.0.1:{server.port}/0"
        settings.CACHES = {"default": redis_alias(url, "a", 0.5), "ratelimit": redis_alias(url, "b", 0.5)}

        started = time.monotonic()
        panels = inventory.cache_panels()
        panels_took = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(OperationFailed, match=f"Redis at 127.0.0.1:{server.port} is not answering"):
            clearing.clear_alias("default")
        clear_took = time.monotonic() - started
    finally:
        server.close()

    assert [panel.error.startswith(f"Redis at 127.0.0.1:{server.port} is not answering") for panel in panels] == [
        True,
        True,
    ]
    assert "Timeout" in panels[0].error
    assert panels_took < 1.5  # one INFO timeout for the server both aliases use
    assert clear_took < 1.5


# --- Local memory and other backends ----------------------------------------------------------------------


@pytest.fixture
def local_caches(settings):
    """Two aliases sharing one local-memory store (prefixes a and b), and a third with a store of its own."""
    settings.CACHES = {
        "default": locmem_alias("shared-store", "a"),
        "other": locmem_alias("shared-store", "b"),
        "own": locmem_alias("own-store", "a"),
        "dummy": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    for alias in ("default", "other", "own"):
        caches[alias].clear()
    fill("default", 12)
    fill("other", 5)
    fill("own", 7)


def test_local_memory_panels_count_entries(local_caches):
    panels = {panel.alias: panel for panel in inventory.cache_panels()}

    default, dummy = panels["default"], panels["dummy"]
    assert (default.kind, default.entries, default.entries_under_prefix, default.max_entries) == ("locmem", 17, 12, 300)
    assert default.shared_with == ["other"]
    assert panels["own"].shared_with == []
    assert default.redis is None
    assert default.error == ""
    assert "this process" in default.note
    assert (dummy.kind, dummy.note) == ("other", "Statistics are not available for this backend.")


def test_clearing_a_local_memory_alias_leaves_the_others(local_caches):
    dry = clearing.clear_alias("default", dry_run=True)
    pattern = clearing.clear_pattern("default", "k1?")
    report = clearing.clear_alias("default")

    assert (dry.keys_matched, dry.keys_deleted) == (12, 0)
    assert pattern.keys_deleted == 2  # k10, k11
    assert report.keys_deleted == 10
    assert caches["default"].get("k0") is None
    assert len(caches["other"].get_many([f"k{i}" for i in range(5)])) == 5
    assert len(caches["own"].get_many([f"k{i}" for i in range(7)])) == 7
    assert clearing.in_local_memory("default")


@pytest.mark.django_db
def test_other_backends_are_refused(local_caches):
    with pytest.raises(OperationFailed, match=r"clearing by prefix is not supported for .*DummyCache"):
        clearing.clear_alias("dummy")
    with pytest.raises(InvalidArguments) as refused:
        run_write("clear_cache", {"alias": "dummy"})

    assert refused.value.errors["alias"][0].startswith("Clearing by prefix is not supported")


def test_an_alias_whose_prefix_covers_another_is_not_cleared(settings):
    settings.CACHES = {"default": locmem_alias("store", "app"), "inner": locmem_alias("store", "app:1")}
    caches["default"].set("x", 1)
    caches["inner"].set("y", 2)  # key "app:1:1:y" also starts with "app:1:"

    with pytest.raises(OperationFailed, match="the keys of inner also start with 'app:1:'"):
        clearing.clear_alias("default")

    assert inventory.cache_panel("default").overlapping == ["inner"]
    assert (caches["default"].get("x"), caches["inner"].get("y")) == (1, 2)


# --- Stock keys and invalidation --------------------------------------------------------------------------


def test_stock_keys_are_built_in_one_shape():
    day, later = datetime.date(2026, 1, 2), datetime.date(2026, 3, 4)

    assert stock_snapshot_key(" aapl ") == "stock:AAPL:snapshot"
    assert stock_bars_key("BRK.B", day, later) == "stock:BRK.B:bars:2026-01-02:2026-03-04"
    assert stock_keys_glob("msft") == "stock:MSFT:*"
    assert stock_keys_glob() == "stock:*"
    assert [ticker_of_key(key) for key in ("stock:AAPL:snapshot", "stocks:AAPL:x", "other")] == ["AAPL", None, None]
    with pytest.raises(ValueError, match="can't be empty or contain ':'"):
        stock_key("AAPL", "screen", "a:b")


@pytest.fixture(params=["redis", "locmem"])
def stock_cache(request, settings):
    """The stock cache ("default") on Redis or local memory, with "ratelimit" beside it holding a look-alike key."""
    if request.param == "redis":
        yield request.getfixturevalue("raw")
    else:
        settings.CACHES = {"default": locmem_alias("stocks", "scanner"), "ratelimit": locmem_alias("stocks", "rl")}
        caches["default"].clear()
        yield None


@pytest.mark.django_db
def test_invalidating_stocks_removes_their_entries_only(stock_cache):
    for ticker in ("AAPL", "MSFT", "IBM"):
        make_stock(ticker)
        assert stock_snapshot(ticker)["ticker"] == ticker
    day = datetime.date(2026, 1, 2)
    caches["default"].set(stock_bars_key("AAPL", day, day), [1, 2])
    caches["ratelimit"].set(stock_snapshot_key("AAPL"), "not the stock cache")
    Stock.objects.filter(ticker="AAPL").update(name="Apple Inc.")
    assert stock_snapshot("AAPL")["name"] == "AAPL Corp"  # cached

    removed = invalidate_stocks(["aapl", "MSFT"]).entries_removed

    assert removed == 3  # AAPL's snapshot and bars, MSFT's snapshot
    assert caches["default"].get(stock_snapshot_key("IBM"))["ticker"] == "IBM"
    assert caches["default"].get(stock_snapshot_key("MSFT")) is None
    assert caches["ratelimit"].get(stock_snapshot_key("AAPL")) == "not the stock cache"
    assert stock_snapshot("AAPL")["name"] == "Apple Inc."
    assert invalidate_stocks(["IBM"]).entries_removed == 1
    assert stock_snapshot("NOPE") is None


# --- The declared writes --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_write_leaves_one_ops_run(raw):
    make_stock("AAPL")
    stock_snapshot("AAPL")
    fill("default", 50)
    fill("ratelimit", 5)

    runs = [
        run_write("clear_cache", {"alias": "default", "pattern": "k1*", "dry_run": True}),
        run_write("invalidate_stocks", {"tickers": "aapl"}),
        run_write("clear_cache", {"alias": "default"}),
        run_write("flush_redis_db", {"alias": "ratelimit", "confirm": "0"}),
    ]

    assert [run.status for run in runs] == ["succeeded"] * 4, [run.error for run in runs]
    assert OpsRun.objects.count() == 4
    dry, invalidate, clear, flush = runs
    assert (dry.result["keys_matched"], dry.result["keys_deleted"]) == (11, 0)
    assert invalidate.summary == "Removed 1 cached entry of AAPL."
    assert clear.result["keys_deleted"] == 50
    clear.refresh_from_db()
    assert clear.progress is None  # a finished run's progress goes: its result says what was done
    assert flush.result["keys_before"] == 5 + len(UNRELATED)
    assert raw.dbsize() == 0


@pytest.mark.django_db
def test_where_each_write_runs_follows_the_alias(settings, raw, redis_url):
    """Redis: a clear goes to the task worker, once; local memory: to every web process, which each hold some."""
    clear, invalidate = registry.get_write("clear_cache"), registry.get_write("invalidate_stocks")
    assert clear.target_for({"alias": "default"}) == targets.TASK_WORKER
    assert invalidate.target_for({"tickers": ["AAPL"]}) == targets.HERE
    assert registry.get_write("flush_redis_db").target_for({"alias": "default"}) == targets.HERE
    settings.CACHES = {**settings.CACHES, "default": locmem_alias("targets", "scanner")}
    assert clear.target_for({"alias": "default"}) == targets.EVERY_WEB_PROCESS
    assert clear.target_for({"alias": "ratelimit"}) == targets.TASK_WORKER
    assert invalidate.target_for({"tickers": ["AAPL"]}) == targets.EVERY_WEB_PROCESS


@pytest.mark.django_db
def test_invalidate_form_needs_listed_tickers(raw):
    make_stock("AAPL")

    with pytest.raises(InvalidArguments) as refused:
        run_write("invalidate_stocks", {"tickers": ["AAPL", "ZZZZ", "not a ticker!"]})
    with pytest.raises(InvalidArguments) as unknown:
        run_write("invalidate_stocks", {"tickers": "AAPL,ZZZZ"})

    assert refused.value.errors == {"tickers": ["Not tickers: not a ticker!."]}
    assert unknown.value.errors == {"tickers": ["Unknown stocks: ZZZZ."]}
    assert not OpsRun.objects.exists()


def test_a_census_names_every_kind_of_key_in_the_database(raw, settings):
    fill("default", 30)
    fill("ratelimit", 4)
    census = inventory.key_census("default")
    kinds = {kind.label: kind.keys for kind in census.kinds}
    assert kinds == {
        "default (scanner:1:*)": 30,
        "ratelimit (ratelimit:1:*)": 4,
        "no alias: scanner:*": 2,  # scanner:2:old-version and scanner:1 belong to no alias
        "no alias: scannerx:*": 1,
        "no alias: unrelated": 1,
        "no alias: x:*": 1,
    }
    assert inventory._kind_of(b"celery-task-meta-5f0c1b2e-8d3a-4c1e-9a7b-0123456789ab") == "celery-task-meta-*"
    assert inventory._kind_of(b"job42:state") == "job*:*"
    assert (census.keys_in_db, census.estimated) == (34 + len(UNRELATED), False)

    settings.PORTAL_CACHE_COUNT_SCAN_LIMIT = 10  # above it: estimated from a sample, scaled to the database
    sampled = inventory.key_census("default")
    assert sampled.estimated
    assert sum(kind.keys for kind in sampled.kinds) == pytest.approx(sampled.keys_in_db, abs=len(sampled.kinds))


@pytest.mark.django_db
def test_a_pattern_typed_with_the_aliass_prefix_means_the_part_after_it(raw):
    caches["default"].set_many({"stock:AAPL:snapshot": 1, "stock:MSFT:snapshot": 2, "screen:top": 3})
    run = run_write("clear_cache", {"alias": "default", "pattern": "scanner:1:stock:*"})
    assert run.status == "succeeded", run.error
    assert (run.arguments["pattern"], run.result["keys_deleted"]) == ("stock:*", 2)
    assert caches["default"].get("screen:top") == 3
    everything = run_write("clear_cache", {"alias": "default", "pattern": "scanner:1:*"})
    assert (everything.arguments["pattern"], everything.result["keys_deleted"]) == ("", 1)
