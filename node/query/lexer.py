"""A small SPARQL lexer: enough to refuse updates and SERVICE without being fooled by
comments, strings, IRIs or prefixed names (`:service`, `fmar:service`) that contain
those words. SERVICE is refused on the keyword alone (fail closed): a parser that
misses a pattern, as rdflib's algebra once did inside nested EXISTS, cannot let it by."""

from __future__ import annotations

import re

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
    for match in _TOKEN.finditer(text):
        if match.lastgroup in ("ws", "comment"):
            continue
        if match.lastgroup == "word" and match.group().upper() == "SERVICE" \
                and previous != "@":
            return True
        previous = match.group()
    return False
