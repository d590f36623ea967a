"""A small SPARQL lexer: enough to refuse updates and SERVICE without being fooled by
comments, strings, IRIs or prefixed names (`:service`, `fmar:service`) that contain
those words. SERVICE is refused on the keyword alone (fail closed): a parser that
misses a pattern, as rdflib's algebra once did inside nested EXISTS, cannot let it by."""

from __future__ import annotations

import re

from common.vocab import XSD

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n\r]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<long1>'''(?:[^'\\]|\\.|'(?!''))*''')
  | (?P<long2>\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\")
  | (?P<str1>'(?:[^'\\\n\r]|\\.)*')
  | (?P<str2>"(?:[^"\\\n\r]|\\.)*")
  | (?P<var>[?$][A-Za-z0-9_\u00b7-\uffff]+)
  | (?P<pname>(?:[A-Za-z_][A-Za-z0-9_\-.]*)?:[^\s{}()<>"',;\[\]]*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-]*(?::[A-Za-z0-9_\-.]*)?)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

UPDATE_WORDS = frozenset({"INSERT", "DELETE", "LOAD", "CLEAR", "CREATE", "DROP", "COPY",
                          "MOVE", "ADD", "WITH"})
QUERY_FORMS = frozenset({"SELECT", "CONSTRUCT", "ASK", "DESCRIBE"})


def significant(text: str) -> list[re.Match[str]]:
    """The tokens of `text` other than white space and comments."""
    return [m for m in _TOKEN.finditer(text) if m.lastgroup not in ("ws", "comment")]


def query_head(text: str, form: str) -> tuple[list[re.Match[str]], int, int] | None:
    """The significant tokens of a query, the index of its `form` keyword (SELECT,
    DESCRIBE) and the index of the first token after what the form names (WHERE, FROM or
    `{`); None when either is missing."""
    tokens = significant(text)
    start = next((i for i, t in enumerate(tokens)
                  if t.lastgroup == "word" and t.group().upper() == form), None)
    if start is None:
        return None
    end = next((i for i in range(start + 1, len(tokens)) if tokens[i].group() == "{"
                or tokens[i].lastgroup == "word" and tokens[i].group().upper() in
                ("WHERE", "FROM")), None)
    return None if end is None else (tokens, start, end)


def words(text: str) -> list[str]:
    """Upper-cased bare keywords of a query (no comments, strings, IRIs or prefixed names)."""
    out = []
    for match in _TOKEN.finditer(text):
        if match.lastgroup == "word":
            word = match.group()
            if ":" not in word:
                out.append(word.upper())
    return out


def query_form(text: str) -> str | None:
    """SELECT / CONSTRUCT / ASK / DESCRIBE, 'UPDATE' for an update, or None."""
    for word in words(text):
        if word in QUERY_FORMS:
            return word
        if word in UPDATE_WORDS:
            return "UPDATE"
    return None


def uses_service(text: str) -> bool:
    """Whether the query may have a SERVICE pattern: the bare keyword anywhere but as a
    language tag (`"x"@service`) decides, failing closed; outside comments, strings, IRIs,
    variables and prefixed names it can be nothing else. The parsed query is checked too
    (`joins.has_service`), by the federation's planner."""
    previous = ""
    for match in significant(text):
        if match.lastgroup == "word" and match.group().upper() == "SERVICE" \
                and previous != "@":
            return True
        previous = match.group()
    return False


# SPARQL 1.1 Query's own words (keywords and built-in calls); SERVICE and the update
# words are refused on their own (SPARQL-004, SPARQL-003).
SPARQL11_WORDS = frozenset({
    "BASE", "PREFIX", "SELECT", "DISTINCT", "REDUCED", "AS", "CONSTRUCT", "WHERE", "DESCRIBE",
    "ASK", "FROM", "NAMED", "GROUP", "BY", "HAVING", "ORDER", "ASC", "DESC", "LIMIT", "OFFSET",
    "VALUES", "UNDEF", "OPTIONAL", "GRAPH", "SILENT", "BIND", "MINUS", "FILTER", "UNION", "NOT",
    "IN", "EXISTS", "A", "TRUE", "FALSE", "SEPARATOR", "STR", "LANG", "LANGMATCHES", "DATATYPE",
    "BOUND", "IRI", "URI", "BNODE", "RAND", "ABS", "CEIL", "FLOOR", "ROUND", "CONCAT", "STRLEN",
    "UCASE", "LCASE", "ENCODE_FOR_URI", "CONTAINS", "STRSTARTS", "STRENDS", "STRBEFORE",
    "STRAFTER", "YEAR", "MONTH", "DAY", "HOURS", "MINUTES", "SECONDS", "TIMEZONE", "TZ", "NOW",
    "UUID", "STRUUID", "MD5", "SHA1", "SHA256", "SHA384", "SHA512", "COALESCE", "IF", "STRLANG",
    "STRDT", "SAMETERM", "ISIRI", "ISURI", "ISBLANK", "ISLITERAL", "ISNUMERIC", "REGEX", "SUBSTR",
    "REPLACE", "COUNT", "SUM", "MIN", "MAX", "AVG", "SAMPLE", "GROUP_CONCAT",
})
# SPARQL 1.1's casts, and Oxigraph's date, time and duration ones
XSD_CASTS = frozenset(str(XSD) + t for t in (
    "boolean", "double", "float", "decimal", "integer", "dateTime", "string", "date", "time",
    "duration", "yearMonthDuration", "dayTimeDuration"))
_EXPONENT = re.compile(r"[eE][0-9-]*")  # the `e5` of `1e5`, which the lexer reads as a word


def outside_sparql11(text: str) -> str | None:
    """The first thing in `text` that SPARQL 1.1 Query does not define, or None: a bare word
    that is none of its keywords or built-in calls (a server's own syntax: Virtuoso's
    DEFINE), or a call of a function named by IRI other than an XSD cast (a server's own
    functions: Virtuoso's `bif:`; Virtuoso calls any other IRI as a SQL procedure of that
    name). Fails closed: an undeclared prefix, a relative IRI or
    a list in a triple pattern (`?s :p (1 2)`, read as a call) counts too."""
    tokens = significant(text)
    prefixes: dict[str, set[str]] = {}
    for i, match in enumerate(tokens[:-2]):
        if match.group().upper() == "PREFIX" and tokens[i + 2].lastgroup == "iri":
            prefixes.setdefault(tokens[i + 1].group(), set()).add(tokens[i + 2].group()[1:-1])
    previous = ""
    for i, match in enumerate(tokens):
        kind, value = match.lastgroup, match.group()
        following = tokens[i + 1].group() if i + 1 < len(tokens) else ""
        exponent = bool(_EXPONENT.fullmatch(value)) and (previous[-1:].isdigit()
                                                          or previous == ".")
        if kind == "word" and previous != "@" and not exponent \
                and value.upper() not in SPARQL11_WORDS:
            return value
        if kind in ("iri", "pname") and following == "(" and previous.upper() != "PREFIX":
            if kind == "iri":
                expansions = {value[1:-1]}
            else:
                label, _, local = value.partition(":")
                expansions = {base + local for base in prefixes.get(label + ":", {""})}
            if not expansions <= XSD_CASTS:
                return value
        previous = value
    return None
