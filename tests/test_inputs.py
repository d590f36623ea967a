"""Input rules ARM-IN-001..010: how submitted bodies are read before any SHACL rule runs.

Each test calls the `node.inputs` function the API uses (or, for ARM-IN-010, the
register's search), and checks the stable code and HTTP status of the error.
`pytest -k ARM-IN-004` runs the tests of one rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from common.errors import DomainError
from common.http_errors import status_of
from common.vocab import FMAR
from node.api.examples import BESS_EXAMPLE, TURTLE_EXAMPLE
from node.inputs import (
    CONTEXT_PATH,
    parse_rdf,
    properties_from_graph,
    properties_from_json,
    read_json,
    rows_from_csv,
    rows_from_graph,
    rows_from_ndjson,
)

PREFIXES = "@prefix fmar: <https://id.fmar.uk/def/fmar#> .\n"


def refused(call: Callable[[], Any]) -> DomainError:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value


def assert_refused(call: Callable[[], Any], code: str, status: int = 400) -> DomainError:
    error = refused(call)
    assert (status_of(error), error.code) == (status, code), error.body()
    assert error.message
    return error


def turtle_props(body: str) -> list:
    return properties_from_graph(parse_rdf(body.encode(), "turtle"))


def csv_rows(text: str) -> list:
    return list(rows_from_csv([text.encode()]))


# ---------------------------------------------------------------- ARM-IN-001 not an object


@pytest.mark.parametrize("body", [[1, 2], "BESS", 7, None], ids=["list", "string", "number", "null"])
def test_ARM_IN_001_bad_not_an_object(body: Any) -> None:
    assert_refused(lambda: properties_from_json(body), "ARM-IN-001")


def test_ARM_IN_001_ok_object() -> None:
    assert len(properties_from_json(BESS_EXAMPLE)) == len(BESS_EXAMPLE)


# ---------------------------------------------------------------- ARM-IN-002 unknown field


def test_ARM_IN_002_bad_unknown_field_lists_them_all() -> None:
    error = assert_refused(
        lambda: properties_from_json({**BESS_EXAMPLE, "Colour": "red", "Assetname": "x"}),
        "ARM-IN-002",
    )
    assert error.details == {"fields": ["Assetname", "Colour"]}


def test_ARM_IN_002_bad_list_value() -> None:
    error = assert_refused(
        lambda: properties_from_json({**BESS_EXAMPLE, "AssetName": ["a", "b"]}), "ARM-IN-002"
    )
    assert error.details == {"field": "AssetName"}


def test_ARM_IN_002_bad_unknown_predicate_in_turtle() -> None:
    body = PREFIXES + '[] a fmar:Asset ; fmar:assetName "x" ; fmar:colour "red" .'
    error = assert_refused(lambda: turtle_props(body), "ARM-IN-002")
    assert error.details == {"predicate": str(FMAR.colour)}


def test_ARM_IN_002_ok_json_ld_markers_and_empty_values_ignored() -> None:
    body = {**BESS_EXAMPLE, "@type": "Asset", "id": "x", "Manufacturer": "", "AssetModel": None}
    props = properties_from_json(body)
    assert len(props) == len(BESS_EXAMPLE) - 2


# ---------------------------------------------------------------- ARM-IN-003 state field sent


@pytest.mark.parametrize(
    "name", ["AssetId", "RegistrationStatus", "ValidationStatus", "Version", "Created"]
)
def test_ARM_IN_003_bad_state_field_sent(name: str) -> None:
    error = assert_refused(lambda: properties_from_json({**BESS_EXAMPLE, name: "x"}), "ARM-IN-003")
    assert error.details == {"field": name}


def test_ARM_IN_003_bad_state_predicate_in_turtle() -> None:
    body = PREFIXES + '[] a fmar:Asset ; fmar:assetName "x" ; fmar:version 3 .'
    assert_refused(lambda: turtle_props(body), "ARM-IN-003")


def test_ARM_IN_003_ok_asset_id_allowed_on_replace() -> None:
    props = properties_from_json({**BESS_EXAMPLE, "AssetId": "abc"}, allow_asset_id=True)
    assert len(props) == len(BESS_EXAMPLE)


# ---------------------------------------------------------------- ARM-IN-004 one fmar:Asset


def test_ARM_IN_004_bad_turtle_with_two_assets() -> None:
    body = PREFIXES + '[] a fmar:Asset ; fmar:assetName "a" .\n[] a fmar:Asset ; fmar:assetName "b" .'
    error = assert_refused(lambda: turtle_props(body), "ARM-IN-004")
    assert error.details == {"assets_found": 2}


def test_ARM_IN_004_bad_turtle_without_asset() -> None:
    error = assert_refused(lambda: turtle_props(PREFIXES + '[] fmar:assetName "a" .'), "ARM-IN-004")
    assert error.details == {"assets_found": 0}


def test_ARM_IN_004_ok_bulk_turtle_takes_many() -> None:
    body = PREFIXES + '[] a fmar:Asset ; fmar:assetName "a" .\n[] a fmar:Asset ; fmar:assetName "b" .'
    rows = list(rows_from_graph(parse_rdf(body.encode(), "turtle")))
    assert [r.index for r in rows] == [1, 2]


def test_ARM_IN_004_ok_example_turtle() -> None:
    [props] = turtle_props(TURTLE_EXAMPLE)
    assert len(props) == 10


# ---------------------------------------------------------------- ARM-IN-005 other subjects


def test_ARM_IN_005_bad_turtle_with_other_subjects() -> None:
    body = PREFIXES + (
        '[] a fmar:Asset ; fmar:assetName "a" .\n'
        '<https://id.fmar.uk/org/FSP-ACME> fmar:assetName "not the asset" .'
    )
    error = assert_refused(lambda: turtle_props(body), "ARM-IN-005")
    assert error.details == {"other_subjects": ["https://id.fmar.uk/org/FSP-ACME"]}


def test_ARM_IN_005_bad_blank_node_value() -> None:
    body = PREFIXES + '[] a fmar:Asset ; fmar:assetName [ fmar:x "nested" ] .'
    assert_refused(lambda: turtle_props(body), "ARM-IN-005")


# ---------------------------------------------------------------- ARM-IN-006 malformed RDF


@pytest.mark.parametrize("body", [
    PREFIXES + "[] a fmar:Asset ; fmar:assetName",  # truncated
    "@prefix : <x> . :a :b",
    "[] a undeclared:Asset .",
    "\ufffe\x00 not turtle at all",
], ids=["truncated", "no-object", "undeclared-prefix", "garbage"])
def test_ARM_IN_006_bad_malformed_turtle(body: str) -> None:
    error = assert_refused(lambda: parse_rdf(body.encode(), "turtle"), "ARM-IN-006")
    assert "error" in error.details


def test_ARM_IN_006_bad_turtle_not_utf8() -> None:
    assert_refused(lambda: parse_rdf(b"\xff\xfe[] a <x:y> .", "turtle"), "ARM-IN-006")


def test_ARM_IN_006_ok_well_formed_turtle() -> None:
    assert len(parse_rdf(TURTLE_EXAMPLE.encode(), "turtle")) == 11


# ---------------------------------------------------------------- ARM-IN-007 remote context


@pytest.mark.parametrize("context", [
    "https://evil.example/ctx",
    ["https://schema.org/", {"x": "http://example.org/x"}],
    "http://127.0.0.1:9/ctx.jsonld",
], ids=["remote-url", "remote-in-list", "loopback"])
def test_ARM_IN_007_bad_remote_context_refused(context: Any) -> None:
    body = json.dumps({"@context": context, "@type": "Asset", "AssetName": "x"}).encode()
    error = assert_refused(lambda: parse_rdf(body, "json-ld"), "ARM-IN-007")
    assert error.details["context"] in (context if isinstance(context, list) else [context])


def test_ARM_IN_007_bad_remote_context_inside_graph() -> None:
    body = json.dumps({"@graph": [{"@context": "https://evil.example/ctx", "@type": "x"}]})
    assert_refused(lambda: parse_rdf(body.encode(), "json-ld"), "ARM-IN-007")


def test_ARM_IN_007_ok_published_context_is_inlined() -> None:
    body = json.dumps({"@context": CONTEXT_PATH, "@type": "Asset", "AssetName": "Battery",
                       "AssetCategory": "acat:BESS"}).encode()
    [props] = properties_from_graph(parse_rdf(body, "json-ld"))
    assert {str(p) for p, _ in props} == {str(FMAR.assetName), str(FMAR.assetCategory)}


@pytest.mark.parametrize("context", [
    {"@version": 1.1, "@import": "http://127.0.0.1:9/ctx.jsonld"},
    {"a": {"@id": "http://example.org/a", "@context": "http://127.0.0.1:9/scoped.jsonld"}},
], ids=["import", "scoped"])
def test_ARM_IN_007_bad_remote_context_nested_in_inline_context(context: dict) -> None:
    body = json.dumps({"@context": context, "@type": "http://example.org/T", "a": {"b": 1}})
    assert_refused(lambda: parse_rdf(body.encode(), "json-ld"), "ARM-IN-007")


# ---------------------------------------------------------------- ARM-IN-008 bad JSON


@pytest.mark.parametrize("body", [b'{"AssetName": ', b"{'AssetName': 'x'}", b"\xff\xfe{}", b""],
                         ids=["truncated", "single-quotes", "not-utf8", "empty"])
def test_ARM_IN_008_bad_json(body: bytes) -> None:
    assert_refused(lambda: read_json(body), "ARM-IN-008")


def test_ARM_IN_008_bad_json_ld_body() -> None:
    assert_refused(lambda: parse_rdf(b'{"@context": {"@vocab": 5}, "a": ', "json-ld"), "ARM-IN-008")


def test_ARM_IN_008_bad_ndjson_line_is_a_row_error() -> None:
    lines = [json.dumps(BESS_EXAMPLE), "{not json", "", json.dumps(BESS_EXAMPLE)]
    rows = list(rows_from_ndjson([("\n".join(lines) + "\n").encode()]))
    assert [r.index for r in rows] == [1, 2, 4]
    assert rows[1].error is not None and rows[1].error["code"] == "ARM-IN-008"
    assert rows[0].error is None and rows[0].fields == BESS_EXAMPLE


def test_ARM_IN_008_ok_json() -> None:
    assert read_json(json.dumps(BESS_EXAMPLE).encode()) == BESS_EXAMPLE


# ---------------------------------------------------------------- ARM-IN-009 CSV


def test_ARM_IN_009_bad_csv_header_unknown_field() -> None:
    error = assert_refused(lambda: csv_rows("AssetName,Colour,Size\nx,red,big\n"), "ARM-IN-009")
    assert error.details == {"fields": ["Colour", "Size"]}


def test_ARM_IN_009_bad_csv_without_header() -> None:
    assert_refused(lambda: csv_rows(""), "ARM-IN-009")


def test_ARM_IN_009_bad_csv_row_with_wrong_cell_count() -> None:
    rows = csv_rows("AssetName,RatedCapacity\nA,10\nB,20,extra\nC\n\nD,40\n")
    assert [r.index for r in rows] == [1, 2, 3, 5]
    assert [r.error["code"] if r.error else None for r in rows] == [
        None, "ARM-IN-009", "ARM-IN-009", None
    ]
    assert rows[1].error is not None and "3 cells" in rows[1].error["message"]


def test_ARM_IN_009_ok_csv_with_bom_and_chunks_split_mid_row() -> None:
    header = ",".join(BESS_EXAMPLE)
    values = ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in BESS_EXAMPLE.values())
    data = ("\ufeff" + header + "\n" + values + "\n").encode()
    rows = list(rows_from_csv([data[:7], data[7:50], data[50:]]))
    assert len(rows) == 1 and rows[0].error is None
    assert rows[0].fields is not None and set(rows[0].fields) == set(BESS_EXAMPLE)
    assert properties_from_json(rows[0].fields)


# ---------------------------------------------------------------- ARM-IN-010 search filter values


def test_ARM_IN_010_bad_filter_value() -> None:
    from node.kinds.assets import _search_patterns
    from node.policy import ReadScope

    scope = ReadScope(True, frozenset(), frozenset())
    assert_refused(lambda: _search_patterns(scope, {"dno": 'ENWL> } ; DROP ALL ; #'}), "ARM-IN-010")


def test_ARM_IN_010_ok_filter_value() -> None:
    from node.kinds.assets import _search_patterns
    from node.policy import ReadScope

    scope = ReadScope(True, frozenset(), frozenset())
    assert any("DNOCode/ENWL" in p for p in _search_patterns(scope, {"dno": "ENWL"}))



def test_ARM_IN_011_bad_lone_surrogate() -> None:
    assert_refused(lambda: properties_from_json({"AssetName": "\ud800"}), "ARM-IN-011")


def test_ARM_IN_012_bad_csv_not_utf8() -> None:
    body = b"AssetName,AssetCategory\nok,BESS\n\xff\xfe,BESS\n"
    rows = rows_from_csv([body])
    assert next(rows).fields == {"AssetName": "ok", "AssetCategory": "BESS"}
    assert_refused(lambda: next(rows), "ARM-IN-012")


def test_ARM_IN_012_bad_line_too_long() -> None:
    body = [b"AssetName\n", b"x" * 600_000, b"x" * 600_000]
    assert_refused(lambda: list(rows_from_ndjson(body)), "ARM-IN-012")


def test_ARM_IN_012_ok_lines_split_across_chunks() -> None:
    chunks = [b'{"AssetName": "a"}\n{"Asset', b'Name": "b"}', b"\n", b'{"AssetName": "c"}']
    assert [r.fields["AssetName"] for r in rows_from_ndjson(chunks)] == ["a", "b", "c"]
