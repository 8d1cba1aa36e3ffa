"""The shape of an index read from its SQL: whether two definitions build the same index.

Django's statement (CREATE INDEX, or ALTER TABLE ... ADD CONSTRAINT ... UNIQUE) and the
database's (pg_get_indexdef, SQLite's stored CREATE INDEX) spell one index differently:
quotes, the schema, `USING btree`, the casts and parentheses PostgreSQL adds to what it
prints (`(close > (0)::numeric)`), `IN (...)` printed as `= ANY (ARRAY[...])`. A shape
keeps what makes two indexes different (uniqueness, the access method, the key columns or
expressions in order with their ordering, operator class and collation, the INCLUDE
columns as a set, NULLS NOT DISTINCT, the predicate) and drops the spelling, a default
ordering written out (`ASC`) too. Parentheses go with it, so `(a + b) * c` and `a + b * c`
compare equal: a rare blind spot, taken so that no index is ever reported changed because
PostgreSQL reprinted it.
"""

import re
from dataclasses import dataclass

_NAME = r'(?:"(?:[^"]|"")*"|[^\s"(.]+)'
_CREATE = re.compile(
    rf"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+"
    rf"ON\s+(?:ONLY\s+)?(?:{_NAME}\.)?{_NAME}\s*(?:USING\s+(?P<method>\w+)\s*)?\(",
    re.IGNORECASE | re.DOTALL,
)
_CONSTRAINT = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?(?:{_NAME}\.)?{_NAME}\s+ADD\s+CONSTRAINT\s+{_NAME}\s+"
    r"(?P<kind>UNIQUE|PRIMARY\s+KEY)\s*(?P<nulls>NULLS\s+NOT\s+DISTINCT\s*)?\(",
    re.IGNORECASE | re.DOTALL,
)
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_CAST = re.compile(
    r'::\s*(?:"[^"]+"|[a-z_][\w.]*)(?:\s+(?:varying|precision|with(?:out)?\s+time\s+zone))*'
    r"(?:\s*\(\s*\d+(?:\s*,\s*\d+)?\s*\))?(?:\s*\[\])*",
    re.IGNORECASE,
)
_ANY_ARRAY = re.compile(r"=anyarray\[([^\]]*)\]")
_NULLS_NOT_DISTINCT = re.compile(r"\bNULLS\s+NOT\s+DISTINCT\b", re.IGNORECASE)
_INCLUDE = re.compile(r"\bINCLUDE\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class IndexShape:
    unique: bool
    method: str
    keys: str  # the key columns and expressions, in order, as one normalised text
    include: frozenset
    nulls_not_distinct: bool
    predicate: str  # "" for a full index


def index_shape(sql):
    """The shape of the index `sql` builds, or None when it is no statement this module reads."""
    if sql and (match := _CREATE.match(sql)):
        unique, method = bool(match["unique"]), (match["method"] or "btree").lower()
    elif sql and (match := _CONSTRAINT.match(sql)):
        unique, method = True, "btree"
    else:
        return None
    keys, end = _group(sql, match.end())
    if keys is None:
        return None
    rest = _LITERAL.sub(lambda literal: "\x00" * len(literal[0]), sql[end:])  # positions kept, words hidden
    where = re.search(r"\bWHERE\b", rest, re.IGNORECASE)
    clauses = rest[: where.start()] if where else rest
    include = frozenset()
    if found := _INCLUDE.search(clauses):
        columns, _ = _group(sql, end + found.end())
        include = frozenset(_normal(column) for column in (columns or "").split(",") if column.strip())
    predicate = _normal(sql[end + where.end() :]) if where else ""
    nulls = bool(match.groupdict().get("nulls")) or bool(_NULLS_NOT_DISTINCT.search(clauses))
    return IndexShape(unique, method, _normal(keys), include, nulls, predicate)


def _group(text, start):
    """The text inside the parenthesis opened just before `start`, and the position after its close."""
    depth, position = 1, start
    while position < len(text):
        character = text[position]
        if character in "'\"":
            close = text.find(character, position + 1)
            while close != -1 and text[close + 1 : close + 2] == character:  # '' or "" inside
                close = text.find(character, close + 2)
            if close == -1:
                return None, len(text)
            position = close
        elif character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
            if depth == 0:
                return text[start:position], position + 1
        position += 1
    return None, len(text)


def _default_ordering(text):
    """ASC, NULLS LAST after ASC and NULLS FIRST after DESC are the defaults: dropped, as PostgreSQL prints them."""
    text = re.sub(r"\bDESC\s+NULLS\s+FIRST\b", "DESC", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+ASC\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"(\bDESC)?\s+NULLS\s+LAST\b", lambda found: found[0] if found[1] else "", text, flags=re.IGNORECASE)


def _normal(text):
    """Spelling dropped: casts, quotes, parentheses, blanks and case (not inside string literals)."""
    literals = _LITERAL.findall(text)
    text = _default_ordering(_CAST.sub("", _LITERAL.sub("\x00", text)))
    text = _ANY_ARRAY.sub(r"in\1", re.sub(r'["()\s]', "", text).lower())
    for literal in literals:
        text = text.replace("\x00", literal, 1)
    return text
