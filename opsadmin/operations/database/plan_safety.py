"""Which statements the index advisor may plan: none that could run code that isn't built in.

Planning runs code: the planner folds immutable functions and, to estimate selectivity,
stable ones; a view or a row-level security policy brings its expressions along; an
operator is a function; a type brings its casts and comparisons. A statement in
pg_stat_statements is text whoever ran it wrote, so before the advisor PREPAREs one, every
name in it (in a string or a comment too) is looked up among what is defined outside
pg_catalog and information_schema: functions, types, operators, views, foreign tables, and
tables with row-level security or a column of such a type. One found, it is not planned.
Names match whatever their schema and case, so a user-defined `lower` or `=` that might be
chosen over the built-in one counts too: this errs on the side of skipping. What no name
shows (a relation passed by oid, as a constant, to a built-in that reads it, such as
table_to_xml) is left to the read-only transaction the plans are taken in.
"""

import re

from django.db import connection

IDENTIFIER = re.compile(r"[^\W\d][\w$]*")  # an unquoted identifier's shape; quoted ones too, mostly
UNICODE_ESCAPES = re.compile(r"\bu&['\"]", re.IGNORECASE)  # U&"d\0061ta": a name no lookup can see
# SQL that calls an operator without spelling it: the operator is still looked up by name.
IMPLIED_OPERATORS = {
    "in": ("=", "<>"),
    "case": ("=",),
    "nullif": ("=",),
    "distinct": ("=",),  # IS [NOT] DISTINCT FROM
    "using": ("=",),  # JOIN ... USING
    "natural": ("=",),
    "between": ("<=", ">=", "<", ">"),
    "like": ("~~", "!~~"),
    "ilike": ("~~*", "!~~*"),
    "similar": ("~", "!~"),
}
NOT_BUILT_IN = """
    WITH outside AS (SELECT oid, nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema'))
    SELECT false, p.proname, format('calls function %I.%I, which is not built in', n.nspname, p.proname)
    FROM pg_proc p JOIN outside n ON n.oid = p.pronamespace
    UNION ALL
    SELECT false, t.typname, format('names type %I.%I, which is not built in', n.nspname, t.typname)
    FROM pg_type t JOIN outside n ON n.oid = t.typnamespace LEFT JOIN pg_class r ON r.oid = t.typrelid
    WHERE r.relkind IS NULL OR r.relkind = 'c'  -- a table's row type is the table, below
    UNION ALL
    SELECT false, c.relname, format(CASE
        WHEN c.relkind = 'v' THEN 'reads view %I.%I, whose query may call functions that are not built in'
        WHEN c.relkind = 'f' THEN 'reads foreign table %I.%I, which its foreign-data wrapper plans'
        WHEN c.relrowsecurity THEN 'reads table %I.%I, whose row-level security policies may call functions'
        ELSE 'reads table %I.%I, which has a column of a type that is not built in' END, n.nspname, c.relname)
    FROM pg_class c JOIN outside n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND (
        c.relkind IN ('v', 'f') OR c.relrowsecurity OR EXISTS (
            SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN outside tn ON tn.oid = t.typnamespace
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        )
    )
    UNION ALL
    SELECT true, o.oprname, format('uses operator %I.%s, which is not built in', n.nspname, o.oprname)
    FROM pg_operator o JOIN outside n ON n.oid = o.oprnamespace
    ORDER BY 2, 3
"""


def reasons_not_to_plan(queries):
    """{query: why planning it might run code that isn't built in}, for each of `queries` that might."""
    if not queries:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('max_identifier_length')::int")
        (longest,) = cursor.fetchone()
        cursor.execute(NOT_BUILT_IN)
        rows = cursor.fetchall()
    names, odd_names, operators = {}, {}, {}  # the first reason for each name is enough
    for is_operator, name, reason in rows:
        if is_operator:
            operators.setdefault(name, reason)
        elif IDENTIFIER.fullmatch(name):
            names.setdefault(name.lower(), reason)
        else:
            odd_names.setdefault(name.lower(), reason)
    reasons = {}
    for query in queries:
        if reason := _reason(query, longest, names, odd_names, operators):
            reasons[query] = reason
    return reasons


def _reason(query, longest, names, odd_names, operators):
    """The first thing `query` names that isn't built in, or None."""
    if UNICODE_ESCAPES.search(query):
        return "names something with Unicode escapes (U&), which can't be looked up"
    # PostgreSQL cuts a longer identifier to max_identifier_length bytes, then looks it up.
    words = [_cut(word, longest).lower() for word in IDENTIFIER.findall(query)]
    for word in words:
        if word in names:
            return names[word]
    text = query.lower()  # a name that is no plain identifier only appears quoted, its quotes doubled
    for name, reason in odd_names.items():
        if name in text or name.replace('"', '""') in text:
            return reason
    implied = {operator for word in words for operator in IMPLIED_OPERATORS.get(word, ())}
    for operator, reason in operators.items():
        if operator in query or operator in implied:
            return reason
    return None


def _cut(word, longest):
    return word.encode()[:longest].decode(errors="ignore")
