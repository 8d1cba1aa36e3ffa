"""Index shapes: Django's statement and the database's spelling of one index compare equal; another index doesn't."""

import pytest

from opsadmin.operations.database.index_shape import index_shape

SAME = [
    (
        'CREATE INDEX "s" ON "stocks_stock" ("sector", "market_cap" DESC) WHERE "is_active"',
        "CREATE INDEX s ON public.stocks_stock USING btree (sector, market_cap DESC) WHERE is_active",
    ),
    (
        """CREATE INDEX "r" ON "t" ("status") WHERE "status" IN ('pending', 'running')""",
        "CREATE INDEX r ON public.t USING btree (status) WHERE ((status)::text = ANY "
        "((ARRAY['pending'::character varying, 'running'::character varying])::text[]))",
    ),
    ('ALTER TABLE "t" ADD CONSTRAINT "u" UNIQUE ("a", "b")', "CREATE UNIQUE INDEX u ON public.t USING btree (a, b)"),
    (
        'CREATE UNIQUE INDEX "o" ON "t" ("key") WHERE "resolved_at" IS NULL',
        "CREATE UNIQUE INDEX o ON public.t USING btree (key) WHERE (resolved_at IS NULL)",
    ),
    ('CREATE INDEX "e" ON "t" ((UPPER("ticker")))', "CREATE INDEX e ON public.t USING btree (upper((ticker)::text))"),
    (
        'CREATE INDEX "i" ON "t" ("a") INCLUDE ("c", "b")',
        'CREATE INDEX i ON "Odd Schema".t USING btree (a) INCLUDE (b, c)',
    ),
    (
        'CREATE INDEX "c" ON "t" ("close") WHERE "close" > 0',
        "CREATE INDEX c ON t USING btree (close) WHERE (close > (0)::numeric)",
    ),
    (
        'CREATE INDEX "n" ON "t" ("a" ASC, "b" DESC NULLS FIRST, "c" ASC NULLS LAST)',
        "CREATE INDEX n ON public.t USING btree (a, b DESC, c)",
    ),
    (
        'CREATE INDEX "l" ON "t" ("name" varchar_pattern_ops)',
        "CREATE INDEX l ON public.t USING btree (name varchar_pattern_ops)",
    ),
    ('CREATE INDEX "g" ON "t" USING gin ("tags")', "CREATE INDEX g ON public.t USING gin (tags)"),
    (
        'ALTER TABLE "t" ADD CONSTRAINT "d" UNIQUE NULLS NOT DISTINCT ("a")',
        "CREATE UNIQUE INDEX d ON public.t USING btree (a) NULLS NOT DISTINCT",
    ),
]

DIFFERENT = [
    ('CREATE INDEX "x" ON "t" ("a")', "CREATE INDEX x ON public.t USING btree (a, b)"),  # another column
    ('CREATE INDEX "x" ON "t" ("a", "b")', "CREATE INDEX x ON public.t USING btree (b, a)"),  # another order
    ('CREATE INDEX "x" ON "t" ("a")', "CREATE UNIQUE INDEX x ON public.t USING btree (a)"),  # unique
    ('CREATE INDEX "x" ON "t" ("a")', "CREATE INDEX x ON public.t USING hash (a)"),  # access method
    ('CREATE INDEX "x" ON "t" ("a")', "CREATE INDEX x ON public.t USING btree (a DESC)"),  # ordering
    ('CREATE INDEX "x" ON "t" ("a")', "CREATE INDEX x ON public.t USING btree (a) WHERE b"),  # partial
    ("CREATE INDEX x ON t (a) WHERE b = 'US'", "CREATE INDEX x ON t (a) WHERE b = 'us'"),  # a literal keeps its case
    ('CREATE INDEX "x" ON "t" ("a") INCLUDE ("b")', "CREATE INDEX x ON public.t USING btree (a)"),  # INCLUDE
    ('CREATE INDEX "x" ON "t" ("a" text_pattern_ops)', "CREATE INDEX x ON public.t USING btree (a)"),  # opclass
]


@pytest.mark.parametrize(("declared", "present"), SAME)
def test_one_index_spelled_two_ways_has_one_shape(declared, present):
    assert index_shape(declared) is not None
    assert index_shape(declared) == index_shape(present)


@pytest.mark.parametrize(("declared", "present"), DIFFERENT)
def test_another_index_has_another_shape(declared, present):
    assert index_shape(declared) != index_shape(present)


@pytest.mark.parametrize("sql", [None, "", "CREATE TABLE t (a int)", 'CREATE INDEX "x" ON "t" ("a"'])
def test_a_statement_it_does_not_read_has_no_shape(sql):
    assert index_shape(sql) is None
