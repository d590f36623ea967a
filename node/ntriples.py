"""Writing RDF terms as N-Triples text (the node builds its writes and batches this way)."""

from __future__ import annotations

import json

from common.errors import BadInput

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def string(text: str) -> str:
    """A string literal. JSON's escapes (\\" \\\\ \\n \\t \\uXXXX for controls) are valid
    N-Triples; other characters, emoji included, are written as UTF-8. Text that is not
    Unicode (a lone surrogate) is refused: ARM-IN-011."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput("ARM-IN-011", "Text must be valid Unicode (a lone surrogate was sent).",
                       {"text": text.encode("utf-8", "backslashreplace").decode()[:100]}) from None
    return _ENCODE(text)


def typed(text: str, datatype: str) -> str:
    return f"{string(text)}^^<{datatype}>"


def term_value(term: object) -> str:
    """The IRI or lexical form of a pyoxigraph term (the one reader of `term.value`)."""
    return term.value  # type: ignore[attr-defined]
